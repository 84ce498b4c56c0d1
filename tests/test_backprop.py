"""Hand-written gradients (shared/backprop.py) against jax.vjp / jax.grad, piece by piece and whole."""
import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from shared import backprop, data, model, train
from shared.ladder import rung


@contextlib.contextmanager
def float64():
    """Float64 for the pieces' checks only (jax 0.4.30 and 0.10 both take the config flag)."""
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", False)


def rel_error(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)


def vjp_check(f, primals, d_out, hand_grads, tol=1e-10):
    """jax.vjp of f at primals against the hand-written cotangents, to relative error tol."""
    _, pullback = jax.vjp(f, *primals)
    for auto, hand in zip(jax.tree.leaves(pullback(d_out)), jax.tree.leaves(hand_grads)):
        assert rel_error(hand, auto) < tol


# B = 3 with T = 1 (a sequence of length 1) and T = 6
SHAPES = [(3, 1), (3, 6)]
CONFIG = model.ModelConfig(vocab_size=16, max_len=8, d_model=16, n_layers=2, n_heads=4, d_ff=32, pos_encoding="rope")


def normal(key, *shape):
    return jax.random.normal(jax.random.key(key), shape, jnp.float64)


@pytest.mark.parametrize("B, T", SHAPES)
def test_layer_norm(B, T):
    with float64():
        x, scale, bias, d_y = normal(0, B, T, 16), normal(1, 16), normal(2, 16), normal(3, B, T, 16)
        _, cache = backprop.layer_norm_forward(x, scale, bias)
        vjp_check(model.layer_norm, (x, scale, bias), d_y, backprop.layer_norm_backward(d_y, cache))


def test_softmax_and_rope_and_gelu_and_embedding():
    with float64():
        z, d_s = normal(0, 3, 5, 7), normal(1, 3, 5, 7)
        s = jax.nn.softmax(z, axis=-1)
        vjp_check(lambda z: jax.nn.softmax(z, axis=-1), (z,), d_s, backprop.softmax_backward(d_s, s))
        x, d = normal(2, 3, 6, 4, 8), normal(3, 3, 6, 4, 8)
        positions = jnp.arange(6, dtype=jnp.float64)
        vjp_check(lambda x: model.rope(x, positions), (x,), d, backprop.rope_backward(d, positions))
        vjp_check(jax.nn.gelu, (z,), d_s, backprop.gelu_backward(d_s, z))
        table, tokens = normal(4, 16, 8), jnp.array([[1, 1, 2], [3, 1, 0]])       # token 1 used three times
        d_x = normal(5, 2, 3, 8)
        vjp_check(lambda e: e[tokens], (table,), d_x, backprop.embed_backward(d_x, tokens, 16))


def _layer(key, config=CONFIG, dtype=jnp.float64):
    params = jax.tree.map(lambda p: p.astype(dtype), model.init_params(jax.random.key(key), config))
    return {name: value[0] * 20 for name, value in params["layers"].items()}        # larger weights: non-trivial


@pytest.mark.parametrize("B, T", SHAPES)
@pytest.mark.parametrize("pos", ["rope", "none"])
def test_attention_with_causal_mask(B, T, pos):
    config = CONFIG.__class__(**{**CONFIG.__dict__, "pos_encoding": pos})
    with float64():
        layer, h, d_out = _layer(0, config), normal(1, B, T, 16), normal(2, B, T, 16)
        positions = jnp.arange(T, dtype=jnp.float64)
        _, cache = backprop.attention_forward(layer, h, positions, config)
        d_h, grads = backprop.attention_backward(layer, d_out, cache, config)
        f = lambda h, wq, wk, wv, wo: backprop.attention_forward({**layer, "wq": wq, "wk": wk, "wv": wv, "wo": wo}, h, positions, config)[0]
        vjp_check(f, (h, layer["wq"], layer["wk"], layer["wv"], layer["wo"]), d_out,
                  (d_h, grads["wq"], grads["wk"], grads["wv"], grads["wo"]))
        # the forward is the model's own attention
        q, k, v = model.project_qkv(layer, h, positions, config)
        np.testing.assert_allclose(model.attend(layer, q, k, v, jnp.tril(jnp.ones((T, T), bool)), config),
                                   backprop.attention_forward(layer, h, positions, config)[0], rtol=1e-12)


@pytest.mark.parametrize("B, T", SHAPES)
def test_mlp_and_swiglu(B, T):
    with float64():
        layer, h, d_out = _layer(0), normal(1, B, T, 16), normal(2, B, T, 16)
        _, cache = backprop.mlp_forward(layer, h)
        d_h, g = backprop.mlp_backward(layer, d_out, cache)
        f = lambda h, w_in, b_in, w_out, b_out: backprop.mlp_forward({"w_in": w_in, "b_in": b_in, "w_out": w_out, "b_out": b_out}, h)[0]
        vjp_check(f, (h, layer["w_in"], layer["b_in"], layer["w_out"], layer["b_out"]), d_out,
                  (d_h, g["w_in"], g["b_in"], g["w_out"], g["b_out"]))
        weights = {"w_gate": normal(3, 16, 32), "w_up": normal(4, 16, 32), "w_down": normal(5, 32, 16)}
        _, cache = backprop.swiglu_forward(weights, h)
        d_h, g = backprop.swiglu_backward(weights, d_out, cache)
        f = lambda h, wg, wu, wd: backprop.swiglu_forward({"w_gate": wg, "w_up": wu, "w_down": wd}, h)[0]
        vjp_check(f, (h, weights["w_gate"], weights["w_up"], weights["w_down"]), d_out, (d_h, g["w_gate"], g["w_up"], g["w_down"]))


def test_masked_cross_entropy_with_padding_rows():
    with float64():
        logits, targets = normal(0, 4, 5, 16), jax.random.randint(jax.random.key(1), (4, 5), 0, 16)
        weights = jnp.ones((4, 5)).at[2:].set(0.0).at[0, :2].set(0.0)           # rows 2, 3: padding only
        loss, d_logits = backprop.masked_cross_entropy(logits, targets, weights)
        auto = lambda z: train.mean_loss(optax.softmax_cross_entropy_with_integer_labels(z, targets), weights)
        assert abs(float(loss) - float(auto(logits))) < 1e-12
        vjp_check(auto, (logits,), jnp.ones(()), d_logits)
        assert float(jnp.abs(d_logits[2:]).max()) == 0.0


@pytest.mark.parametrize("name", ["masked", "adam"])        # tied + RoPE + masked loss; untied, no positions
def test_whole_model_gradient_matches_jax_grad_in_float32(name):
    config, train_config = rung(name)
    split = data.make_dataset()[0]
    batch = {k: jnp.asarray(v[:64]) for k, v in train.as_device_arrays(split).items()}
    params = model.init_params(jax.random.key(0), config)
    loss, hand = backprop.loss_and_grads(params, batch, config, train_config.loss)

    def auto_loss(params):
        losses = train.token_losses(params, config, batch["x"], batch["y"])
        return train.mean_loss(losses, train.loss_weights(train_config.loss, batch["answer_mask"]))

    auto_value, auto = jax.value_and_grad(auto_loss)(params)
    assert abs(float(loss) - float(auto_value)) < 1e-6
    assert jax.tree.structure(hand) == jax.tree.structure(auto)
    for h, a in zip(jax.tree.leaves(hand), jax.tree.leaves(auto)):
        assert rel_error(h, a) < 1e-5


def test_learned_positions_gradient():
    config = CONFIG.__class__(**{**CONFIG.__dict__, "pos_encoding": "learned", "tied_embeddings": True})
    with float64():
        params = jax.tree.map(lambda p: p.astype(jnp.float64), model.init_params(jax.random.key(0), config))
        tokens = jax.random.randint(jax.random.key(1), (3, 6), 0, 16)
        batch = {"x": tokens, "y": jnp.roll(tokens, -1, axis=1), "answer_mask": jnp.ones((3, 6), bool)}
        _, hand = backprop.loss_and_grads(params, batch, config)
        auto = jax.grad(lambda p: train.mean_loss(train.token_losses(p, config, batch["x"], batch["y"]), jnp.ones((3, 6))))(params)
        for h, a in zip(jax.tree.leaves(hand), jax.tree.leaves(auto)):
            assert rel_error(h, a) < 1e-10


def test_adamw_by_hand_matches_optax_step_by_step():
    params = model.init_params(jax.random.key(0), CONFIG)
    schedule = optax.warmup_cosine_decay_schedule(0.0, 3e-3, 3, 10)
    optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(schedule, weight_decay=0.1))
    opt_state, state = optimizer.init(params), backprop.adamw_init(params)
    auto, hand = params, params
    for step in range(6):
        grads = jax.tree.map(lambda p: jax.random.normal(jax.random.key(step), p.shape) * (0.1 + step), params)
        updates, opt_state = optimizer.update(grads, opt_state, auto)
        auto = optax.apply_updates(auto, updates)
        hand, state = backprop.adamw_update(grads, state, hand, schedule, weight_decay=0.1, clip_norm=1.0)
        for h, a in zip(jax.tree.leaves(hand), jax.tree.leaves(auto)):
            np.testing.assert_allclose(h, a, rtol=1e-5, atol=1e-7)


def test_training_by_hand_follows_jax_grad_training():
    """Two short epochs (40 steps) from the same seed: the loss curves agree to float32 noise, which is
    all the divergence that short a run allows (notebook 11 shows how it grows over longer runs)."""
    config, train_config = rung("masked", epochs=2)
    train_split, test_split = data.make_dataset(max_operand=39)          # 1,152 train rows: 36 steps per epoch
    _, auto = train.train(config, train_config, train_split, test_split, progress=False)
    _, hand = backprop.train_by_hand(config, train_config, train_split, test_split, progress=False)
    np.testing.assert_allclose(hand.train_loss, auto.train_loss, rtol=1e-4)
    np.testing.assert_allclose(hand.test_loss, auto.test_loss, rtol=1e-4)


def test_training_by_hand_refuses_what_it_does_not_implement():
    config, train_config = rung("sgd", epochs=1)
    split = data.make_dataset(max_operand=9)[0]
    with pytest.raises(ValueError, match="AdamW"):
        backprop.train_by_hand(config, train_config, split, split, progress=False)
