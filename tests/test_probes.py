import numpy as np
import pytest

from shared import data, probes


def test_number_formats():
    a, b = np.array([7, 50, 99]), np.array([58, 1, 99])
    rows = lambda fmt: [data.decode(r).rstrip("#") for r in data.make_sequences(a, b, "+", fmt=fmt)]
    assert rows(data.BLOG_FORMAT) == ["#7+58=65", "#50+1=51", "#99+99=198"]
    assert rows(data.NumberFormat(operand_width=2, answer_width=3)) == ["#07+58=065", "#50+01=051", "#99+99=198"]
    assert rows(data.NumberFormat(reverse_answer=True)) == ["#7+58=56", "#50+1=15", "#99+99=891"]
    with pytest.raises(ValueError, match="more than 2 digits"):
        data.make_sequences(np.array([100]), np.array([1]), "+", fmt=data.NumberFormat(operand_width=2))


def test_grid_split_is_row_major():
    grid = probes.grid_split(99)
    assert len(grid) == 10_000
    assert (grid.a[57 * 100 + 3], grid.b[57 * 100 + 3]) == (57, 3)


def test_error_breakdown_counts_and_accuracies():
    a, b = data.all_pairs(99)
    correct = (a <= 50) & (b <= 50)                      # right exactly in range
    first_wrong = np.where(correct, -1, np.where(a + b >= 100, 0, 3))
    table = probes.error_breakdown(a, b, correct, first_wrong, limit=50)
    assert table["region"] == {"both out": (2401, 0.0), "in range": (2601, 1.0), "one out": (4998, 0.0)}
    carry = (a % 10 + b % 10) >= 10
    assert table["carry"]["ones carry"] == (int(carry.sum()), pytest.approx(correct[carry].mean()))
    assert sum(n for n, _ in table["answer length"].values()) == 10_000
    wrong_first = table["first wrong character"]
    assert wrong_first["char 0"][0] == int(((a + b >= 100) & ~correct).sum())
    assert wrong_first["end (#)"][0] == int(((a + b < 100) & ~correct).sum())
    text = probes.format_breakdown({"run": table})
    assert "region" in text and "in range" in text
