"""The views' number format (issue 10, "Architecture"): one frozen object holds the precision and
writes every number the tables, drawings, walkthrough and plots show."""

from __future__ import annotations

import dataclasses

import pytest

from circuit_backprop.views.numberformat import (
    DEFAULT_FORMAT,
    ERROR_FORMAT,
    NumberFormat,
    as_number_format,
    fmt,
)


def test_six_significant_digits_by_default():
    assert DEFAULT_FORMAT == NumberFormat() == NumberFormat(6)
    assert DEFAULT_FORMAT.value(1 / 3) == "0.333333"
    assert NumberFormat(2).value(1 / 3) == "0.33"
    assert NumberFormat(4).value(-123456.0) == "-1.235e+05"


def test_negative_zero_shows_as_zero_and_a_missing_value_as_a_dash():
    assert DEFAULT_FORMAT.value(-0.0) == "0"
    assert DEFAULT_FORMAT.value(None) == "—"


def test_terms_of_a_sum_put_negatives_in_parentheses():
    numbers = NumberFormat(3)
    assert numbers.term(1.5) == "1.5"
    assert numbers.term(-0.25) == "(-0.25)"
    assert numbers.term(-0.0) == "0"
    assert numbers.sum_of([1.5, -0.25, 2 / 3]) == "1.5 + (-0.25) + 0.667"


def test_at_most_only_ever_lowers_the_precision():
    assert NumberFormat(6).at_most(4) == NumberFormat(4)
    assert NumberFormat(2).at_most(4) == NumberFormat(2)


def test_it_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_FORMAT.precision = 3  # type: ignore[misc]


def test_an_entry_point_may_still_be_given_a_bare_precision():
    assert as_number_format(4) == NumberFormat(4)
    assert as_number_format(ERROR_FORMAT) is ERROR_FORMAT


def test_fmt_is_the_format_s_value():
    for x in (1 / 3, -0.0, None, 1e-300, -2.5e17):
        assert fmt(x) == DEFAULT_FORMAT.value(x)
        assert fmt(x, 3) == ERROR_FORMAT.value(x)
