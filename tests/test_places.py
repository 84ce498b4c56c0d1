"""Notebook 14's long-addition rows and the abacus (per-significance) positions."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from shared import data, model, places, train


def spell(row) -> str:
    return data.decode(row)


def test_rows_write_every_number_least_significant_digit_first():
    rows, answer_mask = places.make_rows(np.array([123, 0]), np.array([45, 9]), seq_len=14)
    assert spell(rows[0]) == "#321+54=8610##"
    assert spell(rows[1]) == "#0+9=90#######"
    targets = rows[:, 1:]
    assert spell(targets[0][answer_mask[0]]) == "8610"
    assert spell(targets[1][answer_mask[1]]) == "90"


def test_every_row_reads_back_as_numpy_sum_up_to_15_digits():
    rng = np.random.default_rng(0)
    a, b = places.random_operands(rng, 5000, 1, 15), places.random_operands(rng, 5000, 1, 15)
    assert set(places.num_digits(a)) == set(range(1, 16))            # every length is drawn
    rows, answer_mask = places.make_rows(a, b, places.seq_len_for(15))
    targets = rows[:, 1:]
    lengths = answer_mask.sum(axis=1)
    assert np.array_equal(lengths, np.maximum(places.num_digits(a), places.num_digits(b)) + 1)
    for length in np.unique(lengths):                                  # read back, one answer length at a time
        chosen = lengths == length
        answers = targets[chosen][answer_mask[chosen]].reshape(-1, length)
        assert np.array_equal(places.read_answers(answers), a[chosen] + b[chosen])


def test_bad_operands_and_short_rows_are_refused_with_a_message():
    with pytest.raises(ValueError, match="too short"):
        places.make_rows(np.array([12345]), np.array([1]), seq_len=10)
    with pytest.raises(ValueError, match="whole numbers"):
        places.make_rows(np.array([-1]), np.array([1]), seq_len=10)
    with pytest.raises(ValueError, match="digit counts"):
        places.random_operands(np.random.default_rng(0), 3, 0, 5)
    with pytest.raises(ValueError, match="max_digits must be at least 1"):
        places.seq_len_for(0)


def test_places_count_digits_within_each_number_and_are_causal():
    rows, _ = places.make_rows(np.array([123]), np.array([45]), seq_len=14)
    expected = [0, 1, 2, 3, 0, 1, 2, 0, 1, 2, 3, 4, 0, 0]
    assert np.asarray(places.digit_places(rows)).tolist() == [expected]
    for t in range(1, 14):                                              # a prefix gets the same places
        assert np.asarray(places.digit_places(rows[:, :t])).tolist() == [expected[:t]]


ABACUS = model.ModelConfig(max_len=20, d_model=16, n_layers=1, n_heads=2, d_ff=32, pos_encoding="abacus")


def test_abacus_gives_a_digit_the_same_input_vector_wherever_its_number_starts():
    params = model.init_params(jax.random.key(0), ABACUS)
    rows, _ = places.make_rows(np.array([5, 1]), np.array([15, 5]), seq_len=12)   # the 5 of 5 and of 15: place 1
    x = model.embed(params, jnp.asarray(rows), ABACUS, places=places.digit_places(rows))
    assert spell(rows[0])[1] == "5" and spell(rows[1])[3] == "5"
    np.testing.assert_allclose(x[0, 1], x[1, 3], rtol=1e-6)
    learned = model.embed(model.init_params(jax.random.key(0), model.ModelConfig(max_len=20, pos_encoding="learned")),
                          jnp.asarray(rows), model.ModelConfig(max_len=20, pos_encoding="learned"))
    assert not np.allclose(learned[0, 1], learned[1, 3])                # learned positions tell them apart
    with pytest.raises(ValueError, match="needs the places"):
        model.forward(params, jnp.asarray(rows), ABACUS)


def test_place_offset_shifts_every_place_of_a_row_by_one_random_amount_in_training_only():
    config = model.ModelConfig(**{**ABACUS.__dict__, "place_offset": 5})
    params = model.init_params(jax.random.key(0), config)
    rows, _ = places.make_rows(np.array([123]), np.array([45]), seq_len=14)
    tokens, row_places = jnp.asarray(rows), places.digit_places(rows)
    evaluated = model.forward(params, tokens, config, places=row_places)
    np.testing.assert_allclose(evaluated, model.forward(params, tokens, ABACUS, places=row_places), rtol=1e-6)
    shifts_seen = set()
    for seed in range(8):
        trained = model.forward(params, tokens, config, dropout_key=jax.random.key(seed), places=row_places)
        matches = [k for k in range(6) if np.allclose(trained, model.forward(
            params, tokens, ABACUS, places=row_places + k), atol=1e-5)]
        assert len(matches) == 1                          # one shift, the same for every token, '=' included
        shifts_seen.add(matches[0])
    assert len(shifts_seen) > 1
    with pytest.raises(ValueError, match="abacus"):
        model.ModelConfig(place_offset=3, pos_encoding="learned")


def test_an_abacus_model_trains_with_the_series_training_loop():
    rng = np.random.default_rng(1)
    a, b = places.random_operands(rng, 512, 1, 2), places.random_operands(rng, 512, 1, 2)
    rows, mask = places.make_rows(a, b, places.seq_len_for(2))
    split = data.Split(rows[:, :-1], rows[:, 1:], mask, a, b)
    config = model.ModelConfig(**{**ABACUS.__dict__, "max_len": 16, "place_offset": 3})
    _, history = train.train(config, train.TrainConfig(batch_size=64, epochs=3, learning_rate=3e-3, loss="masked"),
                             split, split, progress=False)
    assert history.test_loss[-1] < history.test_loss[0]
