"""The notebooks' shared setup cell (identical everywhere, and it behaves as promised) and their exercises."""
import json
import subprocess
import sys

import pytest

from shared import runtime

NOTEBOOKS = sorted((runtime.REPO_ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_is_the_setup_cell(path):
    cells = json.loads(path.read_text())["cells"]
    first_code = next(c for c in cells if c["cell_type"] == "code")
    assert "".join(first_code["source"]) == runtime.SETUP_CELL, "copy shared/runtime.SETUP_CELL into this notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_has_an_exercise_a_checked_stub_and_a_collapsed_checked_solution(path):
    code = [(c["metadata"], "".join(c["source"])) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    stub = next(i for i, (_, source) in enumerate(code) if "raise NotImplementedError" in source)
    solution = next(i for i, (meta, source) in enumerate(code) if source.startswith("#@title Solution"))
    assert stub < solution, "the stub comes before its solution"
    assert code[solution][0].get("jupyter", {}).get("source_hidden") and code[solution][0].get("cellView") == "form"
    checks = [i for i, (_, source) in enumerate(code) if "exercise.check(" in source]
    assert any(stub <= i < solution for i in checks) and solution in checks, "check the stub, then the solution"


def test_setup_cell_finds_the_package_from_a_subfolder_and_asks_for_exact_float32_products():
    check = "\nimport jax; print('matmul precision:', jax.config.jax_default_matmul_precision)"
    done = subprocess.run([sys.executable, "-c", runtime.SETUP_CELL + check], cwd=runtime.REPO_ROOT / "notebooks",
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "CI": "1"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("runtime: backend=") and "mode=quick" in done.stdout
    # a GPU's TF32 or a TPU's bfloat16 passes would move the notebooks' allclose checks past 1e-4
    assert "matmul precision: highest" in done.stdout, done.stdout


def test_the_mode_line_switches_quick_mode_on_and_ci_overrides_it():
    env = {"PATH": "/usr/bin:/bin"}
    quick_cell = runtime.SETUP_CELL.replace('MODE = "full"', 'MODE = "quick"', 1)
    assert quick_cell != runtime.SETUP_CELL
    check = "\nprint(runtime.QUICK, runtime.output_dir() != runtime.REPO_ROOT / 'figures')"
    for cell, extra_env, expected in [(quick_cell, {}, "mode=quick\nTrue True"),
                                      (runtime.SETUP_CELL, {"CATCULATOR_QUICK": "1"}, "mode=quick (forced"),
                                      (runtime.SETUP_CELL, {"CATCULATOR_QUICK": "0"}, "mode=full\nFalse False")]:
        done = subprocess.run([sys.executable, "-c", cell + check], cwd=runtime.REPO_ROOT / "notebooks",
                              capture_output=True, text=True, env={**env, **extra_env})
        assert done.returncode == 0, done.stderr
        assert expected in done.stdout, done.stdout


def test_a_misspelt_mode_is_a_clear_error():
    cell = runtime.SETUP_CELL.replace('MODE = "full"', 'MODE = "fast"', 1)
    done = subprocess.run([sys.executable, "-c", cell], cwd=runtime.REPO_ROOT / "notebooks",
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode != 0 and 'MODE must be "quick" or "full", not \'fast\'' in done.stderr
    assert "Traceback" not in done.stderr


def test_setup_cell_without_url_or_package_stops_with_instructions(tmp_path):
    cell = runtime.SETUP_CELL.replace('REPO_URL = "https://', 'REPO_URL = ""  # "https://')
    done = subprocess.run([sys.executable, "-c", cell], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode != 0
    assert "clone the Catculator repository" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "catculator").exists()
