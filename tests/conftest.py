import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from shared import runtime  # noqa: E402

runtime.use_full_float32()   # the tests' tolerances assume exact float32 matmuls, also on a GPU or TPU
