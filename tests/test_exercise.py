"""The notebooks' exercise check: a stub is "not written yet", a right answer passes, a wrong one raises."""
import pytest

from shared import exercise


def _test_double(double):
    assert double(3) == 6, f"double(3) gave {double(3)}, expected 6"


def test_a_stub_is_not_written_yet(capsys):
    def double(x):
        raise NotImplementedError

    exercise.check(double, _test_double)
    assert "double: not written yet" in capsys.readouterr().out


def test_a_right_answer_passes(capsys):
    exercise.check(lambda x: 2 * x, _test_double)
    assert "passes the check" in capsys.readouterr().out


def test_a_wrong_answer_raises_the_tests_message(capsys):
    with pytest.raises(AssertionError, match="double\\(3\\) gave 9, expected 6"):
        exercise.check(lambda x: x * x, _test_double)
    assert capsys.readouterr().out == ""
