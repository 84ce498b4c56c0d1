import os
import pathlib
import sys

# Some tests compare two runs bit for bit (a resumed training against an uninterrupted one), and on an H200
# that test failed (2026-12-04). The likely cause: on a GPU, XLA adds scattered values (the gradient of an
# embedding lookup) with atomic additions in whatever order the threads finish, so two identical runs can
# differ in the last bits. This flag asks XLA for deterministic GPU kernels; a CPU ignores it. Not yet run on
# a GPU with the flag. (Set before JAX starts its backend.)
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_gpu_deterministic_ops=true").strip()

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from shared import runtime  # noqa: E402

runtime.use_full_float32()   # the tests' tolerances assume exact float32 matmuls, also on a GPU or TPU
