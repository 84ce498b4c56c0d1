"""The committed derivative model (shared/checkpoints/derive): it loads from a fresh clone, answers the
reference's example, and is as accurate as figures/12_derive.json reports."""
import json
import subprocess
import sys

import numpy as np
import pytest

from shared import derive, polynomials as P, runtime

REPORT = json.loads((runtime.REPO_ROOT / "figures" / "12_derive.json").read_text())


@pytest.fixture(scope="module")
def model():
    return derive.Differentiator()


def test_the_references_example_from_the_command_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "shared.derive", "-3x^3+4x^2-4", "x^5"], capture_output=True, text=True,
                          cwd=runtime.REPO_ROOT, env={"PATH": "/usr/bin:/bin", "CATCULATOR_CACHE": str(tmp_path)})
    assert done.returncode == 0 and done.stdout.split() == ["-9x^2+8x", "5x^4"]


def test_accuracy_on_held_out_polynomials_matches_the_report(model):
    _, _, test = derive.datasets(1000, held_out=1000, seed=12)      # a fresh sample, never trained on
    train_ids = set(P.ids(derive.datasets(derive.ship_recipe().train_polynomials)[0]).tolist())
    assert not set(P.ids(test).tolist()) & train_ids
    report = derive.score(test, P.from_text(model.derive(test)))
    assert report["exact"] >= REPORT["test"]["exact"] - 0.01, report["exact_by_degree"]
