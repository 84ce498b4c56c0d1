"""Backpropagation by hand for the series' decoder (notebook 11): every gradient written out in jax.numpy.

Each piece has a forward that returns its output and what its backward needs (a ``cache``), and a
backward that maps the gradient of the loss with respect to the output to gradients with respect to the
inputs and parameters. No ``jax.grad``, ``jax.vjp`` or ``jax.jvp`` is used here; the tests compare
every piece with ``jax.vjp``. Shapes as in ``model.py``: ``B`` batch, ``T`` positions, ``D`` d_model,
``H`` heads, ``K`` head size, ``F`` d_ff, ``V`` vocabulary, ``L`` layers.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from .model import ModelConfig, rope

# ---------------------------------------------------------------------------------- embedding, positions

def embed_backward(d_x, tokens, vocab_size: int):
    """x = E[tokens]: the gradient of E is d_x scatter-added at the looked-up rows.
    d_x (B, T, D), tokens (B, T) -> d_E (V, D). A token used twice receives both gradients."""
    return jnp.zeros((vocab_size, d_x.shape[-1]), d_x.dtype).at[tokens].add(d_x)


def learned_positions_backward(d_x, max_len: int):
    """x = ... + P[t] for each row: d_P[t] is d_x summed over the batch. d_x (B, T, D) -> d_P (max_len, D)."""
    return jnp.zeros((max_len, d_x.shape[-1]), d_x.dtype).at[: d_x.shape[1]].add(d_x.sum(0))


def rope_backward(d_rotated, positions):
    """RoPE rotates each feature pair by an angle that depends on the position only; a rotation's
    transpose is the rotation by minus that angle. d_rotated (B, T, H, K) -> d_x (B, T, H, K)."""
    return rope(d_rotated, -positions)


# ---------------------------------------------------------------------------------------------- LayerNorm

def layer_norm_forward(x, scale, bias, eps: float = 1e-5):
    """y = (x - mean) / sqrt(var + eps) * scale + bias over the last axis. x (..., D)."""
    mean = x.mean(-1, keepdims=True)
    inv_std = jax.lax.rsqrt(x.var(-1, keepdims=True) + eps)
    x_hat = (x - mean) * inv_std
    return x_hat * scale + bias, (x_hat, inv_std, scale)


def layer_norm_backward(d_y, cache):
    """With g = d_y * scale, the mean and variance terms give
    d_x = inv_std * (g - mean(g) - x_hat * mean(g * x_hat)).  Returns (d_x, d_scale (D,), d_bias (D,))."""
    x_hat, inv_std, scale = cache
    g = d_y * scale
    d_x = inv_std * (g - g.mean(-1, keepdims=True) - x_hat * (g * x_hat).mean(-1, keepdims=True))
    reduce = tuple(range(d_y.ndim - 1))
    return d_x, (d_y * x_hat).sum(reduce), d_y.sum(reduce)


# ------------------------------------------------------------------------------------------------ softmax

def softmax_backward(d_s, s):
    """s = softmax(z) over the last axis. The Jacobian is diag(s) - s s^T; its product with d_s is
    d_z = s * (d_s - sum(d_s * s)), never forming the Jacobian."""
    return s * (d_s - (d_s * s).sum(-1, keepdims=True))


# ---------------------------------------------------------------------------------------------- attention

def attention_forward(layer: dict, h, positions, config: ModelConfig):
    """Causal multi-head attention on the normalised input h (B, T, D) -> (B, T, D), as ``model.attend``."""
    q = jnp.einsum("btd,dhk->bthk", h, layer["wq"])
    k = jnp.einsum("btd,dhk->bthk", h, layer["wk"])
    v = jnp.einsum("btd,dhk->bthk", h, layer["wv"])
    if config.pos_encoding == "rope":
        q, k = rope(q, positions), rope(k, positions)
    T = h.shape[1]
    causal = jnp.tril(jnp.ones((T, T), bool))
    scores = jnp.einsum("bqhk,bshk->bhqs", q, k) / math.sqrt(config.head_size)
    weights = jax.nn.softmax(jnp.where(causal, scores, -jnp.inf), axis=-1)      # (B, H, T, T)
    mixed = jnp.einsum("bhqs,bshk->bqhk", weights, v)
    out = jnp.einsum("bqhk,hkd->bqd", mixed, layer["wo"])
    return out, (h, q, k, v, weights, mixed, positions)


def attention_backward(layer: dict, d_out, cache, config: ModelConfig):
    """Returns (d_h (B, T, D), {"wq", "wk", "wv", "wo"} gradients). Masked scores have weight exactly 0,
    so the softmax backward gives them gradient 0: the causal mask needs no code of its own here."""
    h, q, k, v, weights, mixed, positions = cache
    d_wo = jnp.einsum("bqhk,bqd->hkd", mixed, d_out)
    d_mixed = jnp.einsum("bqd,hkd->bqhk", d_out, layer["wo"])
    d_weights = jnp.einsum("bqhk,bshk->bhqs", d_mixed, v)
    d_v = jnp.einsum("bhqs,bqhk->bshk", weights, d_mixed)
    d_scores = softmax_backward(d_weights, weights) / math.sqrt(config.head_size)
    d_q = jnp.einsum("bhqs,bshk->bqhk", d_scores, k)
    d_k = jnp.einsum("bhqs,bqhk->bshk", d_scores, q)
    if config.pos_encoding == "rope":
        d_q, d_k = rope_backward(d_q, positions), rope_backward(d_k, positions)
    grads = {"wq": jnp.einsum("btd,bthk->dhk", h, d_q), "wk": jnp.einsum("btd,bthk->dhk", h, d_k),
             "wv": jnp.einsum("btd,bthk->dhk", h, d_v), "wo": d_wo}
    d_h = sum(jnp.einsum("bthk,dhk->btd", d, layer[w]) for d, w in ((d_q, "wq"), (d_k, "wk"), (d_v, "wv")))
    return d_h, grads


# ----------------------------------------------------------------------------------- feed-forward layers

_GELU_C = math.sqrt(2.0 / math.pi)


def gelu_backward(d_y, x):
    """jax.nn.gelu's default (tanh) form: y = x/2 (1 + tanh(u)), u = c (x + 0.044715 x^3). Then
    dy/dx = (1 + tanh u)/2 + x/2 (1 - tanh^2 u) c (1 + 3 * 0.044715 x^2)."""
    t = jnp.tanh(_GELU_C * (x + 0.044715 * x ** 3))
    return d_y * (0.5 * (1 + t) + 0.5 * x * (1 - t ** 2) * _GELU_C * (1 + 3 * 0.044715 * x ** 2))


def mlp_forward(layer: dict, h):
    """The series' MLP on the normalised input h (B, T, D): GELU(h W_in + b_in) W_out + b_out."""
    pre = h @ layer["w_in"] + layer["b_in"]
    act = jax.nn.gelu(pre)
    return act @ layer["w_out"] + layer["b_out"], (h, pre, act)


def mlp_backward(layer: dict, d_out, cache):
    """dW = X^T dY for each matmul, through GELU. Returns (d_h, {"w_in", "b_in", "w_out", "b_out"})."""
    h, pre, act = cache
    d_act = d_out @ layer["w_out"].T
    d_pre = gelu_backward(d_act, pre)
    grads = {"w_out": jnp.einsum("btf,btd->fd", act, d_out), "b_out": d_out.sum((0, 1)),
             "w_in": jnp.einsum("btd,btf->df", h, d_pre), "b_in": d_pre.sum((0, 1))}
    return d_pre @ layer["w_in"].T, grads


def swiglu_forward(weights: dict, h):
    """The references' feed-forward variant: (silu(h W_gate) * (h W_up)) W_down. h (B, T, D)."""
    gate, up = h @ weights["w_gate"], h @ weights["w_up"]
    act = jax.nn.silu(gate) * up
    return act @ weights["w_down"], (h, gate, up, act)


def swiglu_backward(weights: dict, d_out, cache):
    """silu(g) = g sigmoid(g), silu'(g) = sigmoid(g) (1 + g (1 - sigmoid(g))).
    Returns (d_h, {"w_gate", "w_up", "w_down"})."""
    h, gate, up, act = cache
    d_act = d_out @ weights["w_down"].T
    sig = jax.nn.sigmoid(gate)
    d_gate = d_act * up * sig * (1 + gate * (1 - sig))
    d_up = d_act * jax.nn.silu(gate)
    grads = {"w_down": jnp.einsum("btf,btd->fd", act, d_out), "w_gate": jnp.einsum("btd,btf->df", h, d_gate),
             "w_up": jnp.einsum("btd,btf->df", h, d_up)}
    return d_gate @ weights["w_gate"].T + d_up @ weights["w_up"].T, grads


# ------------------------------------------------------------------------------------------- loss, blocks

def masked_cross_entropy(logits, targets, weights):
    """Mean cross-entropy over the positions where ``weights`` (B, T) is 1, and its gradient:
    d_logits = (softmax(logits) - onehot(targets)) * weights / sum(weights). Returns (loss, d_logits)."""
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    count = jnp.maximum(weights.sum(), 1)
    picked = jnp.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
    loss = -(picked * weights).sum() / count
    d_logits = (jnp.exp(log_probs) - jax.nn.one_hot(targets, logits.shape[-1], dtype=logits.dtype))
    return loss, d_logits * (weights / count)[..., None]


def _layer(params: dict, i: int) -> dict:
    return {name: value[i] for name, value in params["layers"].items()}


def forward_with_cache(params: dict, tokens, config: ModelConfig):
    """The model's forward pass (same numbers as ``model.forward``, no dropout), keeping every piece's
    cache. tokens (B, T) -> (logits (B, T, V), caches)."""
    T = tokens.shape[1]
    positions = jnp.arange(T, dtype=jnp.float32)
    x = params["embed"][tokens]
    if config.pos_encoding == "learned":
        x = x + params["pos_embed"][:T]
    elif config.pos_encoding == "sinusoidal":
        from .model import sinusoidal_positions
        x = x + sinusoidal_positions(positions, config.d_model)
    layers = []
    for i in range(config.n_layers):                  # the residual stream: x + attn(LN(x)), then + mlp(LN(.))
        layer = _layer(params, i)
        h1, ln1 = layer_norm_forward(x, layer["ln1_scale"], layer["ln1_bias"])
        attn_out, attn = attention_forward(layer, h1, positions, config)
        x = x + attn_out
        h2, ln2 = layer_norm_forward(x, layer["ln2_scale"], layer["ln2_bias"])
        mlp_out, mlp = mlp_forward(layer, h2)
        x = x + mlp_out
        layers.append((ln1, attn, ln2, mlp))
    h_f, ln_f = layer_norm_forward(x, params["ln_f_scale"], params["ln_f_bias"])
    unembed = params["embed"].T if config.tied_embeddings else params["unembed"]
    return h_f @ unembed, (tokens, layers, h_f, ln_f)


def backward(params: dict, d_logits, caches, config: ModelConfig) -> dict:
    """Gradients of the loss for every parameter, from d_logits (B, T, V): a pytree shaped like ``params``.
    The residual stream passes its gradient straight through each ``x + f(x)`` and adds f's."""
    tokens, layers, h_f, ln_f = caches
    grads = {}
    unembed = params["embed"].T if config.tied_embeddings else params["unembed"]
    d_unembed = jnp.einsum("btd,btv->dv", h_f, d_logits)
    d_x, grads["ln_f_scale"], grads["ln_f_bias"] = layer_norm_backward(d_logits @ unembed.T, ln_f)
    layer_grads = []
    for i in reversed(range(config.n_layers)):
        layer = _layer(params, i)
        ln1, attn, ln2, mlp = layers[i]
        d_h2, g = mlp_backward(layer, d_x, mlp)
        d_h2, g["ln2_scale"], g["ln2_bias"] = layer_norm_backward(d_h2, ln2)
        d_x = d_x + d_h2
        d_h1, g_attn = attention_backward(layer, d_x, attn, config)
        d_h1, g["ln1_scale"], g["ln1_bias"] = layer_norm_backward(d_h1, ln1)
        d_x = d_x + d_h1
        layer_grads.append({**g, **g_attn})
    grads["layers"] = {name: jnp.stack([g[name] for g in reversed(layer_grads)]) for name in params["layers"]}
    grads["embed"] = embed_backward(d_x, tokens, config.vocab_size)
    if config.tied_embeddings:
        grads["embed"] = grads["embed"] + d_unembed.T       # one matrix, used twice: the gradients add
    else:
        grads["unembed"] = d_unembed
    if config.pos_encoding == "learned":
        grads["pos_embed"] = learned_positions_backward(d_x, config.max_len)
    return grads


def loss_and_grads(params: dict, batch: dict, config: ModelConfig, loss_kind: str = "masked"):
    """The hand-written counterpart of ``jax.value_and_grad`` of the series' training loss on a batch
    ``{"x", "y", "answer_mask"}`` (B, T). Returns (loss, grads)."""
    logits, caches = forward_with_cache(params, batch["x"], config)
    weights = batch["answer_mask"].astype(logits.dtype) if loss_kind == "masked" else jnp.ones(batch["y"].shape, logits.dtype)
    loss, d_logits = masked_cross_entropy(logits, batch["y"], weights)
    return loss, backward(params, d_logits, caches, config)


# ------------------------------------------------------------------------------------- AdamW by hand

def adamw_init(params):
    """Optimizer state: the step count and the two moment estimates (zeros shaped like params)."""
    zeros = jax.tree.map(jnp.zeros_like, params)
    return {"step": jnp.zeros((), jnp.int32), "m": zeros, "v": zeros}


def adamw_update(grads, state, params, learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4,
                 clip_norm=None):
    """One AdamW step, as ``optax.chain(clip_by_global_norm(clip_norm), adamw(...))`` does it:
    optional clipping of the global gradient norm, moments m and v, bias correction m / (1 - b1^t),
    v / (1 - b2^t), and weight decay added to the update, decoupled from the gradient:
    p <- p - lr_t * (m_hat / (sqrt(v_hat) + eps) + weight_decay * p). ``learning_rate`` is a number or a
    function of the step (0-based). Returns (new params, new state)."""
    if clip_norm is not None:
        norm = jnp.sqrt(sum(jnp.sum(g ** 2) for g in jax.tree.leaves(grads)))
        grads = jax.tree.map(lambda g: jnp.where(norm < clip_norm, g, g * clip_norm / norm), grads)
    step = state["step"] + 1
    m = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, state["m"], grads)
    v = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g ** 2, state["v"], grads)
    lr = learning_rate(state["step"]) if callable(learning_rate) else learning_rate
    correction1, correction2 = 1 - b1 ** step, 1 - b2 ** step
    new_params = jax.tree.map(lambda p, m, v: p - lr * ((m / correction1) / (jnp.sqrt(v / correction2) + eps)
                                                        + weight_decay * p), params, m, v)
    return new_params, {"step": step, "m": m, "v": v}


# ------------------------------------------------------------------------ training with the hand gradients

def make_hand_epoch_fn(model_config: ModelConfig, train_config, total_steps: int):
    """``train.make_epoch_fn`` with the hand-written gradients and AdamW in place of ``jax.grad`` and optax:
    the same shuffling, the same key splits, the same schedule, so the two runs can be laid on top of
    each other. ``run_epoch(params, opt_state, key, train_arrays) -> (params, opt_state, key, mean loss)``."""
    import optax

    from . import train as train_lib

    schedule = optax.warmup_cosine_decay_schedule(0.0, train_config.learning_rate, train_config.warmup_steps,
                                                  max(total_steps, train_config.warmup_steps + 1))

    def train_step(carry, batch):
        params, opt_state, key = carry
        key, _ = jax.random.split(key)                   # the dropout key train.make_train_step draws (unused)
        loss, grads = loss_and_grads(params, batch, model_config, train_config.loss)
        params, opt_state = adamw_update(grads, opt_state, params, schedule,
                                         weight_decay=train_config.weight_decay, clip_norm=train_config.grad_clip)
        return (params, opt_state, key), loss

    return train_lib.epoch_fn(train_step, train_config.batch_size)


def train_by_hand(model_config: ModelConfig, train_config, train_split, test_split, progress: bool = True):
    """``train.train`` (same seed, init, batches and evaluation) with every gradient and the optimizer
    written by hand. Returns (params, History)."""
    import time

    from tqdm.auto import tqdm

    from . import train as train_lib
    from .model import init_params

    if train_config.optimizer != "adamw" or model_config.dropout:
        raise ValueError("train_by_hand writes AdamW and no dropout: use an AdamW config without dropout")
    start = time.perf_counter()
    key, init_key = jax.random.split(jax.random.key(train_config.seed))
    params = init_params(init_key, model_config)
    steps_per_epoch = len(train_split) // train_config.batch_size
    run_epoch = make_hand_epoch_fn(model_config, train_config, steps_per_epoch * train_config.epochs)
    evaluate = train_lib.make_eval_fn(model_config, train_config.loss)
    train_arrays, test_arrays = train_lib.as_device_arrays(train_split), train_lib.as_device_arrays(test_split)
    opt_state, history = adamw_init(params), train_lib.History()
    bar = tqdm(range(1, train_config.epochs + 1), desc="epochs (by hand)", disable=not progress)
    for epoch in bar:
        params, opt_state, key, train_loss = run_epoch(params, opt_state, key, train_arrays)
        metrics = jax.device_get(evaluate(params, test_arrays))
        history.append(epoch=epoch, train_loss=train_loss, test_loss=metrics["loss"],
                       test_answer_loss=metrics["answer_loss"], test_accuracy=metrics["exact_accuracy"],
                       seconds=time.perf_counter() - start)
        bar.set_postfix(loss=f"{float(train_loss):.4f}", test_acc=f"{metrics['exact_accuracy']:.4f}")
    return params, history
