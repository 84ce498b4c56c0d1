"""Every test, in two pytest processes side by side: the unit tests, and each notebook re-executed by nbval.

    CATCULATOR_QUICK=1 .venv/bin/python tests/run.py [more pytest arguments, given to both]

Much of the time in both halves goes into compiling small JAX programs, which uses one core, so side by
side on a 2-core machine one half can compile while the other computes (one after the other, ``pytest tests
notebooks`` took 27 minutes on this 2-core CPU, close to CI's 30-minute limit). Each half writes to its own log, printed when the half ends, so their
lines never interleave. Exit status: 0 if both passed, else the first non-zero status.
"""
from __future__ import annotations

import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
HALVES = {"unit tests": ["tests"], "notebooks": ["notebooks", "--nbval-lax"]}


def main(extra: list[str]) -> int:
    started, logs, running = time.perf_counter(), {}, {}
    for name, paths in HALVES.items():
        logs[name] = tempfile.TemporaryFile(mode="w+")
        running[name] = subprocess.Popen([sys.executable, "-m", "pytest", *paths, "-p", "no:cacheprovider", *extra],
                                         cwd=ROOT, stdout=logs[name], stderr=subprocess.STDOUT, text=True)
    statuses = {}
    while running:
        for name, process in list(running.items()):
            if process.poll() is None:
                continue
            del running[name]
            statuses[name] = process.returncode
            logs[name].seek(0)
            print(f"===== {name}: exit status {process.returncode} after {(time.perf_counter() - started) / 60:.1f} min =====")
            print(logs[name].read(), flush=True)
        time.sleep(1)
    return next((status for status in statuses.values() if status), 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
