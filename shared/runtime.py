"""Runtime facts every notebook prints, and the quick (CI) / full switch.

Every notebook's setup cell says ``MODE = "full"`` and calls ``set_mode(MODE)``: change it to ``"quick"``
to run every cell in a few minutes. The environment variable ``CI`` or ``CATCULATOR_QUICK`` (set to
anything but ``""``, ``0``, ``false`` or ``no``) forces quick mode whatever the cell says, so CI never
runs a full training. Quick mode shrinks epochs and data sizes but every cell still runs, and it never
writes a tracked file: figures go to a temporary folder instead of ``figures/``.
"""
from __future__ import annotations

import atexit
import os
import pathlib
import shutil
import tempfile

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent

# The first code cell of every notebook, verbatim (tests/test_notebooks.py checks they match).
# REPO_URL is the one place the repository's public address lives.
SETUP_CELL = '''\
# Setup: make the `shared` package importable (cloning the repo on Colab/Kaggle), print the runtime.
MODE = "full"  # or "quick": every cell runs in minutes with tiny trainings, and figures/ is left untouched
import pathlib, subprocess, sys
REPO_URL = "https://github.com/catculator/catculator"  # set to "" to forbid cloning
here = pathlib.Path.cwd().resolve()
root = next((p for p in (here, *here.parents) if (p / "shared" / "__init__.py").exists()), None)
if root is None:  # not inside a clone: Colab or Kaggle
    root = here / "catculator"
    if not (root / "shared").exists():
        if not REPO_URL:
            raise SystemExit("`shared` not found: clone the Catculator repository and open this notebook from its notebooks/ folder.")
        subprocess.run(["git", "clone", "--depth", "1", REPO_URL, str(root)], check=True)
sys.path.insert(0, str(root))
from shared import runtime
runtime.set_mode(MODE)
runtime.print_runtime()'''


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


FORCED_QUICK = _flag("CI") or _flag("CATCULATOR_QUICK")   # CI's switch: overrides the notebook's MODE
QUICK = FORCED_QUICK
MODE = "quick" if QUICK else "full"


def set_mode(mode: str) -> None:
    """Switch the notebooks' code to ``"quick"`` or ``"full"`` mode (call it before anything reads
    ``runtime.QUICK``, as the setup cell does). ``CI`` or ``CATCULATOR_QUICK`` in the environment keeps
    quick mode on whatever ``mode`` says. Any other ``mode`` stops with a one-line message (``SystemExit``,
    which a notebook shows without a traceback). Also asks for full float32 matrix products (see
    ``use_full_float32``)."""
    global QUICK, MODE
    if mode not in ("quick", "full"):
        raise SystemExit(f'MODE must be "quick" or "full", not {mode!r}')
    QUICK = FORCED_QUICK or mode == "quick"
    MODE = "quick" if QUICK else "full"
    use_full_float32()


def use_full_float32() -> None:
    """Make every float32 matrix product in this process exact float32. The notebooks check hand-written
    code against ``shared`` to about 1e-4, and by default a GPU rounds matmul inputs to TF32 (10-bit
    mantissa) and a TPU to bfloat16 passes, which puts two equal computations further apart than that (on
    an H100, 1.1e-4 in notebook 02's forward pass). A CPU always computes float32 exactly, so nothing
    changes there: the committed outputs are the same either way."""
    import jax

    jax.config.update("jax_default_matmul_precision", "highest")


def pick(full, quick):
    """Return ``quick`` in quick (CI) mode and ``full`` otherwise: ``epochs = pick(full=40, quick=2)``."""
    return quick if QUICK else full


def hardware_line() -> str:
    """One line naming the backend, the device(s) and the library versions, e.g.
    ``backend=gpu device=Tesla T4 x1 jax=0.5.2 optax=0.2.4``."""
    import jax
    import optax

    devices = jax.devices()
    kind = devices[0].device_kind
    if devices[0].platform == "cpu":
        kind = f"cpu ({os.cpu_count()} cores)"
    return (f"backend={jax.default_backend()} device={kind} x{len(devices)} "
            f"jax={jax.__version__} optax={optax.__version__}")


def print_runtime() -> None:
    """Print the runtime line every notebook opens with."""
    forced = " (forced by CI/CATCULATOR_QUICK)" if FORCED_QUICK else ""
    print(f"runtime: {hardware_line()} mode={MODE}{forced}")


_quick_dir: pathlib.Path | None = None


def _process_is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)                   # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except OSError:                       # exists, owned by someone else
        return False
    return False


def remove_stale_scratch_dirs(prefix: str) -> None:
    """Remove the folders ``scratch_dir(prefix)`` made for processes that have ended without removing them
    (a notebook kernel that nbval or Jupyter kills outright never runs its exit handlers). POSIX only."""
    if os.name != "posix":
        return
    for path in pathlib.Path(tempfile.gettempdir()).glob(f"{prefix}*-*"):
        pid = path.name[len(prefix):].split("-")[0]
        if path.is_dir() and pid.isdigit() and _process_is_gone(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def scratch_dir(prefix: str) -> pathlib.Path:
    """A new temporary folder for quick-mode outputs (``<prefix><pid>-<random>``), removed when the Python
    process (or the notebook's kernel) exits, so quick runs leave nothing behind; folders left by processes
    that were killed are removed the next time one is made."""
    remove_stale_scratch_dirs(prefix)
    path = pathlib.Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def writable_dir(path) -> pathlib.Path:
    """``path`` as a folder that exists (made if missing) and can be written to. Scripts check their
    ``--out`` with it before a long run, not after it; raises ``ValueError`` saying why it cannot be."""
    path = pathlib.Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ValueError(f"{path} is a file, not a folder") from None
    except OSError as error:
        raise ValueError(f"cannot make the folder {path}: {error.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write into the folder {path}: permission denied")
    return path


def out_dir_or_exit(parser, path) -> pathlib.Path:
    """``writable_dir(path)`` for a script's ``--out``, checked before any work: a folder it cannot use ends
    the script through ``parser.error`` (one line, exit status 2)."""
    try:
        return writable_dir(path)
    except ValueError as error:
        parser.error(f"--out: {error}")


def output_dir() -> pathlib.Path:
    """Where figures and results go: ``figures/`` in full mode, a temporary folder in quick mode (removed
    when the process exits)."""
    global _quick_dir
    if not QUICK:
        path = REPO_ROOT / "figures"
        path.mkdir(exist_ok=True)
        return path
    if _quick_dir is None:
        _quick_dir = scratch_dir("catculator-quick-")
    return _quick_dir


def figure_path(name: str) -> pathlib.Path:
    """Path for the figure ``name`` (a stable file name such as ``"02_sgd.png"``)."""
    return output_dir() / name
