"""The calculator's parser and command line, on a tiny checkpoint (its answers need not be right)."""
import functools
import random
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from shared import arithmetic, calc, checkpoint, model, runtime, train

TINY = model.ModelConfig(vocab_size=17, max_len=27, d_model=32, n_layers=2, n_heads=4, d_ff=64, pos_encoding="learned")


@pytest.mark.parametrize("text, parsed", [("123*45", (123, "*", 45)), (" 1 2 3 // 4 ", (123, "//", 4)),
                                          ("0%7", (0, "%", 7)), ("999-999", (999, "-", 999))])
def test_parse_accepts_what_people_type(text, parsed):
    assert calc.parse(text) == parsed


@pytest.mark.parametrize("text, message", [
    ("", "empty"), ("   ", "empty"), ("12x3", "unknown character 'x'"), ("12+", "cannot read"),
    ("+3", "cannot read"), ("123", "cannot read"), ("1000+1", "out of range"), ("-5+3", "negative"),
    ("7//0", "division by zero"), ("7%0", "modulo by zero"), ("1+-2", "cannot read"), ("1.5+2", "unknown character"),
])
def test_parse_rejects_bad_input_clearly(text, message):
    with pytest.raises(ValueError, match=message):
        calc.parse(text)


def test_parse_and_format_round_trip_on_random_problems():
    rng = random.Random(0)
    for _ in range(2000):
        problem = (rng.randint(0, 999), rng.choice(arithmetic.OPERATIONS), rng.randint(1, 999))
        text = calc.format_problem(*problem)
        spaced = "".join(c + " " * rng.randint(0, 2) for c in text)
        assert calc.parse(text) == calc.parse(spaced) == problem


def _sample_data(n_per_op=64):
    rng = np.random.default_rng(0)
    parts = [arithmetic.make_rows(rng.integers(0, 1000, n_per_op), rng.integers(1, 1000, n_per_op), op)
             for op in arithmetic.OPERATIONS]
    return np.concatenate(parts), np.repeat(np.arange(5, dtype=np.uint8), n_per_op)


def test_resumed_training_ends_with_identical_parameters(tmp_path):
    rows, op_index = _sample_data()
    data = arithmetic.device_data(rows, op_index, {"+": 1, "-": 1, "*": 2, "//": 1, "%": 1})
    config = train.TrainConfig(optimizer="adamw", learning_rate=1e-3, schedule="cosine", warmup_steps=2,
                               grad_clip=1.0, weight_decay=0.1, loss="masked")
    optimizer = train.make_optimizer(config, total_steps=8)
    run = train.make_sampled_steps_fn(TINY, config, optimizer, functools.partial(arithmetic.sample_batch, batch_size=16), steps=4)
    params = model.init_params(jax.random.key(0), TINY)
    start = (params, optimizer.init(params), jax.random.key(1))

    straight = run(*start, data)[:3]
    straight = run(*straight, data)[:3]

    halfway = run(*start, data)[:3]
    checkpoint.save(tmp_path / "state", (*halfway, jnp.int32(4)), TINY, step=4)
    template = (model.init_params(jax.random.key(7), TINY), optimizer.init(params), jax.random.key(9), jnp.int32(0))
    *resumed_start, step = checkpoint.load(tmp_path / "state", template)
    assert int(step) == 4
    resumed = run(*resumed_start, data)[:3]

    same = jax.tree.map(lambda x, y: bool(jnp.array_equal(x, y)), straight[:2], resumed[:2])
    assert all(jax.tree.leaves(same))
    assert not all(jax.tree.leaves(jax.tree.map(lambda x, y: bool(jnp.array_equal(x, y)), straight[0], params)))


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ck") / "tiny"
    checkpoint.save(path, model.init_params(jax.random.key(0), TINY), TINY, note="untrained, for CLI tests")
    return path


def _calc(*args, stdin=""):
    return subprocess.run([sys.executable, "-m", "shared.calc", *args], input=stdin, capture_output=True,
                          text=True, cwd=runtime.REPO_ROOT)


def test_cli_answers_one_line_per_problem_and_reports_bad_lines(tiny_checkpoint):
    done = _calc("--checkpoint", str(tiny_checkpoint), stdin="123*45\n\n7//0\n 5 % 3\n")
    assert done.returncode == 1
    out = done.stdout.split("\n")
    assert len(out) == 5 and out[1] == "" and out[2] == ""     # bad lines keep their place, answered lines are numbers or ""
    assert "line 2: empty problem" in done.stderr and "line 3: division by zero" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_negative_operand_on_the_command_line_is_a_bad_problem_not_an_unknown_option(tiny_checkpoint):
    done = _calc("-3+4", "--checkpoint", str(tiny_checkpoint), "2+2")
    assert done.returncode == 1 and done.stdout.split("\n")[0] == "" and len(done.stdout.split("\n")) == 3
    assert done.stderr.splitlines()[0] == "negative operands are not supported: '-3+4'"   # then, maybe, the untrained
    assert "Traceback" not in done.stderr and "unrecognized arguments" not in done.stderr  # model's unreadable 2+2
    assert calc.split_arguments(["-3+4", "--checkpoint", "ck", "--show-work", "--chekpoint=x", "-h", "1+1"],
                                valued=("--checkpoint",)) == (
        ["--checkpoint", "ck", "--show-work", "--chekpoint=x", "-h"], ["-3+4", "1+1"])


@pytest.mark.parametrize("damage", ["missing", "corrupt npz", "corrupt json"])
def test_cli_missing_or_corrupt_checkpoint_is_one_clear_line(tmp_path, tiny_checkpoint, damage):
    path = tmp_path / "ck"
    if damage != "missing":
        for suffix in (".npz", ".json"):
            path.with_suffix(suffix).write_bytes(tiny_checkpoint.with_suffix(suffix).read_bytes())
        if damage == "corrupt npz":
            path.with_suffix(".npz").write_bytes(b"junk")
        else:
            path.with_suffix(".json").write_text("{")
    done = _calc("--checkpoint", str(path), "1+1")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "cannot load the model" in done.stderr and "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def tiny_worked_checkpoint(tmp_path_factory):
    config = model.ModelConfig(vocab_size=17, max_len=59, d_model=32, n_layers=2, n_heads=4, d_ff=64, pos_encoding="learned")
    path = tmp_path_factory.mktemp("ck") / "tiny10"
    checkpoint.save(path, model.init_params(jax.random.key(0), config), config, format="worked")
    return path


def test_show_work_prints_the_working_before_each_answer(tiny_worked_checkpoint, tmp_path):
    done = subprocess.run([sys.executable, "-m", "shared.calc", "--checkpoint", str(tiny_worked_checkpoint), "--show-work",
                           "123*45", "123//45", "9-12", "5+5", "1//0"], capture_output=True, text=True,
                          cwd=runtime.REPO_ROOT, env={"PATH": "/usr/bin:/bin", "CATCULATOR_CACHE": str(tmp_path)})
    out = done.stdout
    assert "123 * 45: long multiplication" in out and out.count("  column ") == 6
    assert "123 // 45: long division by 45" in out and "multiples of 45:" in out and out.count("  step ") == 3
    assert "9 - 12: digits compared" in out and "5 + 5: sum written units first" in out
    assert "division by zero in '1//0'" in done.stderr and "Traceback" not in done.stderr and done.returncode == 1
    assert any(tmp_path.rglob("*-cache")) or any(tmp_path.rglob("*")), "compiled programs were cached"
