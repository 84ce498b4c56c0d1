"""tests/gpu.sh runs only when a GPU machine is lent, for minutes that are few: a mistake found there costs
them. So it runs here too, on the CPU, with quick sizes: two recipes of the race (one before the notebooks,
one after) and one notebook in quick mode, and what it writes is read back."""
import json
import os
import subprocess
import sys

from shared import runtime


def run_gpu_script(out, **settings):
    environment = {**os.environ, "OUT": str(out), "PYTHON": sys.executable, "CATCULATOR_QUICK": "1", "UNIT": "0",
                   "JOBS": "1", "WHEELS": str(out / "no wheels"), **settings}
    done = subprocess.run(["bash", str(runtime.REPO_ROOT / "tests" / "gpu.sh"), "300"], env=environment,
                          capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-2000:]
    return (out / "gpu_checks.txt").read_text()


def test_gpu_script_races_recipes_and_runs_notebooks_and_says_what_it_did(tmp_path):
    first, later = "+ 1 layer", "+ short schedule"        # names with spaces: the script splits them on ';' only
    report = run_gpu_script(tmp_path, RACE_FIRST=first, RACE_LATER=later, NOTEBOOKS="notebooks/01_data.ipynb")
    assert runtime.hardware_line() in report
    for recipe in (first, later):
        assert f"race to 100% ({recipe}): exit status 0" in report
    assert "01_data: exit status 0" in report and "01_data.ipynb: passed" in report and "done," in report
    races = json.loads((tmp_path / "bench_gpu.json").read_text())["time_to_100"]
    assert set(races) == {first, later}                       # the later race was added to the first's file
    profile = json.loads((tmp_path / "quick_mode_gpu.json").read_text())
    assert [(row["notebook"], row["passed"]) for row in profile] == [("01_data.ipynb", True)]


def test_gpu_script_adds_to_a_committed_race_only_from_the_same_hardware(tmp_path):
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps({"hardware": "backend=gpu device=another machine", "time_to_100": {}}))
    report = run_gpu_script(tmp_path, RACE_INTO=str(elsewhere), RACE_FIRST="", RACE_LATER="", NOTEBOOKS="")
    assert "elsewhere.json: another machine or version; the race starts a new file" in report
    assert not (tmp_path / "bench_gpu.json").exists()
