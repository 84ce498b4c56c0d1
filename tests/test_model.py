import jax
import jax.numpy as jnp
import numpy as np
import pytest

from shared import model, places

TINY = dict(vocab_size=16, max_len=12, d_model=32, n_layers=2, n_heads=4, d_ff=64)


@pytest.mark.parametrize("pos", model.POSITIONAL_ENCODINGS)
def test_changing_a_later_token_never_changes_an_earlier_logit(pos):
    config = model.ModelConfig(**TINY, pos_encoding=pos)
    params = model.init_params(jax.random.key(0), config)
    tokens = jax.random.randint(jax.random.key(1), (3, 12), 0, 16)
    changed = tokens.at[:, 7].set((tokens[:, 7] + 1) % 16)
    def logits(tokens):          # an abacus model also reads each token's place, computed causally from the tokens
        return model.forward(params, tokens, config, places=places.digit_places(tokens) if pos == "abacus" else None)
    before, after = logits(tokens), logits(changed)
    np.testing.assert_allclose(before[:, :7], after[:, :7], atol=1e-6)
    assert not np.allclose(before[:, 7:], after[:, 7:], atol=1e-4)


def test_rope_scores_depend_only_on_relative_offset():
    q = jax.random.normal(jax.random.key(0), (1, 1, 1, 8))
    k = jax.random.normal(jax.random.key(1), (1, 1, 1, 8))
    def score(p, s):
        return float(jnp.sum(model.rope(q, jnp.array([float(p)])) * model.rope(k, jnp.array([float(s)]))))
    assert score(3, 1) == pytest.approx(score(9, 7), abs=1e-5) == pytest.approx(score(2, 0), abs=1e-5)
    assert score(3, 1) != pytest.approx(score(3, 2), abs=1e-3)
    # and a rotation keeps vector lengths
    np.testing.assert_allclose(jnp.linalg.norm(model.rope(q, jnp.array([5.0]))), jnp.linalg.norm(q), rtol=1e-6)


def test_tied_embeddings_share_one_matrix():
    separate = model.ModelConfig(pos_encoding="rope")
    tied = model.ModelConfig(pos_encoding="rope", tied_embeddings=True)
    p_sep = model.init_params(jax.random.key(0), separate)
    p_tied = model.init_params(jax.random.key(0), tied)
    assert model.count_params(p_sep) - model.count_params(p_tied) == 16 * 64
    assert "unembed" not in p_tied
    # the logits really come from embed.T: changing embed changes them, through both ends
    tokens = jnp.zeros((1, 4), jnp.int32)
    direction = jax.random.normal(jax.random.key(2), (64,))
    bumped = dict(p_tied, embed=p_tied["embed"].at[5].add(direction))  # token 5 is not in the input
    before, after = model.forward(p_tied, tokens, tied), model.forward(bumped, tokens, tied)
    assert not np.allclose(before[..., 5], after[..., 5])
    np.testing.assert_allclose(before[..., :5], after[..., :5], atol=1e-6)


def test_parameter_count_of_the_blog_config():
    params = model.init_params(jax.random.key(0), model.ModelConfig())
    D, F, L, V = 64, 256, 4, 16
    per_layer = 4 * D * D + 2 * D * F + F + D + 4 * D  # q k v o, mlp weights and biases, two layer norms
    assert model.count_params(params) == L * per_layer + 2 * V * D + 2 * D


def test_bad_config_raises_value_error():
    with pytest.raises(ValueError, match="unknown pos_encoding"):
        model.ModelConfig(pos_encoding="alibi")
    with pytest.raises(ValueError, match="divisible"):
        model.ModelConfig(d_model=60, n_heads=8)
    with pytest.raises(ValueError, match="positive"):    # not a ZeroDivisionError from the divisibility check
        model.ModelConfig(n_heads=0)
    config = model.ModelConfig(**TINY)
    params = model.init_params(jax.random.key(0), config)
    with pytest.raises(ValueError, match="max_len"):
        model.forward(params, jnp.zeros((1, 13), jnp.int32), config)
    for tokens in (jnp.zeros((13,), jnp.int32), jnp.zeros((1, 5), jnp.float32)):   # were an IndexError, a TypeError
        with pytest.raises(ValueError, match="integer ids of shape"):
            model.forward(params, tokens, config)


def test_dropout_is_only_active_with_a_key():
    config = model.ModelConfig(**TINY, dropout=0.5)
    params = model.init_params(jax.random.key(0), config)
    tokens = jnp.arange(12)[None] % 16
    plain = model.forward(params, tokens, config)
    np.testing.assert_allclose(plain, model.forward(params, tokens, config))
    assert not np.allclose(plain, model.forward(params, tokens, config, jax.random.key(3)))


def test_unrolled_layers_compute_what_the_scan_computes():
    config = model.ModelConfig(**TINY, pos_encoding="rope")
    unrolled = model.ModelConfig(**TINY, pos_encoding="rope", scan_layers=False)
    params = model.init_params(jax.random.key(0), config)
    tokens = jax.random.randint(jax.random.key(1), (3, 12), 0, 16)
    logits, cache = model.forward(params, tokens, config, return_cache=True)
    logits_unrolled, cache_unrolled = model.forward(params, tokens, unrolled, return_cache=True)
    np.testing.assert_allclose(logits, logits_unrolled, atol=1e-5)
    for stacked, stacked_unrolled in zip(cache, cache_unrolled):   # keys, values: (L, B, T, H, K)
        assert stacked.shape == stacked_unrolled.shape == (2, 3, 12, 4, 8)
        np.testing.assert_allclose(stacked, stacked_unrolled, atol=1e-5)


@pytest.mark.parametrize("pos", ["rope", "learned"])
def test_attention_maps_are_causal_distributions_that_forward_uses(pos):
    """Each row is a distribution over the positions up to the query's own; and layer 0's map, applied to
    the values and the output projection, is the attention half of ``forward``'s first block."""
    config = model.ModelConfig(**TINY, pos_encoding=pos)
    params = model.init_params(jax.random.key(0), config)
    tokens = jax.random.randint(jax.random.key(1), (3, 12), 0, 16)
    maps = model.attention_maps(params, tokens, config)
    assert maps.shape == (2, 3, 4, 12, 12)
    np.testing.assert_allclose(maps.sum(-1), 1.0, atol=1e-5)
    assert float(jnp.abs(jnp.triu(maps, k=1)).max()) == 0.0
    layer = jax.tree_util.tree_map(lambda leaf: leaf[0], params["layers"])
    x = model.embed(params, tokens, config)
    positions = jnp.arange(12, dtype=jnp.float32)
    q, k, v = model.project_qkv(layer, model.layer_norm(x, layer["ln1_scale"], layer["ln1_bias"]), positions, config)
    expected = model.attend(layer, q, k, v, jnp.tril(jnp.ones((12, 12), bool)), config)
    from_map = jnp.einsum("bqhk,hkd->bqd", jnp.einsum("bhqs,bshk->bqhk", maps[0], v), layer["wo"])
    np.testing.assert_allclose(from_map, expected, atol=1e-5)
