"""The notebooks' shared setup cell: identical everywhere, and it behaves as promised."""
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


def test_setup_cell_finds_the_package_from_a_subfolder():
    done = subprocess.run([sys.executable, "-c", runtime.SETUP_CELL], cwd=runtime.REPO_ROOT / "notebooks",
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "CI": "1"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("runtime: backend=") and "mode=quick" in done.stdout


def test_setup_cell_without_url_or_package_stops_with_instructions(tmp_path):
    cell = runtime.SETUP_CELL.replace('REPO_URL = "https://', 'REPO_URL = ""  # "https://')
    done = subprocess.run([sys.executable, "-c", cell], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode != 0
    assert "clone the Catculator repository" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "catculator").exists()
