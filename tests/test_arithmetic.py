"""The 3-digit carry-trace format, cached decoding and checkpoints (the groundwork of notebook 08)."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from shared import arithmetic, checkpoint, evaluate, model


@pytest.mark.parametrize("a, op, b, text", [
    (123, "+", 45, "123+  45=+800600100000000000"),
    (0, "-", 999, "  0- 999=-900900900000000000"),
    (999, "*", 999, "999* 999=+108017026818909900"),
    (123, "*", 45, "123*  45=+501302501500000000"),
    (5, "//", 4, "  5//  4=+100000000000000000"),
    (5, "%", 4, "  5%   4=+100000000000000000"),
])
def test_reference_examples(a, op, b, text):
    assert arithmetic.decode(arithmetic.make_rows(np.array([a]), np.array([b]), op)[0]) == text


def test_all_rows_count_and_every_result_reads_back():
    rows, a, b, op_index = arithmetic.all_rows()
    assert rows.shape == (4_998_000, 28) and rows.dtype == np.uint8
    assert np.bincount(op_index).tolist() == [1_000_000] * 3 + [999_000] * 2
    assert not np.any((b == 0) & (op_index >= 3))
    results = arithmetic.read_result(rows[:, 9:])
    for index, op in enumerate(arithmetic.OPERATIONS):
        chosen = op_index == index
        expected = arithmetic.apply_operation(a[chosen].astype(np.int64), b[chosen].astype(np.int64), op)
        np.testing.assert_array_equal(results[chosen], expected)


def test_carry_trace_matches_schoolbook_multiplication():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 1000, 500), rng.integers(0, 1000, 500)
    digits, carries = arithmetic.carry_trace(a, b)
    for row in range(0, 500, 50):                       # the slow, obvious way, on a sample
        carry = 0
        for k in range(6):
            column = sum(int(str(a[row]).zfill(3)[2 - i]) * int(str(b[row]).zfill(3)[2 - (k - i)])
                         for i in range(3) if 0 <= k - i < 3)
            total = column + carry
            assert (digits[row, k], carries[row, k]) == (total % 10, total // 10)
            carry = total // 10
    assert carries.max() < 100


def test_bad_arguments():
    with pytest.raises(ValueError, match="0-999"):
        arithmetic.make_rows(np.array([1000]), np.array([1]), "+")
    with pytest.raises(ValueError, match="by zero"):
        arithmetic.make_rows(np.array([1]), np.array([0]), "%")


@pytest.mark.parametrize("pos", ["learned", "rope", "sinusoidal", "none"])
def test_cached_decoding_equals_full_recompute(pos):
    config = model.ModelConfig(vocab_size=17, max_len=27, d_model=32, n_layers=2, n_heads=4, d_ff=64, pos_encoding=pos)
    params = model.init_params(jax.random.key(0), config)
    params = jax.tree.map(lambda p: 20 * p if p.ndim > 1 else p, params)   # sharper, more varied argmaxes
    prompt = jax.random.randint(jax.random.key(1), (64, 9), 0, 17)
    cached = evaluate.greedy_decode_cached(params, config, prompt, 19)
    full = evaluate.greedy_decode(params, config, jnp.pad(prompt, ((0, 0), (0, 19))), jnp.full((64,), 9), 19,
                                  stop_at_eos=False)
    assert len(np.unique(np.asarray(cached))) > 5
    np.testing.assert_array_equal(np.asarray(cached), np.asarray(full[:, 9:]))


def test_checkpoint_round_trip_and_bad_files(tmp_path):
    config = model.ModelConfig(d_model=32, n_layers=2, n_heads=4, d_ff=64, pos_encoding="learned")
    params = model.init_params(jax.random.key(0), config)
    optimizer = optax.adamw(1e-3)
    state = (params, optimizer.init(params), jax.random.key(5), jnp.int32(7))
    checkpoint.save(tmp_path / "ck", state, config, step=7)
    loaded_config, info = checkpoint.load_config(tmp_path / "ck")
    assert loaded_config == config and info["step"] == 7
    template = (model.init_params(jax.random.key(1), config), optimizer.init(params), jax.random.key(0), jnp.int32(0))
    restored = checkpoint.load(tmp_path / "ck", template)
    same = jax.tree.map(lambda x, y: bool(jnp.array_equal(x, y)), (state[0], state[1], state[3]), (restored[0], restored[1], restored[3]))
    assert all(jax.tree.leaves(same))
    assert np.array_equal(jax.random.key_data(restored[2]), jax.random.key_data(state[2]))
    with pytest.raises(ValueError, match="no checkpoint"):
        checkpoint.load(tmp_path / "missing", template)
    (tmp_path / "ck.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="corrupt"):
        checkpoint.load(tmp_path / "ck", template)
    (tmp_path / "ck.json").write_text("{")
    with pytest.raises(ValueError, match="corrupt"):
        checkpoint.load_config(tmp_path / "ck")


def test_weighted_sampling_follows_the_weights():
    rng = np.random.default_rng(0)
    rows = np.concatenate([arithmetic.make_rows(rng.integers(0, 1000, 50), rng.integers(1, 1000, 50), op)
                           for op in arithmetic.OPERATIONS])
    op_index = np.repeat(np.arange(5, dtype=np.uint8), 50)
    weights = {"+": 0.05, "-": 0.10, "*": 0.20, "//": 0.30, "%": 0.35}
    batch = arithmetic.sample_batch(jax.random.key(0), arithmetic.device_data(rows, op_index, weights), 20_000)
    assert batch["x"].shape == (20_000, 27) and int(batch["answer_mask"].sum(axis=1).min()) == 19
    operator_char = np.asarray(batch["x"][:, 3])
    for op, weight in weights.items():
        share = np.mean(operator_char == arithmetic.TOKEN_ID[op[0]])
        assert abs(share - weight) < 0.015, (op, share)
    with pytest.raises(ValueError, match="weights"):
        arithmetic.device_data(rows, op_index, {"+": -1.0})


def test_validation_split_and_error_analysis():
    held_out = arithmetic.validation_split(1000, size=100, seed=0)
    assert len(np.unique(held_out)) == 100 and held_out.max() < 1000
    assert np.array_equal(held_out, arithmetic.validation_split(1000, size=100, seed=0))
    assert not np.all(np.diff(held_out) > 0)                       # random order, not sorted
    targets = arithmetic.make_rows(np.array([123, 999, 5]), np.array([45, 999, 4]), "*")[:, 9:]
    answers = targets.copy()
    answers[0, 4] = arithmetic.TOKEN_ID["9"]        # column 1's result digit wrong, carries right
    answers[1, 5] = arithmetic.TOKEN_ID["9"]        # column 1's first carry digit wrong
    report = arithmetic.error_analysis(answers, targets, np.array([2, 2, 2]))
    assert report["wrong"] == 2
    assert report["first_mistake"] == {"digit 1": 1, "carry 1": 1}
    assert report["times_result_wrong"] == 1 and report["times_result_wrong_carry_right"] == 1
