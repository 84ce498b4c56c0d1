"""A decoder-only transformer in raw ``jax.numpy``: config, parameter pytree, init, forward.

Shapes: ``B`` batch, ``T`` positions, ``D`` d_model, ``H`` heads, ``K`` head size (D // H), ``F`` d_ff,
``V`` vocabulary, ``L`` layers. Per-layer weights are stacked on a leading ``L`` axis and applied with
``jax.lax.scan``, so the layer body is traced and compiled once however deep the model is.
"""
from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

POSITIONAL_ENCODINGS = ("none", "rope", "learned", "sinusoidal", "abacus")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of the model. Frozen (hashable), so it can be a static argument of ``jit``.
    The defaults are the blog's configuration."""
    vocab_size: int = 16
    max_len: int = 12               # longest input the model accepts (T <= max_len)
    d_model: int = 64
    n_layers: int = 4
    n_heads: int = 8
    d_ff: int = 256
    pos_encoding: str = "none"      # none | rope | learned | sinusoidal | abacus (each digit's place in its number)
    tied_embeddings: bool = False   # unembed with embed.T instead of a separate (D, V) matrix
    dropout: float = 0.0            # on the embedding and on each residual branch, in training only
    scan_layers: bool = True        # layers as one lax.scan (compiled once); False: an unrolled Python loop
    place_offset: int = 0           # abacus: in training, all places of a row move up by a random 0..place_offset

    def __post_init__(self):
        if self.pos_encoding not in POSITIONAL_ENCODINGS:
            raise ValueError(f"unknown pos_encoding {self.pos_encoding!r}: choose one of {POSITIONAL_ENCODINGS}")
        if min(self.vocab_size, self.max_len, self.d_model, self.n_layers, self.n_heads, self.d_ff) < 1:
            raise ValueError("sizes must be positive integers")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if self.pos_encoding == "rope" and (self.d_model // self.n_heads) % 2:
            raise ValueError("rope needs an even head size (d_model // n_heads)")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.place_offset and self.pos_encoding != "abacus":
            raise ValueError("place_offset is for pos_encoding='abacus'")
        if not 0 <= self.place_offset < self.max_len:
            raise ValueError(f"place_offset must be in [0, max_len), got {self.place_offset}")

    @property
    def head_size(self) -> int:
        return self.d_model // self.n_heads


def init_params(key: jax.Array, config: ModelConfig) -> dict:
    """A pytree of float32 arrays. Matrices are normal with std 0.02 (GPT-2), residual outputs scaled
    by 1/sqrt(2 L); biases zero, LayerNorm scales one.

    Every matrix is cut from one draw of normal numbers: one random-number program to compile instead
    of one per shape, which makes a cold start several seconds faster on a CPU. (Not jit-compiled as a
    whole: ``jit`` would return the dicts with their keys sorted.)"""
    D, H, K, F, V, L = (config.d_model, config.n_heads, config.head_size, config.d_ff,
                        config.vocab_size, config.n_layers)
    shapes = {"embed": (V, D), "wq": (L, D, H, K), "wk": (L, D, H, K), "wv": (L, D, H, K),
              "wo": (L, H, K, D), "w_in": (L, D, F), "w_out": (L, F, D)}
    if config.pos_encoding in ("learned", "abacus"):          # abacus: one vector per place 0..max_len-1
        shapes["pos_embed"] = (config.max_len, D)
    if not config.tied_embeddings:
        shapes["unembed"] = (D, V)
    ends = np.cumsum([math.prod(shape) for shape in shapes.values()])
    draw = jax.random.normal(key, (int(ends[-1]),), jnp.float32)
    normal = {name: draw[end - math.prod(shape):end].reshape(shape) for (name, shape), end in zip(shapes.items(), ends)}
    std, out_std = 0.02, 0.02 / math.sqrt(2 * L)
    params = {
        "embed": std * normal["embed"],
        "layers": {
            "ln1_scale": jnp.ones((L, D)), "ln1_bias": jnp.zeros((L, D)),
            "wq": std * normal["wq"], "wk": std * normal["wk"], "wv": std * normal["wv"],
            "wo": out_std * normal["wo"],
            "ln2_scale": jnp.ones((L, D)), "ln2_bias": jnp.zeros((L, D)),
            "w_in": std * normal["w_in"], "b_in": jnp.zeros((L, F)),
            "w_out": out_std * normal["w_out"], "b_out": jnp.zeros((L, D)),
        },
        "ln_f_scale": jnp.ones((D,)), "ln_f_bias": jnp.zeros((D,)),
    }
    if config.pos_encoding in ("learned", "abacus"):
        params["pos_embed"] = std * normal["pos_embed"]
    if not config.tied_embeddings:
        params["unembed"] = std * normal["unembed"]
    return params


def count_params(params) -> int:
    """Total number of scalars in a parameter pytree."""
    return sum(leaf.size for leaf in jax.tree.leaves(params))


def layer_norm(x, scale, bias, eps: float = 1e-5):
    """Normalise the last axis of ``x`` (..., D) to mean 0 and variance 1, then scale and shift."""
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + eps) * scale + bias


def sinusoidal_positions(positions, D: int):
    """The fixed encoding of "Attention Is All You Need" for ``positions`` (T,): (T, D), sin on even and
    cos on odd columns."""
    frequency = 10000.0 ** (-jnp.arange(0, D, 2) / D)
    angles = positions[:, None] * frequency                         # (T, D/2)
    return jnp.stack([jnp.sin(angles), jnp.cos(angles)], axis=-1).reshape(len(positions), D)


def rope(x, positions, base: float = 10000.0):
    """Rotary position embedding on queries or keys ``x`` of shape (B, T, H, K), ``positions`` (T,).

    The K features form K/2 pairs ``(x[i], x[i + K/2])``; pair ``i`` at position ``p`` is rotated by the
    angle ``p * base**(-2i/K)``. A rotation by ``p`` on the query and ``s`` on the key leaves their dot
    product depending on ``p - s`` only: attention sees relative offsets."""
    K = x.shape[-1]
    frequency = base ** (-jnp.arange(0, K, 2) / K)                 # (K/2,)
    angles = positions[:, None] * frequency                         # (T, K/2)
    cos, sin = jnp.cos(angles)[:, None, :], jnp.sin(angles)[:, None, :]   # (T, 1, K/2)
    first, second = x[..., : K // 2], x[..., K // 2:]
    return jnp.concatenate([first * cos - second * sin, first * sin + second * cos], axis=-1)


def project_qkv(layer: dict, h, positions, config: ModelConfig):
    """Queries, keys and values (each (B, T, H, K)) for the normalised input ``h`` (B, T, D) whose
    rows sit at ``positions`` (T,); RoPE, if configured, rotates queries and keys by position."""
    q = jnp.einsum("btd,dhk->bthk", h, layer["wq"])
    k = jnp.einsum("btd,dhk->bthk", h, layer["wk"])
    v = jnp.einsum("btd,dhk->bthk", h, layer["wv"])
    if config.pos_encoding == "rope":
        q, k = rope(q, positions), rope(k, positions)
    return q, k, v


def attention_probs(q, k, visible, config: ModelConfig):
    """How much each query (B, Tq, H, K) looks at each key (B, Ts, H, K): softmax of the scaled dot
    products over the keys ``visible`` (Tq, Ts) allows. (B, H, Tq, Ts), each row summing to 1."""
    scores = jnp.einsum("bqhk,bshk->bhqs", q, k) / math.sqrt(config.head_size)
    return jax.nn.softmax(jnp.where(visible, scores, -jnp.inf), axis=-1)


def attend(layer: dict, q, k, v, visible, config: ModelConfig):
    """Attention output (B, Tq, D) of queries (B, Tq, H, K) over keys and values (B, Ts, H, K).
    ``visible`` (Tq, Ts) says which key each query may look at."""
    weights = attention_probs(q, k, visible, config)                   # (B, H, Tq, Ts)
    mixed = jnp.einsum("bhqs,bshk->bqhk", weights, v)
    return jnp.einsum("bqhk,hkd->bqd", mixed, layer["wo"])


def mlp(layer: dict, x):
    """The feed-forward half of a block: norm, GELU MLP. (B, T, D) -> (B, T, D)."""
    h = layer_norm(x, layer["ln2_scale"], layer["ln2_bias"])
    return jax.nn.gelu(h @ layer["w_in"] + layer["b_in"]) @ layer["w_out"] + layer["b_out"]


def _dropout(x, rate: float, key):
    if key is None or rate == 0.0:
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), 0.0)


def block(layer: dict, x, config: ModelConfig, key=None):
    """One pre-LayerNorm transformer block: x + attention(norm(x)), then + MLP(norm(.)).
    (B, T, D) -> ((B, T, D), (keys, values) each (B, T, H, K), for a decoding cache)."""
    keys = jax.random.split(key) if key is not None else (None, None)
    T = x.shape[1]
    positions = jnp.arange(T, dtype=jnp.float32)
    q, k, v = project_qkv(layer, layer_norm(x, layer["ln1_scale"], layer["ln1_bias"]), positions, config)
    causal = jnp.tril(jnp.ones((T, T), bool))                       # query q may look at keys s <= q
    x = x + _dropout(attend(layer, q, k, v, causal, config), config.dropout, keys[0])
    return x + _dropout(mlp(layer, x), config.dropout, keys[1]), (k, v)


def embed(params: dict, tokens, config: ModelConfig, offset=0, places=None):
    """Token ids (B, T) at positions ``offset .. offset + T - 1`` -> input vectors (B, T, D), with the
    absolute positions added if configured. An abacus model adds instead the vector of each token's
    ``places`` (B, T) int: a digit's place in its number, 1 for the first digit written, 0 for a non-digit
    (``shared.places.digit_places`` computes them)."""
    if tokens.ndim != 2 or not jnp.issubdtype(tokens.dtype, jnp.integer):
        raise ValueError(f"tokens must be integer ids of shape (B, T), got {tokens.dtype} of shape {tokens.shape}")
    T = tokens.shape[1]
    if T > config.max_len:
        raise ValueError(f"input has {T} positions but the model was built for max_len={config.max_len}")
    x = params["embed"][tokens]
    positions = offset + jnp.arange(T)
    if config.pos_encoding == "abacus":
        if places is None:
            raise ValueError("an abacus model needs the places of its tokens: pass places=digit_places(tokens)")
        x = x + params["pos_embed"][places]
    elif config.pos_encoding == "learned":
        x = x + params["pos_embed"][positions]
    elif config.pos_encoding == "sinusoidal":
        x = x + sinusoidal_positions(positions.astype(jnp.float32), config.d_model)
    return x


def unembed(params: dict, x, config: ModelConfig):
    """Final LayerNorm and projection to logits: (B, T, D) -> (B, T, V)."""
    x = layer_norm(x, params["ln_f_scale"], params["ln_f_bias"])
    matrix = params["embed"].T if config.tied_embeddings else params["unembed"]
    return x @ matrix


def forward(params: dict, tokens, config: ModelConfig, dropout_key=None, return_cache: bool = False, places=None):
    """Token ids (B, T) -> next-token logits (B, T, V). ``dropout_key`` is given in training only: it drives
    dropout and, for an abacus model with ``place_offset``, each row's random shift of its ``places``
    (B, T; see ``embed``). With ``return_cache`` also returns every layer's keys and values, ``(L, B, T, H, K)`` each."""
    if dropout_key is not None and config.place_offset and places is not None:
        dropout_key, offset_key = jax.random.split(dropout_key)
        shift = jax.random.randint(offset_key, (tokens.shape[0], 1), 0, config.place_offset + 1)
        places = jnp.minimum(places + shift, config.max_len - 1)   # '=' and '+' (place 0) move too
    x = embed(params, tokens, config, places=places)
    if dropout_key is None:
        layer_keys = None
    else:
        dropout_key, embed_key = jax.random.split(dropout_key)
        x = _dropout(x, config.dropout, embed_key)
        layer_keys = jax.random.split(dropout_key, config.n_layers)

    def scan_body(x, layer_and_key):
        layer, key = layer_and_key
        x, keys_values = block(layer, x, config, key)
        return x, (keys_values if return_cache else None)

    if config.scan_layers:
        x, cache = jax.lax.scan(scan_body, x, (params["layers"], layer_keys))
    else:  # the same blocks unrolled: one copy per layer in the compiled program (notebook 09 compares)
        caches = []
        for i in range(config.n_layers):
            x, keys_values = scan_body(x, jax.tree_util.tree_map(lambda leaf: leaf[i], (params["layers"], layer_keys)))
            caches.append(keys_values)
        cache = jax.tree_util.tree_map(lambda *layers: jnp.stack(layers), *caches) if return_cache else None
    logits = unembed(params, x, config)
    return (logits, cache) if return_cache else logits


def attention_maps(params: dict, tokens, config: ModelConfig, places=None):
    """Where every head of every layer looks, for token ids (B, T): (L, B, H, T, T); entry
    ``[l, b, h, q, s]`` is how much position ``q`` attends to position ``s`` (rows sum to 1). The same
    computation as ``forward``, layer by layer, keeping each layer's attention weights."""
    x = embed(params, tokens, config, places=places)
    T = tokens.shape[1]
    positions = jnp.arange(T, dtype=jnp.float32)
    causal = jnp.tril(jnp.ones((T, T), bool))
    maps = []
    for i in range(config.n_layers):
        layer = jax.tree_util.tree_map(lambda leaf: leaf[i], params["layers"])
        q, k, _ = project_qkv(layer, layer_norm(x, layer["ln1_scale"], layer["ln1_bias"]), positions, config)
        maps.append(attention_probs(q, k, causal, config))
        x, _ = block(layer, x, config)
    return jnp.stack(maps)


def decode_step(params: dict, token, position, k_cache, v_cache, config: ModelConfig):
    """One step of cached decoding: the token (B,) at ``position`` (a scalar) attends over the cached keys
    and values of the positions before it. Caches are (L, B, S, H, K) with S > position; the new token's
    key and value are written at ``position``. Returns (logits (B, V), k_cache, v_cache)."""
    x = embed(params, token[:, None], config, offset=position)                  # (B, 1, D)
    visible = (jnp.arange(k_cache.shape[2]) <= position)[None, :]               # (1, S)
    here = jnp.full((1,), position, jnp.float32)

    def scan_body(x, layer_and_cache):
        layer, k_layer, v_layer = layer_and_cache
        q, k, v = project_qkv(layer, layer_norm(x, layer["ln1_scale"], layer["ln1_bias"]), here, config)
        k_layer = jax.lax.dynamic_update_slice_in_dim(k_layer, k, position, axis=1)
        v_layer = jax.lax.dynamic_update_slice_in_dim(v_layer, v, position, axis=1)
        x = x + attend(layer, q, k_layer, v_layer, visible, config)
        return x + mlp(layer, x), (k_layer, v_layer)

    x, (k_cache, v_cache) = jax.lax.scan(scan_body, x, (params["layers"], k_cache, v_cache))
    return unembed(params, x, config)[:, 0], k_cache, v_cache
