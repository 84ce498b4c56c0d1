"""Every test, on two workers: the unit tests, and each notebook re-executed by nbval.

    CATCULATOR_QUICK=1 .venv/bin/python tests/run.py [--notebooks-with PYTHON] [more pytest arguments]

The jobs are the unit tests (``pytest tests``) and one ``pytest notebooks/NN_*.ipynb --nbval-lax`` per
notebook. The unit tests run with this interpreter; the notebooks with ``PYTHON`` when it is given (CI
gives a second environment holding the oldest jax and optax that requirements.txt allows, near what Colab
and Kaggle ship, so the notebooks are checked there while the unit tests check the newest). The other
arguments go to every job. Two workers take the jobs from one queue in that order, each starting the next
job as soon as its own ends, so the two cores stay busy until the queue is empty: while one worker runs
the unit tests, the other works through the notebooks, and the first to finish helps with the rest. (Much
of the time goes into compiling small JAX programs, which uses one core.) Each job writes to its own log,
printed when the job ends, so lines never interleave. Exit status: 0 if every job passed, else the first non-zero status.
"""
from __future__ import annotations

import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
WORKERS = 2


def jobs(notebook_python: str = sys.executable) -> list[tuple[str, str, list[str]]]:
    """(name, interpreter, pytest arguments) of every job, in the order the workers take them."""
    notebooks = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    return [("unit tests", sys.executable, ["tests"])] + [
        (path.name, notebook_python, [str(path.relative_to(ROOT)), "--nbval-lax"]) for path in notebooks]


def versions(python: str) -> str:
    """``jax 0.4.30, optax 0.2.2`` for the environment of the interpreter ``python``."""
    code = "import jax, optax; print(f'jax {jax.__version__}, optax {optax.__version__}')"
    done = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else f"cannot import jax and optax: {done.stderr.strip()[-300:]}"


def main(args: list[str]) -> int:
    notebook_python, extra = sys.executable, args
    if args[:1] == ["--notebooks-with"]:
        if len(args) < 2 or not pathlib.Path(args[1]).is_file():
            print(f"tests/run.py: --notebooks-with needs a Python interpreter, got {args[1:2] or 'nothing'}", file=sys.stderr)
            return 2
        notebook_python, extra = args[1], args[2:]
    print(f"unit tests with {versions(sys.executable)}; notebooks with {versions(notebook_python)}", flush=True)
    started, queue, running, statuses = time.perf_counter(), jobs(notebook_python), {}, {}
    while queue or running:
        while queue and len(running) < WORKERS:
            name, python, paths = queue.pop(0)
            log = tempfile.TemporaryFile(mode="w+")
            process = subprocess.Popen([python, "-m", "pytest", *paths, "-p", "no:cacheprovider", *extra],
                                       cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True)
            running[name] = (process, log, time.perf_counter())
        for name, (process, log, job_start) in list(running.items()):
            if process.poll() is None:
                continue
            del running[name]
            statuses[name] = process.returncode
            log.seek(0)
            print(f"===== {name}: exit status {process.returncode}, {(time.perf_counter() - job_start) / 60:.1f} min "
                  f"(all jobs: {(time.perf_counter() - started) / 60:.1f} min so far) =====")
            print(log.read(), flush=True)
        time.sleep(1)
    failed = [name for name, status in statuses.items() if status]
    print(f"{len(statuses) - len(failed)} of {len(statuses)} jobs passed in {(time.perf_counter() - started) / 60:.1f} min"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return next((status for status in statuses.values() if status), 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
