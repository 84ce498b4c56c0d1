"""Notebook 12's data: the generator, the canonical writer, the parser and the splits."""
import numpy as np
import pytest

from shared import polynomials as P


@pytest.fixture(scope="module")
def sample():
    return P.sample(100_000, np.random.default_rng(0))


def text(coeffs):
    return P.to_text(P.render(np.atleast_2d(coeffs)))[0]


def test_the_references_example_and_the_canonical_spellings():
    poly = P.parse(P.from_text(["-3x^3+4x^2-4"]))[0]
    assert text(P.derivative(poly)) == "-9x^2+8x"
    assert text([1, -1, 1, 0, 0, 0]) == "x^2-x+1"                 # no 1x, no x^1
    assert text([0, 1, 0, 0, 0, 0]) == "x" and text(P.derivative([[0, 1, 0, 0, 0, 0]])) == "1"
    assert text([0, 0, 0, 0, 0, -5]) == "-5x^5" and text(P.derivative([[0, 0, 0, 0, 0, -5]])) == "-25x^4"
    assert text([0] * 6) == "0"


def test_sample_follows_the_documented_distribution(sample):
    degree = P.degree(sample)
    assert set(np.unique(degree)) == {1, 2, 3, 4, 5}
    np.testing.assert_allclose(np.bincount(degree)[1:] / len(sample), 0.2, atol=0.01)     # uniform degree
    leading = sample[np.arange(len(sample)), degree]
    assert set(np.unique(leading)) == set(range(-5, 0)) | set(range(1, 6))
    power = np.arange(P.POWERS)
    lower = power < degree[:, None]
    np.testing.assert_allclose((sample != 0)[lower].mean(), 0.5, atol=0.01)             # each lower power: 1/2
    assert not (sample[power > degree[:, None]]).any()
    assert np.abs(sample).max() == 5


def test_render_then_parse_gives_back_every_polynomial_and_derivative(sample):
    for coeffs in (sample, P.derivative(sample)):
        tokens = P.render(coeffs)
        back, readable = P.parse(tokens)
        assert readable.all()
        np.testing.assert_array_equal(back, coeffs)
    assert (P.render(sample) != P.PAD).sum(axis=1).max() <= 25    # "-5x^5-5x^4-5x^3-5x^2-5x-5"


def test_derivative_agrees_with_numpy(sample):
    for coeffs in sample[:500]:
        expected = np.polyder(np.poly1d(coeffs[::-1]))
        got = np.poly1d(P.derivative(coeffs[None])[0][::-1])
        assert got == expected


def test_parser_reads_any_correct_spelling_and_rejects_the_rest():
    readable = ["1x^1+3x^0", "+3", "x^0", "3x^2 + 2x", "-x", "0", "007"]
    coeffs, ok = P.parse(P.from_text(readable))
    assert ok.all()
    assert coeffs[0].tolist() == [3, 1, 0, 0, 0, 0] and coeffs[1, 0] == 3 and coeffs[3].tolist()[:3] == [0, 2, 3]
    unreadable = ["", "3x^", "++3", "x^6", "3xx", "x+x", "1234x", "3-", "^2", "x^23", "2x-x"]
    coeffs, ok = P.parse(P.from_text(unreadable))
    assert not ok.any() and not coeffs.any()


def test_parser_stops_at_padding_and_end_tokens():
    tokens = P.render([[1, 2, 0, 0, 0, 0]])
    with_end = np.concatenate([tokens[:, :2], [[P.END, P.X]]], axis=1)   # "2x</s>x": read up to </s>
    coeffs, ok = P.parse(with_end)
    assert ok[0] and coeffs[0].tolist() == [0, 2, 0, 0, 0, 0]


def test_from_text_names_an_unknown_character():
    with pytest.raises(ValueError, match="unknown character 'y'"):
        P.from_text(["3y^2"])


def test_splits_never_share_a_polynomial(sample):
    with pytest.raises(ValueError, match="three non-negative shares of 1"):
        P.split_of(sample, fractions=(0.5, 0.6, 0.1))
    split = P.split_of(sample)
    for a, b in ((0, 1), (0, 2), (1, 2)):
        assert not np.intersect1d(P.ids(sample[split == a]), P.ids(sample[split == b])).size
    np.testing.assert_allclose(np.bincount(split, minlength=3) / len(sample), (0.9, 0.05, 0.05), atol=0.01)
    np.testing.assert_array_equal(split, P.split_of(sample))                                  # deterministic


def test_ids_and_from_ids_are_inverse(sample):
    np.testing.assert_array_equal(P.from_ids(P.ids(sample)), sample)
