"""The committed calculator checkpoint: it loads, and it is as accurate as notebook 08 reported."""
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from shared import arithmetic, calc, evaluate, runtime

# Exact-answer accuracy per operation that the shipped checkpoint must reach on a fixed sample of 2,000
# held-out rows: notebook 08's full-split figures, rounded down, minus five points (about three standard
# errors for the ~400 rows of each operation in the sample).
MINIMUM = {"+": 0.95, "-": 0.94, "*": 0.61, "//": 0.90, "%": 0.84}


@pytest.fixture(scope="module")
def calculator():
    return calc.Calculator()


@pytest.fixture(scope="module")
def validation_sample():
    rows, _, _, op_index = arithmetic.all_rows()
    chosen = arithmetic.validation_split(len(rows))[:2000]
    return rows[chosen], op_index[chosen]


def test_shipped_checkpoint_accuracy_on_a_fixed_sample(calculator, validation_sample):
    rows, op_index = validation_sample
    decoded = np.asarray(evaluate.greedy_decode_cached(calculator.params, calculator.config,
                                                       jnp.asarray(rows[:, :arithmetic.PROMPT_LEN], jnp.int32),
                                                       arithmetic.ANSWER_LEN))
    accuracy = arithmetic.exact_by_operation(np.all(decoded == rows[:, arithmetic.PROMPT_LEN:], axis=1), op_index)
    for op, minimum in MINIMUM.items():
        assert accuracy[op] >= minimum, (op, accuracy[op])


def test_cli_answers_match_the_model_in_process(calculator):
    problems = ["123+45", "999-1", "12*12", "100//7", "100%7"]
    done = subprocess.run([sys.executable, "-m", "shared.calc", *problems], capture_output=True, text=True,
                          cwd=runtime.REPO_ROOT)
    expected = calculator.answer([calc.parse(p) for p in problems])
    assert done.stdout.split() == [str(v) for v in expected]
    assert done.returncode == (0 if None not in expected else 1)
