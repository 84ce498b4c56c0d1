"""The encoder-decoder of "Attention Is All You Need", from the series' own pieces (notebook 12).

The encoder reads the source (B, S) with self-attention that ignores padding; the decoder writes the
target (B, T) with causal self-attention and cross-attention to the encoder's output (again ignoring the
source's padding). Positions are the paper's sinusoids, added to the embeddings. ``norm="post"`` is the
paper's (and the reference's) residual ``x = LN(x + f(x))``; ``norm="pre"`` is the series' ``x + f(LN(x))``
with a final LayerNorm on each side. One embedding matrix serves the source, the target and the output
layer (source and target share the vocabulary). Attention, LayerNorm, the GELU MLP and the sinusoids are
``shared.model``'s.
"""
from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from .model import ModelConfig, attend, layer_norm, sinusoidal_positions

NORMS = ("post", "pre")


@dataclasses.dataclass(frozen=True)
class Seq2SeqConfig:
    vocab_size: int = 17
    max_source: int = 32
    max_target: int = 32
    d_model: int = 128
    n_encoder_layers: int = 3
    n_decoder_layers: int = 3
    n_heads: int = 4
    d_ff: int = 512
    norm: str = "post"          # post (the paper's) | pre (the series')
    pad_id: int = 0

    def __post_init__(self):
        if self.norm not in NORMS:
            raise ValueError(f"unknown norm {self.norm!r}: choose one of {NORMS}")
        if min(self.vocab_size, self.max_source, self.max_target, self.d_model, self.n_encoder_layers,
               self.n_decoder_layers, self.n_heads, self.d_ff) < 1:
            raise ValueError("sizes must be positive integers")
        if not 0 <= self.pad_id < self.vocab_size:
            raise ValueError(f"pad_id {self.pad_id} is not a token id (0 to {self.vocab_size - 1})")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")

    @property
    def attention(self) -> ModelConfig:
        """The decoder-only config whose attention helpers these layers reuse (head size, no RoPE)."""
        return ModelConfig(vocab_size=self.vocab_size, max_len=max(self.max_source, self.max_target),
                           d_model=self.d_model, n_heads=self.n_heads, d_ff=self.d_ff)


def _attention_params(normal, L, D, H, K, out_std, prefix):
    return {f"{prefix}_wq": normal((L, D, H, K)), f"{prefix}_wk": normal((L, D, H, K)),
            f"{prefix}_wv": normal((L, D, H, K)), f"{prefix}_wo": normal((L, H, K, D), out_std),
            f"{prefix}_ln_scale": jnp.ones((L, D)), f"{prefix}_ln_bias": jnp.zeros((L, D))}


def _mlp_params(normal, L, D, F, out_std):
    return {"w_in": normal((L, D, F)), "b_in": jnp.zeros((L, F)), "w_out": normal((L, F, D), out_std),
            "b_out": jnp.zeros((L, D)), "mlp_ln_scale": jnp.ones((L, D)), "mlp_ln_bias": jnp.zeros((L, D))}


def init_params(key: jax.Array, config: Seq2SeqConfig) -> dict:
    """A pytree of float32 arrays, initialised as ``shared.model.init_params`` (std 0.02, residual
    outputs scaled down by the depth). Per-layer arrays are stacked on a leading layer axis."""
    D, H, F, V = config.d_model, config.n_heads, config.d_ff, config.vocab_size
    K = D // H
    keys = iter(jax.random.split(key, 32))
    normal = lambda shape, std=0.02: std * jax.random.normal(next(keys), shape, jnp.float32)
    Le, Ld = config.n_encoder_layers, config.n_decoder_layers
    return {
        "embed": normal((V, D)),
        "encoder": {**_attention_params(normal, Le, D, H, K, 0.02 / math.sqrt(2 * Le), "self"),
                    **_mlp_params(normal, Le, D, F, 0.02 / math.sqrt(2 * Le))},
        "decoder": {**_attention_params(normal, Ld, D, H, K, 0.02 / math.sqrt(3 * Ld), "self"),
                    **_attention_params(normal, Ld, D, H, K, 0.02 / math.sqrt(3 * Ld), "cross"),
                    **_mlp_params(normal, Ld, D, F, 0.02 / math.sqrt(3 * Ld))},
        "encoder_ln_scale": jnp.ones((D,)), "encoder_ln_bias": jnp.zeros((D,)),
        "decoder_ln_scale": jnp.ones((D,)), "decoder_ln_bias": jnp.zeros((D,)),
    }


def _residual(layer, x, f, name, config):
    """``x + f(LN(x))`` (pre) or ``LN(x + f(x))`` (post), with the LayerNorm called ``name``."""
    norm = lambda y: layer_norm(y, layer[f"{name}_ln_scale"], layer[f"{name}_ln_bias"])
    return x + f(norm(x)) if config.norm == "pre" else norm(x + f(x))


def _attention(layer, prefix, queries_from, keys_from, visible, config):
    """Multi-head attention (B, Tq, D) of ``queries_from`` (B, Tq, D) over ``keys_from`` (B, Ts, D);
    ``visible`` broadcasts to (B, 1, Tq, Ts)."""
    q = jnp.einsum("btd,dhk->bthk", queries_from, layer[f"{prefix}_wq"])
    k = jnp.einsum("btd,dhk->bthk", keys_from, layer[f"{prefix}_wk"])
    v = jnp.einsum("btd,dhk->bthk", keys_from, layer[f"{prefix}_wv"])
    return attend({"wo": layer[f"{prefix}_wo"]}, q, k, v, visible, config.attention)


def _mlp(layer, h):
    return jax.nn.gelu(h @ layer["w_in"] + layer["b_in"]) @ layer["w_out"] + layer["b_out"]


def _embed(params, tokens, config):
    """Token ids (B, T) -> (B, T, D): scaled embedding plus sinusoidal positions (the paper's)."""
    positions = sinusoidal_positions(jnp.arange(tokens.shape[1], dtype=jnp.float32), config.d_model)
    return params["embed"][tokens] * math.sqrt(config.d_model) + positions


def encode(params, source, config: Seq2SeqConfig):
    """Source ids (B, S) -> (encoder output (B, S, D), source_visible (B, 1, 1, S): which source
    positions are real tokens)."""
    source_visible = (source != config.pad_id)[:, None, None, :]

    def layer_fn(x, layer):
        x = _residual(layer, x, lambda h: _attention(layer, "self", h, h, source_visible, config), "self", config)
        return _residual(layer, x, lambda h: _mlp(layer, h), "mlp", config), None

    x, _ = jax.lax.scan(layer_fn, _embed(params, source, config), params["encoder"])
    if config.norm == "pre":
        x = layer_norm(x, params["encoder_ln_scale"], params["encoder_ln_bias"])
    return x, source_visible


def decode(params, memory, source_visible, target_in, config: Seq2SeqConfig):
    """Decoder logits (B, T, V) for the target so far ``target_in`` (B, T), attending to ``memory``
    (B, S, D) where ``source_visible`` (B, 1, 1, S)."""
    T = target_in.shape[1]
    causal = jnp.tril(jnp.ones((T, T), bool))

    def layer_fn(x, layer):
        x = _residual(layer, x, lambda h: _attention(layer, "self", h, h, causal, config), "self", config)
        x = _residual(layer, x, lambda h: _attention(layer, "cross", h, memory, source_visible, config), "cross", config)
        return _residual(layer, x, lambda h: _mlp(layer, h), "mlp", config), None

    x, _ = jax.lax.scan(layer_fn, _embed(params, target_in, config), params["decoder"])
    if config.norm == "pre":
        x = layer_norm(x, params["decoder_ln_scale"], params["decoder_ln_bias"])
    return x @ params["embed"].T


def forward(params, source, target_in, config: Seq2SeqConfig):
    """Teacher-forced logits (B, T, V): source (B, S), target_in (B, T) (the target shifted right,
    starting with the start token)."""
    memory, source_visible = encode(params, source, config)
    return decode(params, memory, source_visible, target_in, config)


def greedy(params, source, config: Seq2SeqConfig, start_id: int, steps: int):
    """Greedy decoding: source (B, S) -> written tokens (B, steps). The encoder runs once; each step
    reruns the decoder on the prefix (targets here are under 30 tokens, so no cache is needed)."""
    memory, source_visible = encode(params, source, config)
    B = source.shape[0]
    tokens = jnp.full((B, steps + 1), config.pad_id, jnp.int32).at[:, 0].set(start_id)

    def step(tokens, t):
        logits = decode(params, memory, source_visible, tokens[:, :-1], config)      # (B, steps, V)
        return tokens.at[:, t + 1].set(jnp.argmax(logits[:, t], axis=-1).astype(jnp.int32)), None

    tokens, _ = jax.lax.scan(step, tokens, jnp.arange(steps))
    return tokens[:, 1:]
