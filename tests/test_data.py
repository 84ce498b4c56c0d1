import jax
import numpy as np
import pytest

from shared import data


def test_encode_decode_round_trip():
    text = "#72+90=162#" + data.VOCAB
    ids = data.encode(text)
    assert ids.dtype == np.int32 and ids.shape == (len(text),)
    assert data.decode(ids) == text
    assert list(data.encode(data.VOCAB)) == list(range(16))


@pytest.mark.parametrize("bad", ["12a+3", "7 x 5", "1.5+2", "é"])
def test_encode_rejects_characters_outside_the_vocabulary(bad):
    with pytest.raises(ValueError, match="not in the vocabulary"):
        data.encode(bad)


def _evaluate_row(text: str) -> bool:
    """Check one decoded row '#a op b=c#...' by plain Python arithmetic."""
    assert text[0] == "#"
    body = text[1:].split("#")[0]
    lhs, rhs = body.split("=")
    for op, fn in (("*", int.__mul__), ("+", int.__add__), ("-", int.__sub__)):
        if op in lhs:
            a, b = lhs.split(op)
            return fn(int(a), int(b)) == int(rhs) and text[len(body) + 1:] == "#" * (len(text) - len(body) - 1)
    raise AssertionError(text)


@pytest.mark.parametrize("op", ["+", "-", "*"])
def test_every_generated_row_is_arithmetically_right(op):
    a, b = data.all_pairs(99)
    rows = data.make_sequences(a, b, op)
    assert rows.shape == (10_000, data.SEQ_LEN)
    assert all(_evaluate_row(data.decode(row)) for row in rows)


def test_larger_operands_and_overflow_is_an_error():
    rows = data.make_sequences(np.array([999, 0]), np.array([999, 7]), "*", seq_len=16)
    assert data.decode(rows[0]) == "#999*999=998001#"
    with pytest.raises(ValueError, match="seq_len"):
        data.make_sequences(np.array([999]), np.array([999]), "*")  # needs 16 > 13


def test_bad_builder_arguments_raise_value_error():
    with pytest.raises(ValueError, match="unknown operator"):
        data.make_sequences(np.array([1]), np.array([2]), "^")
    with pytest.raises(ValueError, match="non-negative"):
        data.make_sequences(np.array([-1]), np.array([2]), "+")
    with pytest.raises(ValueError, match="division by zero"):
        data.make_sequences(np.array([1]), np.array([0]), "/")
    with pytest.raises(ValueError, match="max_operand must be at least 0"):
        data.make_dataset(max_operand=-3)
    with pytest.raises(ValueError, match="split empty"):       # one pair cannot be split in two
        data.make_dataset(max_operand=0)
    with pytest.raises(ValueError, match="operand_width must be a positive number"):
        data.NumberFormat(operand_width=0)
    with pytest.raises(ValueError, match="batch_size must be positive"):
        data.batch_layout(np.zeros((10, 3)), 0)


def test_every_row_builder_refuses_operands_that_are_not_whole_numbers():
    """``3.5`` was rounded down to 3 without a word, and an operand too large for 64 bits was an
    OverflowError; every builder of rows now checks its operands with ``data.as_operands``."""
    from shared import arithmetic, places, traces
    builders = {"data": lambda a, b: data.make_sequences(a, b, "+"), "arithmetic": lambda a, b: arithmetic.make_rows(a, b, "+"),
                "traces": lambda a, b: traces.make_rows(traces.get_format("worked"), a, b, "+"),
                "places": lambda a, b: places.make_rows(a, b, 20)[0]}
    for name, build in builders.items():
        np.testing.assert_array_equal(build(np.array([3.0]), np.array([4])), build(np.array([3]), np.array([4])))
        for bad, message in (([3.5], "whole numbers"), ([10 ** 30], "fit in 64 bits"), ([1, 2], "one shape"),
                             (["3"], "whole numbers, got arrays of <U1")):
            with pytest.raises(ValueError, match=message):
                build(np.array(bad), np.array([4]))


def test_split_is_deterministic_disjoint_and_complete():
    train1, test1 = data.make_dataset(seed=0)
    train2, test2 = data.make_dataset(seed=0)
    train3, _ = data.make_dataset(seed=1)
    assert (len(train1), len(test1)) == (7200, 2800)
    np.testing.assert_array_equal(train1.x, train2.x)
    np.testing.assert_array_equal(test1.a, test2.a)
    assert not np.array_equal(train1.a, train3.a)
    pairs = lambda s: set(zip(s.a.tolist(), s.b.tolist()))
    assert not pairs(train1) & pairs(test1)
    assert len(pairs(train1) | pairs(test1)) == 10_000


def test_targets_are_inputs_shifted_by_one():
    train, _ = data.make_dataset()
    rows = data.make_sequences(train.a, train.b, "+")
    np.testing.assert_array_equal(train.x, rows[:, :-1])
    np.testing.assert_array_equal(train.y, rows[:, 1:])
    np.testing.assert_array_equal(train.x[:, 1:], train.y[:, :-1])


def test_answer_mask_covers_answer_digits_and_eos_only():
    split = data.Split.from_operands(np.array([72, 3]), np.array([90, 50]))
    # '#72+90=162###' : targets y = '72+90=162###'; answer targets are '1','6','2' and the first '#'
    assert data.decode(split.y[0][split.answer_mask[0]]) == "162#"
    assert data.decode(split.y[1][split.answer_mask[1]]) == "53#"


def test_batch_layout_shapes_and_shuffle_is_a_permutation():
    train, _ = data.make_dataset()
    arrays = {"x": train.x, "y": train.y}
    batches = data.batch_layout(arrays, 256)
    assert batches["x"].shape == (7200 // 256, 256, 12)
    shuffled = data.shuffled_batches(jax.random.key(0), arrays, 256)
    assert shuffled["x"].shape == (28, 256, 12)
    flat = np.asarray(shuffled["x"]).reshape(-1, 12)
    assert not np.array_equal(flat, train.x[: len(flat)])         # the order changed ...
    rows = {r.tobytes() for r in train.x}
    assert all(r.tobytes() in rows for r in flat)                  # ... rows did not
    np.testing.assert_array_equal(np.asarray(shuffled["x"])[..., 1:], np.asarray(shuffled["y"])[..., :-1])
    with pytest.raises(ValueError, match="larger than"):
        data.batch_layout(arrays, 10_001)


def test_make_dataset_in_another_format_keeps_the_same_split():
    (blog_train, blog_test) = data.make_dataset()
    (rev_train, rev_test) = data.make_dataset(fmt=data.NumberFormat(reverse_answer=True))
    for blog, rev in ((blog_train, rev_train), (blog_test, rev_test)):
        np.testing.assert_array_equal(blog.a, rev.a)
        np.testing.assert_array_equal(blog.b, rev.b)
    row = int(np.flatnonzero((rev_test.a + rev_test.b) >= 100)[0])   # a 3-digit sum shows the order
    a, b = int(rev_test.a[row]), int(rev_test.b[row])
    answer = data.decode(rev_test.y[row]).split("=")[1].strip("#")
    assert answer == str(a + b)[::-1]
