"""Notebook 14's experiment code: 07's split in the least-significant-first format, lengths, scoring."""
import jax.numpy as jnp
import numpy as np
import pytest

from shared import data, evaluate, generalise, model, places


def test_value_splits_keep_training_inside_and_score_every_pair():
    train_split, held, grid = generalise.value_splits()
    assert max(train_split.a.max(), train_split.b.max()) <= 50
    inside = {(int(a), int(b)) for a, b in zip(train_split.a, train_split.b)}
    assert not inside & {(int(a), int(b)) for a, b in zip(held.a, held.b)}          # disjoint
    assert len(inside) + len(held) == 51 * 51
    assert len(grid) == 100 * 100 and grid.a[123] == 1 and grid.b[123] == 23          # row-major (a, b)
    assert data.decode(grid.x[123])[:8] == "#1+32=42"                                  # 1 + 23 = 24, reversed


def test_value_regions_go_by_the_larger_operand():
    regions = generalise.value_region(np.array([3, 50, 51, 74, 75, 99, 10]), np.array([50, 7, 2, 74, 0, 99, 80]))
    assert regions.tolist() == ["in range (held out)", "in range (held out)", "51-74", "51-74", "75-99",
                                "75-99", "75-99"]


def test_length_split_draws_the_asked_lengths_and_models_fit_the_rows():
    split = generalise.length_split(200, 7, 7, row_digits=15, seed=0)
    assert set(places.num_digits(split.a)) == {7} and set(places.num_digits(split.b)) == {7}
    config = generalise.LENGTH_SETUP.model("abacus")
    assert config.max_len == split.x.shape[1] + generalise.LENGTH_SETUP.pad_room
    assert generalise.LENGTH_SETUP.model("learned").place_offset == 0
    with pytest.raises(ValueError, match="unknown encoding"):
        generalise.LENGTH_SETUP.model("alibi")


def test_exact_agrees_with_the_series_exact_match():
    setup = generalise.Setup(max_digits=3, d_model=16, n_layers=1, n_heads=2, epochs=3, batch_size=32, place_offset=4)
    split = generalise.length_split(256, 1, 3, row_digits=3, seed=0)
    params, config, _ = generalise.fit("abacus", setup, split, split, progress=False)
    exact = generalise.exact(params, config, split)
    x = jnp.asarray(split.x)
    logits = model.forward(params, x, config, places=places.digit_places(x))
    assert np.array_equal(exact, np.asarray(evaluate.exact_match(logits, jnp.asarray(split.y), split.answer_mask)))
    assert 0 < generalise.answers_right(params, config, split)[split.answer_mask].mean() < 1


def test_leading_pads_move_the_problem_along_the_row_and_keep_it_whole():
    split = generalise.length_split(50, 1, 5, row_digits=5, seed=0)
    width = split.x.shape[1] + 6
    padded = generalise.with_leading_pads(split, 6, width)
    assert padded.x.shape == (50, width)
    assert data.decode(padded.x[0]) == "#" * 6 + data.decode(split.x[0])
    assert np.array_equal(padded.y[padded.answer_mask], split.y[split.answer_mask])
    with pytest.raises(ValueError, match="do not fit"):
        generalise.with_leading_pads(split, 6, split.x.shape[1])
