"""How much of each notebook's quick mode is compiling: run it as CI does and count JAX's compilations.

    .venv/bin/python tests/compile_profile.py [--out FILE.json] [--timeout SECONDS] notebooks/NN_*.ipynb ...

Each notebook runs as one CI job does (``pytest NOTEBOOK --nbval-lax``, quick mode forced). An IPython
startup file, in a temporary ``IPYTHONDIR``, registers a ``jax.monitoring`` listener in the notebook's
kernel before its first cell; the listener records every backend compilation (its function name and
seconds; a hit in JAX's persistent compilation cache is recorded too, as the time of the look-up). Prints
one line per notebook: passed, failed or stopped at ``--timeout``, wall seconds, programs compiled, seconds
spent compiling them, and the costliest functions. Quick mode runs many small programs (notebooks 02, 03
and 11 build their models in front of the reader, one eager operation at a time), so this says where a
slow compiler (a GPU's) will spend its time. ``--out`` writes every number as JSON. Exit status: 0 if every
notebook passed.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from shared.runtime import out_dir_or_exit  # noqa: E402  (runtime imports no JAX)

# Runs inside the notebook's kernel. It rewrites its file after every event: nbval stops the kernel at the
# end rather than letting it exit, so nothing registered with atexit would run, and a notebook stopped at
# its time limit still says what it had compiled by then.
LISTENER = """
import json as _json
from jax import monitoring as _monitoring

def _compile_listener(event, duration, _totals={"events": {}, "functions": {}}, **info):
    count, seconds = _totals["events"].get(event, (0, 0.0))
    _totals["events"][event] = (count + 1, seconds + duration)
    if event.endswith("/backend_compile_duration") and "fun_name" in info:   # jax 0.4.30 gives no names
        name = info["fun_name"]
        count, seconds = _totals["functions"].get(name, (0, 0.0))
        _totals["functions"][name] = (count + 1, seconds + duration)
    with open(PATH, "w") as file:
        _json.dump(_totals, file)

_monitoring.register_event_duration_secs_listener(_compile_listener)
"""
COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
CACHE_HIT_EVENT = "/jax/compilation_cache/cache_retrieval_time_sec"


def profile(notebook: pathlib.Path, work: pathlib.Path, timeout: float | None = None) -> dict:
    """Run one notebook in quick mode under nbval, stopped after ``timeout`` seconds if given; return whether
    it passed (or was stopped), its wall time and the programs it compiled (by then)."""
    ipython_dir, events = work / f"ipython-{notebook.stem}", work / f"{notebook.stem}.json"
    startup = ipython_dir / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-compile-profile.py").write_text(f"PATH = {str(events)!r}\n{LISTENER}")
    environment = {**os.environ, "CATCULATOR_QUICK": "1", "IPYTHONDIR": str(ipython_dir)}
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", str(notebook), "--nbval-lax", "-p", "no:cacheprovider", "-q"],
                              cwd=ROOT, env=environment, capture_output=True, text=True, timeout=timeout)
        passed, timed_out, log = done.returncode == 0, False, done.stdout + done.stderr
    except subprocess.TimeoutExpired as stopped:   # pytest is killed; its kernel exits when it sees that
        passed, timed_out = False, True
        log = "".join(part.decode(errors="replace") if isinstance(part, bytes) else part
                      for part in (stopped.stdout or "", stopped.stderr or ""))
        log += f"\nstopped after {timeout} s"
    wall = time.perf_counter() - started
    totals = json.loads(events.read_text()) if events.exists() else {"events": {}, "functions": {}}
    compiles, compile_seconds = totals["events"].get(COMPILE_EVENT, (0, 0.0))
    return {"notebook": notebook.name, "passed": passed, "timed_out": timed_out, "wall_s": wall,
            "programs_compiled": compiles, "compile_s": compile_seconds,
            "cache_hits": totals["events"].get(CACHE_HIT_EVENT, (0, 0.0))[0],
            "functions": dict(sorted(totals["functions"].items(), key=lambda item: -item[1][1])),
            "log_tail": "" if passed else log[-3000:]}


def line(result: dict, costliest: int = 3) -> str:
    """One notebook's result as one line of text."""
    top = ", ".join(f"{name} x{count} {seconds:.1f} s"
                    for name, (count, seconds) in list(result["functions"].items())[:costliest]) or \
        "unknown (this jax does not name the programs it compiles)"
    programs = (f"{result['programs_compiled']} programs ready in {result['compile_s']:.1f} s, {result['cache_hits']} of "
                "them loaded from the cache" if result["cache_hits"] else
                f"{result['programs_compiled']} programs compiled in {result['compile_s']:.1f} s")
    verdict = "passed" if result["passed"] else "STOPPED at its time limit" if result["timed_out"] else "FAILED"
    return (f"{result['notebook']}: {verdict}, {result['wall_s']:.0f} s; "
            f"{programs}; costliest: {top}")


def main(args: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=pathlib.Path)
    parser.add_argument("--out", type=pathlib.Path, help="write every result as JSON here")
    parser.add_argument("--timeout", type=float, help="stop a notebook after this many seconds")
    options = parser.parse_args(args)
    missing = [str(path) for path in options.notebooks if not path.is_file() or path.suffix != ".ipynb"]
    if missing:
        parser.error(f"no such notebook (an .ipynb file): {', '.join(missing)}")
    if options.timeout is not None and options.timeout <= 0:
        parser.error(f"--timeout must be a positive number of seconds, not {options.timeout:g}")
    if options.out is not None:                 # checked now, not after every notebook has run
        out_dir_or_exit(parser, options.out.parent)
    results = []
    with tempfile.TemporaryDirectory() as work:
        for notebook in options.notebooks:
            results.append(profile(notebook.resolve(), pathlib.Path(work), timeout=options.timeout))
            print(line(results[-1]), flush=True)
            if results[-1]["log_tail"]:
                print(results[-1]["log_tail"], flush=True)
    if options.out:
        options.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0 if all(result["passed"] for result in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
