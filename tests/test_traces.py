"""Notebook 10's trace formats: every problem reads back right, the layout is what the docs say, and the
exhaustive check agrees with real greedy decoding."""
import dataclasses

import jax
import numpy as np
import pytest

from shared import arithmetic, calc, checkpoint, model, trace_study, traces
from shared.arithmetic import OPERATIONS, PROMPT_LEN


@pytest.mark.parametrize("fmt", traces.FORMATS.values(), ids=lambda f: f.name)
def test_every_problem_reads_back_as_numpy_computes_it(fmt):
    rows, a, b, op_index = traces.all_rows(fmt)
    assert rows.shape == (4_998_000, fmt.seq_len)
    for index, op in enumerate(OPERATIONS):
        chosen = op_index == index
        answers = rows[chosen, PROMPT_LEN:]
        truth = arithmetic.apply_operation(a[chosen].astype(np.int64), b[chosen].astype(np.int64), op)
        np.testing.assert_array_equal(traces.read_result(fmt, answers, op), truth)
        assert traces.readable(fmt, answers, op).all()
        assert (answers[:, fmt.answer_len[op]:] == traces.PAD).all()       # padding after the answer


def test_all_rows_are_built_once_per_format_and_cannot_be_changed():
    kept = traces.all_rows(traces.WORKED)
    again = traces.all_rows(dataclasses.replace(traces.WORKED))          # an equal format: the same arrays
    assert all(new is old for new, old in zip(again, kept))
    with pytest.raises(ValueError, match="read-only"):
        kept[0][0, 0] = traces.PAD


def test_reference_format_is_notebook_08s():
    a, b = np.array([123, 999, 0]), np.array([45, 999, 7])
    for op in OPERATIONS:
        np.testing.assert_array_equal(traces.make_rows(traces.REFERENCE, a, b, op), arithmetic.make_rows(a, b, op))


def test_worked_examples_character_by_character():
    spelled = lambda a, op, b: "".join(c for c, _ in traces.spell(traces.WORKED, a, b, op))
    # 123*45: column 0: 3*5=15 -> "51", total 15 -> "510"; column 1: 3*4=12 "21", 2*5=10 "01", total 12+10+1=23 "320"
    assert spelled(123, "*", 45).startswith("51" "510" "21" "01" "320")
    assert spelled(537, "-", 539) == "==-" "-" "200"
    assert spelled(999, "+", 999) == "8991"
    division = spelled(123, "//", 45)
    assert division[:8] == "5400" "0900" and division[36:] == "1" "0" "1" "21" "0" "21" "321" "2" "330"
    assert spelled(123, "%", 45) == division                              # one problem, one answer
    for op in OPERATIONS:
        assert len(traces.describe(traces.WORKED, op, 1, 1)) == traces.WORKED.answer_len[op]


def test_subtraction_sign_is_the_first_digit_comparison_that_is_not_equal():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 1000, 5000), rng.integers(0, 1000, 5000)
    answers = traces.make_rows(traces.WORKED, a, b, "-")[:, PROMPT_LEN:]
    compared = answers[:, :3]
    first = np.where((compared != traces.SIGN[0]).any(axis=1), compared[np.arange(len(a)), np.argmax(compared != traces.SIGN[0], axis=1)], traces.SIGN[1])
    np.testing.assert_array_equal(first, answers[:, 3])


def test_answer_masks_cover_each_answer_exactly():
    for fmt in traces.FORMATS.values():
        masks = fmt.answer_masks()
        for index, op in enumerate(OPERATIONS):
            assert masks[index].sum() == fmt.answer_len[op] and masks[index, PROMPT_LEN - 1]


def test_show_work_lays_out_the_true_working():
    rng = np.random.default_rng(1)
    for a, b in zip(rng.integers(0, 1000, 200), rng.integers(1, 1000, 200)):
        for op in OPERATIONS:
            answer = traces.make_rows(traces.WORKED, np.array([a]), np.array([b]), op)[0, PROMPT_LEN:]
            shown = traces.show_work(traces.WORKED, int(a), op, int(b), answer)
            if op in ("//", "%"):
                assert shown.endswith(f"quotient {a // b}, remainder {a % b}")
                assert f"9x={9 * b}" in shown
            if op == "*":
                column_digits = [line.split("-> digit ")[1][0] for line in shown.splitlines()[1:6]]
                assert int(shown[-1] + "".join(column_digits[::-1])) == a * b


def test_validation_pairs_are_held_out_of_training_for_both_division_operations():
    problems = trace_study.Problems.build(traces.WORKED, ("//", "%"))
    train_keep, val_rows, val_ops = trace_study.split(problems, 500)
    held = {tuple(r) for r in problems.rows[~train_keep][:, :PROMPT_LEN].tolist()}
    trained = {tuple(r) for r in problems.rows[train_keep][:, :PROMPT_LEN].tolist()}
    assert held and not held & trained and len(val_rows) == 500 and set(val_ops) <= {3, 4}


def test_quick_mode_trains_small_batches_and_records_the_batch_it_used(tmp_path):
    *_, history, info = trace_study.ship(tmp_path / "first", tmp_path, quick=True)
    assert info["recipe"]["batch_size"] == trace_study.QUICK_BATCH < trace_study.recipe_for(
        traces.WORKED, trace_study.SHIP_WEIGHTS, 20, "full").train.batch_size
    saved = checkpoint.load_config(tmp_path / "first")[1]
    assert history["step"] == [10, 20] and saved["steps"] == 20 and saved["recipe"] == info["recipe"]


TINY = model.ModelConfig(vocab_size=17, max_len=traces.WORKED.seq_len - 1, d_model=32, n_layers=2, n_heads=4,
                         d_ff=64, pos_encoding="learned")


def assert_exhaustive_agrees_with_greedy(calculator, n=300, seed=0):
    """The exhaustive check's teacher-forced verdicts on ``n`` random problems per operation, and the first
    wrong character ``first_wrong_characters`` finds, equal real cached greedy decoding's (the
    calculator's). Returns the number of right answers."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 1000, n), rng.integers(1, 1000, n)
    fmt = calculator.format
    report = trace_study.exhaustive(calculator.params, calculator.config, fmt, batch=128, pairs=(a, b), progress=False,
                                    decode_at_most=50)
    for op in OPERATIONS:
        written = calculator.write([(int(x), op, int(y)) for x, y in zip(a, b)])
        truth = traces.make_rows(fmt, a, b, op)[:, PROMPT_LEN:PROMPT_LEN + fmt.answer_len[op]]
        greedy_wrong = written[:, :truth.shape[1]] != truth
        greedy_right = ~greedy_wrong.any(axis=1)
        first_wrong = trace_study.first_wrong_characters(calculator.params, calculator.config, fmt, a, b, op, batch=128)
        np.testing.assert_array_equal(first_wrong, np.where(greedy_right, -1, greedy_wrong.argmax(axis=1)))
        assert report["correct"][op] == greedy_right.sum() and report["total"][op] == n
        np.testing.assert_array_equal(report["wrong_a"][op], a[~greedy_right])
        np.testing.assert_array_equal(report["wrong_b"][op], b[~greedy_right])
        assert [(x, y) for x, y, _ in report["examples"][op]] == [(int(x), int(y)) for x, y in zip(a[~greedy_right], b[~greedy_right])][:50]
        answers = calculator.answer([(int(x), op, int(y)) for x, y, _ in report["examples"][op]])
        assert [v for *_, v in report["examples"][op]] == answers
    return sum(report["correct"].values())


def test_exhaustive_check_agrees_with_greedy_decoding_on_a_tiny_model(tmp_path):
    """A barely trained model (its answers are wrong, at different places); the shipped model's test
    (tests/test_shipped_calculator.py) repeats this where most answers are right."""
    problems = trace_study.Problems.build(traces.WORKED)
    recipe = trace_study.recipe_for(traces.WORKED, trace_study.SHIP_WEIGHTS, 60, "test")
    recipe = recipe.__class__(recipe.name, TINY, recipe.train, 60, recipe.op_weights)
    (params, *_), _ = trace_study.train_format(problems, recipe, seed=0, chunk=60, progress=False)
    checkpoint.save(tmp_path / "tiny", params, TINY, format="worked")
    assert_exhaustive_agrees_with_greedy(calc.Calculator(tmp_path / "tiny"), n=100)


@pytest.mark.parametrize("fmt", traces.DIVISION_VARIANTS.values(), ids=lambda f: f.name)
def test_division_variants_write_the_product_and_the_fits(fmt):
    rng = np.random.default_rng(2)
    a, b = rng.integers(0, 1000, 20_000), rng.integers(1, 1000, 20_000)
    answers = traces.make_rows(fmt, a, b, "//")[:, PROMPT_LEN:]
    for op in ("//", "%"):
        np.testing.assert_array_equal(traces.read_result(fmt, answers, op), arithmetic.apply_operation(a, b, op))
        assert traces.readable(fmt, answers, op).all()
        assert len(traces.describe(fmt, op, 1, 1)) == fmt.answer_len[op]
    np.testing.assert_array_equal(traces.make_rows(fmt, a, b, "%"), traces.make_rows(fmt, a, b, "//"))
    worked = traces.make_rows(traces.WORKED, a, b, "//")[:, PROMPT_LEN:]
    np.testing.assert_array_equal(answers[:, :36], worked[:, :36])                 # the same table
    for step, (places, plain) in enumerate(zip(traces.division_layout(fmt), traces.division_layout(traces.WORKED)), 1):
        for part in ("running", "quotient", "remainder"):
            np.testing.assert_array_equal(answers[:, places[part]], worked[:, plain[part]])
        quotient = answers[:, places["quotient"].start].astype(np.int64) - traces.ZERO
        np.testing.assert_array_equal(traces.value(answers[:, places["product"]]), quotient * b)
        if "fits" in places:          # q is the number of multiples that fit, and they come first
            fits = answers[:, places["fits"]] == traces.SIGN[1]
            np.testing.assert_array_equal(fits.sum(axis=1), quotient)
            assert (fits == (np.arange(9) < quotient[:, None])).all()
    assert fmt.answer_len["//"] == traces.division_layout(fmt)[-1]["remainder"].stop


def test_division_variant_spelled_out():
    spelled = "".join(c for c, _ in traces.spell(traces.WORKED_FITS, 123, 45, "//"))
    # step 3 of 123 // 45: running 123 "321", fits ++------- , q 2, 2*45 = 90 "090", remainder 33 "330"
    assert spelled[-19:] == "321" "++-------" "2" "090" "330"
    assert "2*45 = 90" in traces.show_work(traces.WORKED_FITS, 123, "//", 45, traces.make_rows(
        traces.WORKED_FITS, np.array([123]), np.array([45]), "//")[0, PROMPT_LEN:])


def test_extend_positions_keeps_the_trained_ones():
    config = model.ModelConfig(vocab_size=17, max_len=10, d_model=8, n_layers=1, n_heads=2, pos_encoding="learned")
    params = model.init_params(jax.random.key(0), config)
    longer, longer_config = trace_study.extend_positions(params, config, 15)
    assert longer_config.max_len == 15 and longer["pos_embed"].shape == (15, 8)
    np.testing.assert_array_equal(longer["pos_embed"][:10], params["pos_embed"])


def test_division_rows_are_drawn_by_divisor_size_and_by_the_divisor_wrong_rate(tmp_path):
    wrong_b = np.array([7] * 300 + [50] * 10 + [400] * 4)        # divisor 7 wrong on 30% of a, 50 on 1%, 400 on 0.4%
    np.savez(tmp_path / "wrong.npz", floordiv_a=np.zeros_like(wrong_b), floordiv_b=wrong_b)
    extra = trace_study.extra_copies_from_errors(tmp_path / "wrong.npz", per_rate=100)
    assert extra.shape == (1000,) and extra[7] == 30 and extra[50] == 1 and extra.sum() == 31
    b = np.array([7, 7, 50, 400, 999, 7])
    op_index = np.array([OPERATIONS.index(op) for op in ("//", "%", "//", "%", "//", "*")])
    problems = trace_study.Problems(traces.WORKED, np.zeros((6, 4), np.uint8), np.zeros(6, np.int64), b, op_index)
    copies = trace_study.copies_by_divisor(problems, {1: 8, 2: 4, 3: 1}, extra)
    np.testing.assert_array_equal(copies, [8 + 30, 8 + 30, 4 + 1, 1, 1, 1])   # a product row stays once
    np.testing.assert_array_equal(trace_study.copies_by_divisor(problems, {1: 16, 2: 4, 3: 1}), [16, 16, 4, 1, 1, 1])


def test_each_wrong_problem_gets_its_extra_copies_for_its_own_operation_only(tmp_path):
    empty = np.array([], np.int64)
    np.savez(tmp_path / "wrong.npz", floordiv_a=np.array([12]), floordiv_b=np.array([7]), mod_a=np.array([30]),
             mod_b=np.array([4]), multiply_a=np.array([12]), multiply_b=np.array([7]),
             add_a=empty, add_b=empty, subtract_a=empty, subtract_b=empty)
    a, b = np.array([12, 12, 12, 30, 30, 13]), np.array([7, 7, 7, 4, 4, 7])
    op_index = np.array([OPERATIONS.index(op) for op in ("//", "%", "-", "%", "//", "//")])
    problems = trace_study.Problems(traces.WORKED, np.zeros((6, 4), np.uint8), a, b, op_index)
    extra = trace_study.extra_copies_for_wrong(problems, tmp_path / "wrong.npz", extra=16)
    np.testing.assert_array_equal(extra, [16, 0, 0, 16, 0, 0])       # 12*7 wrong is not 12-7 or 12%7
    np.savez(tmp_path / "division_only.npz", floordiv_a=np.array([13]), floordiv_b=np.array([7]),
             mod_a=empty, mod_b=empty)                                # a check of // and % only
    extra = trace_study.extra_copies_for_wrong(problems, tmp_path / "division_only.npz", extra=16)
    np.testing.assert_array_equal(extra, [0, 0, 0, 0, 0, 16])


def test_a_check_of_some_operations_is_saved_loaded_and_merged_with_one_of_the_others(tmp_path):
    def report(ops, wrong):
        return {"correct": {op: 10 - wrong for op in ops}, "total": {op: 10 for op in ops},
                "examples": {op: [[1, 2, 3]] * wrong for op in ops},
                "wrong_a": {op: np.full(wrong, 1, np.uint16) for op in ops},
                "wrong_b": {op: np.full(wrong, 2, np.uint16) for op in ops}}
    trace_study.save_exhaustive(report(("//", "%"), 2), tmp_path, "_x", seconds=5.0)
    division = trace_study.load_exhaustive(tmp_path, "_x")
    assert division["seconds"] == 5.0 and division["correct"] == {"//": 8, "%": 8}
    np.testing.assert_array_equal(division["wrong_b"]["%"], [2, 2])
    merged = trace_study.merge_exhaustive(division, report(("*", "-", "+"), 1))
    assert merged["correct"] == {"//": 8, "%": 8, "*": 9, "-": 9, "+": 9}
    trace_study.save_exhaustive(merged, tmp_path, "_x", seconds=7.0)
    assert trace_study.load_exhaustive(tmp_path, "_x")["wrong_a"]["+"].tolist() == [1]
    assert trace_study.merge_exhaustive(division, report(("//",), 0))["correct"] == {"%": 8, "//": 10}


def test_each_gentle_round_goes_on_from_the_one_before_and_adds_its_wrong_problems():
    assert [trace_study.polish_name(r) for r in (1, 2, 3)] == ["polish", "polish2", "polish3"]
    assert trace_study.polish_checkpoint(3).name == "calculator10_polish3"
    assert trace_study.polish_sources(1) == trace_study.POLISH_SOURCES
    assert [path.name for path in trace_study.polish_sources(3)[-2:]] == ["10_wrong_polish.npz", "10_wrong_polish2.npz"]


def test_mean_model_is_the_weighted_mean_of_its_sources_and_keeps_the_last_training_record(tmp_path):
    config = model.ModelConfig(vocab_size=17, max_len=10, d_model=8, n_layers=1, n_heads=2, pos_encoding="learned")
    first, second = (model.init_params(jax.random.key(seed), config) for seed in (0, 1))
    checkpoint.save(tmp_path / "first", first, config, steps=100, train_minutes=1.0, train_flops=1.0)
    checkpoint.save(tmp_path / "second", second, config, steps=200, train_minutes=3.0, train_flops=2.0)
    params, mean_config, info = trace_study.mean_model(((tmp_path / "first", 0.6), (tmp_path / "second", 0.4)),
                                                       tmp_path / "mean")
    assert mean_config == config and info["steps"] == 200 and info["mean_of"] == {"first": 0.6, "second": 0.4}
    np.testing.assert_allclose(params["pos_embed"], 0.6 * first["pos_embed"] + 0.4 * second["pos_embed"], rtol=1e-6)
    reloaded, _, reloaded_info = trace_study.load_model(tmp_path / "mean")
    np.testing.assert_array_equal(reloaded["pos_embed"], params["pos_embed"])
    assert reloaded_info["train_minutes"] == 3.0
    other = model.ModelConfig(vocab_size=17, max_len=12, d_model=8, n_layers=1, n_heads=2, pos_encoding="learned")
    checkpoint.save(tmp_path / "other", model.init_params(jax.random.key(2), other), other)
    with pytest.raises(ValueError, match="different model configs"):
        trace_study.mean_model(((tmp_path / "first", 0.5), (tmp_path / "other", 0.5)), tmp_path / "bad")
