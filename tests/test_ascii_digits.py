"""Numbers in programs are ASCII digits only: `\\d` and float() also take Arabic-Indic (٣) and
full-width (１２) digits, which read as 3 and 12 and silently changed what a program means."""

import pytest

import circuit_backprop as cb


@pytest.mark.parametrize("text, column", [("f = x * ٣", 9), ("f = x * １２", 9), ("f = x * 1٣", 10),
                                          ("f = x * 2e٣", 10)])
def test_a_unicode_digit_in_a_program_is_a_syntax_error(text: str, column: int) -> None:
    with pytest.raises(cb.SourceError) as info:
        cb.Circuit(text).eval(x=3)
    assert (info.value.line, info.value.column) == (1, column)
    assert "unexpected" in str(info.value)


def test_ascii_numbers_still_read() -> None:
    assert cb.Circuit("f = x * 12 + .5 + 1.5e1").eval(x=3).value == 3 * 12 + 0.5 + 15.0
