import jax
import numpy as np
import pytest

from shared import data, scaling, train

TRAIN = train.TrainConfig(optimizer="adamw", learning_rate=3e-3, schedule="cosine", warmup_steps=5, batch_size=32,
                          loss="masked")
TINY = scaling.size_config(32, 1)


def test_region_data_keeps_training_inside_the_region_and_the_test_sets_apart():
    region = scaling.region_data(3000, limit=500, n_test=400, seed=1)
    assert len(region.train) == 3000 and len(region.inside) == len(region.outside) == 400
    assert region.train.a.max() <= 500 and region.train.b.max() <= 500
    assert region.inside.a.max() <= 500 and region.inside.b.max() <= 500
    assert (np.maximum(region.outside.a, region.outside.b) > 500).all()
    train_pairs = set(zip(region.train.a.tolist(), region.train.b.tolist()))
    assert len(train_pairs) == 3000 and not train_pairs & set(zip(region.inside.a.tolist(), region.inside.b.tolist()))
    row = np.r_[region.train.x[0], region.train.y[0][-1]]
    a, b = region.train.a[0], region.train.b[0]
    assert data.decode(row) == f"#{a:03d}+{b:03d}={str(a + b).zfill(4)[::-1]}#"
    assert scaling.region_data(100, limit=999, n_test=10).outside is None
    with pytest.raises(ValueError, match="too few"):
        scaling.region_data(10_000, limit=50)
    with pytest.raises(ValueError, match="must be positive"):
        scaling.region_data(0)


def test_seeds_trained_side_by_side_equal_seeds_trained_alone():
    region = scaling.region_data(1000, n_test=64)
    splits = {"inside": region.inside}
    both, history = scaling.train_seeds(TINY, TRAIN, region.train, splits, seeds=(3, 4), steps=20, evals=2,
                                        progress=False)
    alone, alone_history = scaling.train_seeds(TINY, TRAIN, region.train, splits, seeds=(4,), steps=20, evals=2,
                                               progress=False)
    for stacked, single in zip(jax.tree.leaves(both), jax.tree.leaves(alone)):
        np.testing.assert_allclose(stacked[1], single[0], rtol=2e-3, atol=2e-5)
    assert not np.allclose(both["embed"][0], both["embed"][1])          # the two seeds differ
    assert np.shape(history["inside_accuracy"]) == (2, 2) and history["step"] == [10, 20]
    np.testing.assert_allclose(history["inside_loss"][-1][1], alone_history["inside_loss"][-1][0], rtol=1e-3)
    assert history["train_loss"][-1][0] < history["train_loss"][0][0]


def test_power_law_fit_recovers_its_exponent():
    x = np.array([1e4, 1e5, 1e6, 1e7])
    coefficient, exponent = scaling.fit_power_law(x, 3.0 * x ** -0.25)
    assert exponent == pytest.approx(-0.25) and coefficient == pytest.approx(3.0)
    for bad_x, bad_y, message in (([1e4], [1.0], "at least two different x"), (x, -x, "must be positive")):
        with pytest.raises(ValueError, match=message):     # were a LinAlgError, and NaN without a word
            scaling.fit_power_law(bad_x, bad_y)


def test_train_flops_count_six_per_parameter_per_token():
    assert scaling.train_flops(TINY, 32, 10) == 6 * scaling.n_params(TINY) * 32 * (scaling.SEQ_LEN - 1) * 10
