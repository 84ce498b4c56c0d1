import dataclasses
import json

import jax
import numpy as np
import pytest

from shared import data, ladder, model, runtime, train

TINY = model.ModelConfig(d_model=32, n_layers=2, n_heads=4, d_ff=64)


def test_train_seeds_runs_each_seed_as_train_would():
    """Seed s of the vmapped runs starts from train's seed-s parameters and ends where train(seed=s) ends."""
    train_split, test_split = data.make_dataset()
    small = data.Split(*(part[:640] for part in train_split))
    config = train.TrainConfig(learning_rate=3e-3, batch_size=64, epochs=2)
    stacked, histories = train.train_seeds(TINY, config, small, test_split, seeds=(3, 5), progress=False)
    assert len(histories) == 2 and all(len(history.epoch) == 2 for history in histories)
    for index, seed in enumerate((3, 5)):
        alone, history = train.train(TINY, dataclasses.replace(config, seed=seed), small, test_split, progress=False)
        for ours, theirs in zip(jax.tree.leaves(stacked), jax.tree.leaves(alone)):
            np.testing.assert_allclose(ours[index], theirs, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(histories[index].test_loss, history.test_loss, rtol=1e-3)
    assert histories[0].test_loss != histories[1].test_loss          # different seeds, different runs


def test_train_seeds_rejects_no_seeds():
    train_split, test_split = data.make_dataset()
    with pytest.raises(ValueError, match="at least one seed"):
        train.train_seeds(TINY, train.TrainConfig(epochs=1), train_split, test_split, seeds=())


def test_hold_out_is_a_disjoint_cover():
    train_split, _ = data.make_dataset()
    rest, validation = data.hold_out(train_split, rows=720)
    assert len(rest) == 6480 and len(validation) == 720
    pairs = lambda split: set(zip(split.a.tolist(), split.b.tolist()))
    assert not pairs(rest) & pairs(validation)
    assert pairs(rest) | pairs(validation) == pairs(train_split)
    with pytest.raises(ValueError, match="rows must be"):
        data.hold_out(train_split, rows=len(train_split))


@pytest.mark.parametrize("name", list(ladder.RUNGS))
def test_every_rung_is_saved_on_every_seed(name):
    """Each notebook's full run saved its rung on ladder.SEEDS, for the next notebook to load."""
    result = ladder.load(name)
    assert result.summary["seeds"] == list(ladder.SEEDS)
    assert len(result.histories) == len(ladder.SEEDS)
    assert all(history.epoch[-1] == ladder.EPOCHS for history in result.histories)
    accuracy = result.summary["per_seed"]["test_accuracy"]
    assert result.summary["mean"]["test_accuracy"] == pytest.approx(np.mean(accuracy))
    with pytest.raises(ValueError, match="holds no parameters"):
        result.seed_params(0)


def test_load_names_the_notebook_to_run(monkeypatch, tmp_path):
    monkeypatch.setattr(runtime, "REPO_ROOT", tmp_path)
    with pytest.raises(FileNotFoundError, match="run notebook 03"):
        ladder.load("adam")
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "03_adam_results.json").write_text(json.dumps({"sgd": {}}))
    with pytest.raises(ValueError, match="rerun notebook 03"):
        ladder.load("adam")


def test_what_changed_says_when_seeds_overlap():
    def fake(name, accuracies, answer_loss=0.1):
        histories = [_history(accuracy, answer_loss) for accuracy in accuracies]
        return ladder.Result(name, ladder.summarise(10, 1, (0, 1, 2), histories, "cpu"), [])
    low, high, mixed = fake("adam", [0.90, 0.91, 0.92]), fake("rope", [0.95, 0.96, 0.97]), fake("tied", [0.89, 0.95, 0.99])
    assert "every seed after the change beats" in ladder.what_changed(low, high)
    assert "worse than every seed" in ladder.what_changed(high, low)
    assert "overlap" in ladder.what_changed(low, mixed)
    worse_loss = fake("rope", [0.90, 0.91, 0.92], answer_loss=0.2)
    assert "2.00x higher" in ladder.what_changed(low, worse_loss)
    assert "2.00x lower" in ladder.what_changed(worse_loss, low)
    assert "not comparable" not in ladder.what_changed(low, high)
    assert "per_token vs masked loss: not comparable" in ladder.what_changed(mixed, fake("masked", [0.9] * 3))


def _history(accuracy, answer_loss=0.1):
    history = train.History()
    history.append(epoch=1, train_loss=1.0, test_loss=1.0, test_answer_loss=answer_loss, test_accuracy=accuracy,
                   seconds=1.0)
    return history
