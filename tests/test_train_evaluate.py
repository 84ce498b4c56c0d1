import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from shared import data, evaluate, model, train

TINY = model.ModelConfig(d_model=32, n_layers=2, n_heads=4, d_ff=64, pos_encoding="rope", tied_embeddings=True)


@pytest.fixture(scope="module")
def splits():
    return data.make_dataset()


@pytest.fixture(scope="module")
def trained(splits):
    """A tiny model trained a few epochs: good enough that some answers are right and some wrong."""
    config = train.TrainConfig(learning_rate=1e-2, batch_size=128, epochs=6, loss="masked",
                               schedule="cosine", warmup_steps=20)
    params, history = train.train(TINY, config, *splits, progress=False)
    return params, history


def test_masked_loss_ignores_prompt_positions(splits):
    train_split, _ = splits
    arrays = train.as_device_arrays(train_split)
    batch = jax.tree.map(lambda a: a[:64], arrays)
    params = model.init_params(jax.random.key(0), TINY)
    losses = train.token_losses(params, TINY, batch["x"], batch["y"])
    masked = train.mean_loss(losses, train.loss_weights("masked", batch["answer_mask"]))
    per_token = train.mean_loss(losses, train.loss_weights("per_token", batch["answer_mask"]))
    # scrambling every prompt target changes the per-token loss but not the masked one
    scrambled_y = jnp.where(batch["answer_mask"], batch["y"], (batch["y"] + 3) % 16)
    losses2 = train.token_losses(params, TINY, batch["x"], scrambled_y)
    assert float(train.mean_loss(losses2, train.loss_weights("masked", batch["answer_mask"]))) == pytest.approx(float(masked))
    assert float(train.mean_loss(losses2, train.loss_weights("per_token", batch["answer_mask"]))) != pytest.approx(float(per_token))


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
def test_a_few_steps_lower_the_loss(splits, optimizer):
    train_split, test_split = splits
    small = data.Split(*(a[:512] for a in train_split))
    lr = 0.1 if optimizer == "sgd" else 3e-3
    config = train.TrainConfig(optimizer=optimizer, learning_rate=lr, batch_size=32, epochs=3)
    _, history = train.train(TINY, config, small, test_split, progress=False)
    assert history.train_loss[-1] < 0.8 * history.train_loss[0]
    assert history.test_loss[-1] < history.test_loss[0]


def test_sgd_is_the_plain_update(splits):
    params = model.init_params(jax.random.key(0), TINY)
    grads = jax.tree.map(jnp.ones_like, params)
    optimizer = train.make_optimizer(train.TrainConfig(optimizer="sgd", learning_rate=0.1), 10)
    updates, _ = optimizer.update(grads, optimizer.init(params), params)
    by_hand = jax.tree.map(lambda p, g: p - 0.1 * g, params, grads)
    jax.tree.map(np.testing.assert_allclose, optax.apply_updates(params, updates), by_hand)


def test_batched_greedy_decoding_equals_step_by_step_argmax(splits, trained):
    params, _ = trained
    _, test_split = splits
    x = test_split.x[:40]
    fast = evaluate.decode_answers(params, TINY, x)
    forward = jax.jit(lambda p, tokens: model.forward(p, tokens, TINY))
    for row, answer in zip(x, fast):            # the slow, obvious way: one token at a time
        n = int(np.argmax(row == data.EQUALS)) + 1
        tokens = list(row[:n])
        while len(tokens) < len(row):
            logits = forward(params, jnp.array([tokens + [0] * (len(row) - len(tokens))]))
            tokens.append(int(jnp.argmax(logits[0, len(tokens) - 1])))
            if tokens[-1] == data.EOS:
                break
        assert answer == data.decode(np.array(tokens[n:])).split("#")[0]


def test_one_pass_exact_accuracy_equals_greedy_decoding(splits, trained):
    params, history = trained
    _, test_split = splits
    answers = evaluate.decode_answers(params, TINY, test_split.x)
    truth = test_split.a + test_split.b
    decoded_accuracy = np.mean([ans == str(t) for ans, t in zip(answers, truth)])
    assert 0.0 < decoded_accuracy < 1.0, "the fixture should be partly trained for this test to bite"
    assert evaluate.exact_accuracy(params, TINY, test_split) == pytest.approx(decoded_accuracy)
    assert history.test_accuracy[-1] == pytest.approx(decoded_accuracy)


def test_sample_table_marks_right_and_wrong(trained):
    params, _ = trained
    table = evaluate.sample_table(params, TINY)
    assert table.count("\n") == 2 + len(data.BLOG_PROBLEMS)
    assert "72+90" in table and "46+11" in table
    with pytest.raises(ValueError, match="cannot read"):
        evaluate.sample_table(params, TINY, problems=["72 plus 90"])


def test_bad_training_arguments_raise_value_error(splits):
    with pytest.raises(ValueError, match="unknown loss"):
        train.TrainConfig(loss="numeric")
    with pytest.raises(ValueError, match="unknown optimizer"):
        train.TrainConfig(optimizer="lion")
    for negative in ({"warmup_steps": -1}, {"weight_decay": -0.1}):
        with pytest.raises(ValueError, match="must not be negative"):
            train.TrainConfig(**negative)
    with pytest.raises(ValueError, match="grad_clip must be positive"):
        train.TrainConfig(grad_clip=0.0)
    small = data.Split(*(a[:10] for a in splits[0]))
    with pytest.raises(ValueError, match="exceeds"):
        train.train(TINY, train.TrainConfig(batch_size=64, epochs=1), small, splits[1], progress=False)


def test_first_wrong_character_matches_greedy_decoding(splits, trained):
    params, _ = trained
    _, test_split = splits
    correct, first_wrong = evaluate.answer_errors(params, TINY, test_split)
    answers = evaluate.decode_answers(params, TINY, test_split.x)
    for answer, truth, ok, first in zip(answers, test_split.a + test_split.b, correct, first_wrong):
        written, expected = answer + "#", str(truth) + "#"
        mismatch = next((i for i, (w, e) in enumerate(zip(written, expected)) if w != e), None)
        assert ok == (mismatch is None)
        assert first == (-1 if ok else mismatch)


def test_training_compiles_each_program_once(splits, caplog):
    """Every epoch reuses the first epoch's compiled program: the PRNG key an epoch returns is placed like
    the key the first epoch got (a mismatch made epoch 2 compile everything again)."""
    train_split, test_split = splits
    config = model.ModelConfig(n_layers=1, d_model=16, n_heads=2, d_ff=32)
    caplog.set_level("WARNING")
    with jax.log_compiles():
        train.train(config, train.TrainConfig(batch_size=64, epochs=3), train_split, test_split, progress=False)
    compiled = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Compiling")]
    for name in ("run_epoch", "evaluate"):
        assert sum(name in message for message in compiled) == 1, (name, compiled)
