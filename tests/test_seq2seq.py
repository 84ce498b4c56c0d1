"""The encoder-decoder (notebook 12): shapes, padding, causality, decoding."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from shared import seq2seq

CONFIG = seq2seq.Seq2SeqConfig(vocab_size=17, max_source=12, max_target=10, d_model=32, n_encoder_layers=2,
                               n_decoder_layers=2, n_heads=4, d_ff=64)


def batch(seed, B=3, S=8, T=6):
    rng = np.random.default_rng(seed)
    source = rng.integers(3, 17, (B, S))
    source[0, 5:] = 0                                           # a padded row
    return jnp.asarray(source), jnp.asarray(rng.integers(3, 17, (B, T)))


@pytest.mark.parametrize("norm", seq2seq.NORMS)
def test_logits_shape_and_padding_is_invisible(norm):
    config = CONFIG.__class__(**{**CONFIG.__dict__, "norm": norm})
    params = seq2seq.init_params(jax.random.key(0), config)
    source, target = batch(0)
    logits = seq2seq.forward(params, source, target, config)
    assert logits.shape == (3, 6, 17)
    longer = jnp.pad(source, ((0, 0), (0, 3)))                  # three more padding columns
    np.testing.assert_allclose(seq2seq.forward(params, longer, target, config), logits, atol=1e-5)


def test_decoder_is_causal_and_reads_the_source():
    params = seq2seq.init_params(jax.random.key(1), CONFIG)
    source, target = batch(1)
    logits = seq2seq.forward(params, source, target, CONFIG)
    changed = seq2seq.forward(params, source, target.at[:, 4].set(3), CONFIG)
    np.testing.assert_allclose(changed[:, :4], logits[:, :4], atol=1e-6)      # the past does not see the future
    assert not np.allclose(changed[:, 4:], logits[:, 4:])
    other_source = seq2seq.forward(params, source.at[:, 0].set(4), target, CONFIG)
    assert not np.allclose(other_source[:, 0], logits[:, 0])                 # cross-attention is wired


def test_greedy_decoding_equals_teacher_forcing_on_its_own_output():
    params = seq2seq.init_params(jax.random.key(2), CONFIG)
    source, _ = batch(2)
    written = seq2seq.greedy(params, source, CONFIG, start_id=1, steps=6)
    target_in = jnp.concatenate([jnp.ones((3, 1), jnp.int32), written[:, :-1]], axis=1)
    logits = seq2seq.forward(params, source, target_in, CONFIG)
    np.testing.assert_array_equal(jnp.argmax(logits, -1), written)


def test_bad_config_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown norm"):
        seq2seq.Seq2SeqConfig(norm="middle")
    with pytest.raises(ValueError, match="positive"):        # not a ZeroDivisionError
        seq2seq.Seq2SeqConfig(n_heads=0)
    with pytest.raises(ValueError, match="positive"):
        seq2seq.Seq2SeqConfig(n_decoder_layers=0)
    with pytest.raises(ValueError, match="pad_id 17 is not a token id"):
        seq2seq.Seq2SeqConfig(pad_id=17)
