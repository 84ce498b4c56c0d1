"""Notebook 12's task around the model: training rows, scoring, and the command line's contract."""
import subprocess
import sys

import jax
import numpy as np
import pytest

from shared import checkpoint, derive, polynomials as P, runtime, seq2seq

TINY = seq2seq.Seq2SeqConfig(d_model=16, n_encoder_layers=1, n_decoder_layers=1, n_heads=2, d_ff=32)


def test_examples_shift_the_target_and_count_the_end_token():
    rows = derive.examples(np.array([[-4, 0, 4, -3, 0, 0]]))                      # -3x^3+4x^2-4
    assert P.to_text(rows["source"]) == ["-3x^3+4x^2-4"]
    out, inp, mask = rows["target_out"][0], rows["target_in"][0], rows["mask"][0]
    assert P.to_text(out[None]) == ["-9x^2+8x"] and out[8] == P.END and mask.sum() == 9
    assert inp[0] == P.START and (inp[1:9] == out[:8]).all()


def test_datasets_never_share_a_polynomial():
    train, validation, test = derive.datasets(5000, held_out=1000)
    assert (len(train), len(validation), len(test)) == (5000, 2000, 1000)
    ids = [set(P.ids(rows).tolist()) for rows in (train, validation, test)]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])


def test_score_names_each_kind_of_error():
    coeffs = np.array([[2, 5, -4, 3, 0, 0]] * 5)                                  # 3x^3-4x^2+5x+2 -> 9x^2-8x+5
    written = P.from_text(["9x^2-8x+5", "9x^2+8x+5", "9x^2-9x+5", "9x^2-8x", "9x^^2"])
    report = derive.score(coeffs, written)
    assert list(report["kinds"]) == ["exact", "sign", "coefficient", "structure", "unreadable"]
    assert report["exact_by_degree"] == {3: 0.2} and report["errors"] == {"unreadable": 1, "structure": 1, "sign": 1, "coefficient": 1}


@pytest.mark.parametrize("line, message", [("3y^2", "unknown character"), ("x^6+1", "powers above 5"),
                                           ("7x^2", "between -5 and 5"), ("4", "degree must be 1 to 5"),
                                           ("x^2+x^2", "each written once"), ("  ", "empty line")])
def test_bad_input_is_a_clear_message(line, message):
    with pytest.raises(ValueError, match=message):
        derive.parse_line(line)


def test_a_recipe_with_a_bad_setting_is_refused():
    for bad in ({"epochs": 0}, {"batch_size": -1}, {"learning_rate": 0.0}, {"train_polynomials": 0}):
        with pytest.raises(ValueError, match="must be positive"):
            derive.Recipe(TINY, **bad)
    with pytest.raises(ValueError, match="must not be negative"):
        derive.Recipe(TINY, warmup_steps=-1)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("derive") / "tiny"
    checkpoint.save(path, seq2seq.init_params(jax.random.key(0), TINY), TINY, note="untrained, for CLI tests")
    return path


def _derive(*args, stdin=None, cache):
    return subprocess.run([sys.executable, "-m", "shared.derive", *args], input=stdin, capture_output=True, text=True,
                          cwd=runtime.REPO_ROOT, env={"PATH": "/usr/bin:/bin", "CATCULATOR_CACHE": str(cache)})


def test_cli_answers_each_line_and_reports_bad_ones(tiny_checkpoint, tmp_path):
    done = _derive("--checkpoint", str(tiny_checkpoint), stdin="x^2-x+1\n7x\n\n3x^3\n", cache=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == ["line 2: coefficients must be between -5 and 5: '7x'", "line 3: empty line"]
    assert len(done.stdout.split("\n")) == 5                       # four answer lines (bad ones empty), aligned
    model = derive.Differentiator(tiny_checkpoint)
    lines = done.stdout.split("\n")
    assert [lines[0], lines[3]] == model.derive(np.array([[1, -1, 1, 0, 0, 0], [0, 0, 0, 3, 0, 0]]))


def test_cli_without_a_model_exits_2_with_one_line(tmp_path):
    for args in (["x^2"], ["--evaluate"]):
        done = _derive("--checkpoint", str(tmp_path / "missing"), *args, cache=tmp_path)
        assert done.returncode == 2 and done.stderr.startswith("cannot load the model: no checkpoint") and "Traceback" not in done.stderr


def test_a_short_training_run_lowers_the_loss():
    train, validation, _ = derive.datasets(512, held_out=100)
    recipe = derive.Recipe(TINY, batch_size=64, epochs=12, train_polynomials=512, warmup_steps=8, learning_rate=1e-2)
    _, history = derive.train_model(recipe, train, validation[:64], progress=False, evaluate_every=12)
    assert history["epoch"] == [12] and history["loss"][-1] < 2.0            # ln(17) = 2.83 at the start


def test_a_polynomial_that_starts_with_a_minus_is_not_an_option(tiny_checkpoint, tmp_path):
    done = _derive("-3x^3+4x^2-4", "--checkpoint", str(tiny_checkpoint), "-x", cache=tmp_path)
    assert done.returncode == 0 and len(done.stdout.split("\n")) == 3, done.stderr


def test_reversed_digits_swap_two_digit_numbers_only_and_undo_themselves():
    tokens = P.from_text(["-12x^2+25x-3", "x^5+10"])
    assert P.to_text(derive.reverse_digits(tokens)) == ["-21x^2+52x-3", "x^5+01"]
    derivatives = P.render(P.derivative(P.sample(5000, np.random.default_rng(3))), 25)
    assert (derive.reverse_digits(derive.reverse_digits(derivatives)) == derivatives).all()
    reversed_rows = derive.examples(np.array([[0, 0, 0, 0, 0, 5]]), reversed_digits=True)      # 5x^5 -> 25x^4
    assert P.to_text(reversed_rows["target_out"]) == ["52x^4"]


def test_joined_examples_hold_the_polynomial_then_its_derivative():
    rows = derive.joined_examples(np.array([[-4, 0, 4, -3, 0, 0], [0, 1, 0, 0, 0, 0]]))
    full = np.concatenate([rows["inputs"][:, :1], rows["targets"]], axis=1)
    assert P.to_text(full) == ["-3x^3+4x^2-4-9x^2+8x", "x1"]                  # control tokens are not printed
    assert (rows["inputs"][:, 1:] == rows["targets"][:, :-1]).all()
    assert rows["targets"][0][rows["mask"][0]].tolist() == [P.TOKEN_ID[c] for c in "-9x^2+8x"] + [P.END]
    assert rows["targets"][1][rows["mask"][1]].tolist() == [P.TOKEN_ID["1"], P.END]


def test_decoder_only_greedy_writes_what_the_model_predicts_after_the_prompt():
    from shared import model
    config = model.ModelConfig(vocab_size=17, max_len=51, d_model=16, n_layers=1, n_heads=2, d_ff=32,
                               pos_encoding="rope", tied_embeddings=True)
    params = model.init_params(jax.random.key(1), config)
    polys = P.sample(6, np.random.default_rng(4))
    written = derive.write(params, config, polys)                                 # (6, 26)
    source = P.render(polys, derive.SOURCE_LEN)
    prompt_len = (source != P.PAD).sum(axis=1) + 1
    rows = np.zeros((6, 52), np.int32)
    for i in range(6):                                                            # six rows, built by hand
        rows[i, :prompt_len[i] - 1] = source[i, :prompt_len[i] - 1]
        rows[i, prompt_len[i] - 1] = P.START
        rows[i, prompt_len[i]:prompt_len[i] + 26] = written[i]
    predicted = np.asarray(model.forward(params, rows[:, :-1], config)).argmax(-1)
    for i in range(6):                                                            # teacher-forced argmax = written
        assert (predicted[i, prompt_len[i] - 1:prompt_len[i] - 1 + 26] == written[i]).all()


def test_a_short_decoder_only_training_run_lowers_the_loss():
    from shared import model
    config = model.ModelConfig(vocab_size=17, max_len=51, d_model=16, n_layers=2, n_heads=2, d_ff=32,
                               pos_encoding="rope", tied_embeddings=True)
    train, validation, _ = derive.datasets(512, held_out=100)
    recipe = derive.Recipe(config, batch_size=64, epochs=12, train_polynomials=512, warmup_steps=8, learning_rate=1e-2)
    _, history = derive.train_model(recipe, train, validation[:64], progress=False, evaluate_every=12)
    assert history["epoch"] == [12] and history["loss"][-1] < 2.0
