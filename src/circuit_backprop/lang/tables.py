"""The LALR tables of grammar.lark, shipped inside the package as grammar_tables.py.

Lark works the tables out from the grammar; that, with importing Lark, is about 25 ms, which a
command-line tool should not pay at every start. So no run does it: when grammar.lark changes,

    python -m circuit_backprop.lang.tables --write

has Lark make the tables (lalr.tables_from_lark) and writes them into grammar_tables.py, a
module of plain literals and nothing else, which is committed and installed with the package.
A run imports it as any other module of the package (Python's bytecode cache makes that a
fraction of a millisecond) and never imports Lark. No file outside the package is read or
written for the tables: what another user could write, or a damaged file, cannot change a
result.

`--check`, and tests/test_grammar_tables.py, make the tables again with the installed Lark and
fail if they differ from grammar_tables.py, or if grammar.lark is not the text it was made from
(its SHA-256 is in the file).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from circuit_backprop.lang.lalr import RuleSpec, Tables

HERE = Path(__file__).parent
GRAMMAR = HERE / "grammar.lark"
GENERATED = HERE / "grammar_tables.py"
REGENERATE = "python -m circuit_backprop.lang.tables --write"
WIDTH = 99  # (ruff's line length is 100)


def shipped_tables() -> Tables:
    """The tables in grammar_tables.py, the package's own module: a run reads nothing else."""
    from circuit_backprop.lang import grammar_tables as t

    states = {state: _actions(*actions) for state, actions in t.STATES.items()}
    return Tables(states, [RuleSpec(**rule) for rule in t.RULES], t.START_STATE, t.END_STATE,
                  t.LEXER, t.KEYWORDS, t.KEPT)


def _actions(shifts: dict[str, int], reductions: dict[str, int]) -> dict[str, tuple[str, int]]:
    """A state's actions as Tables has them, from the file's two maps: symbol -> the state it
    shifts to, symbol -> the rule it reduces by. (Two maps of numbers are about half the text
    of one map of pairs, and compile faster where no bytecode is kept.)"""
    actions = {symbol: ("shift", state) for symbol, state in shifts.items()}
    actions.update((symbol, ("reduce", rule)) for symbol, rule in reductions.items())
    return actions


def _shifts_and_reductions(actions: dict[str, tuple[str, int]]) -> tuple[dict, dict]:
    return ({symbol: arg for symbol, (what, arg) in actions.items() if what == "shift"},
            {symbol: arg for symbol, (what, arg) in actions.items() if what == "reduce"})


def grammar_sha256(text: str) -> str:
    import hashlib  # (not at run time: it loads OpenSSL)

    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def tables_from_grammar(text: str) -> Tables:
    """What Lark makes of the grammar `text` (this imports Lark)."""
    from lark import Lark

    from circuit_backprop.lang.lalr import tables_from_lark

    return tables_from_lark(Lark(text, parser="lalr", maybe_placeholders=True))


def generated_source() -> str:
    """grammar_tables.py as it should be: the tables that the installed Lark makes of
    grammar.lark, written out."""
    text = GRAMMAR.read_text("utf-8")
    return module_source(tables_from_grammar(text), grammar_sha256(text))


def module_source(tables: Tables, grammar_hash: str) -> str:
    """The tables as a module of literals: one assignment of a literal per field of Tables."""
    values: dict[str, Any] = {
        "GRAMMAR_SHA256": grammar_hash,
        "START_STATE": tables.start_state,
        "END_STATE": tables.end_state,
        "LEXER": tables.lexer,
        "KEYWORDS": tables.keywords,
        "KEPT": tables.kept,
        "RULES": [asdict(rule) for rule in tables.rules],
        "STATES": {state: _shifts_and_reductions(actions)
                   for state, actions in tables.states.items()},
    }
    header = ('"""The LALR(1) tables that Lark makes of grammar.lark (see tables.py). Generated'
              f' by\n`{REGENERATE}`: do not edit.\n\n'
              "STATES: state -> ({symbol: the state it shifts to}, {symbol: the rule it reduces"
              ' by, an\nindex into RULES})."""\n')
    body = "".join(f"\n{name} = {_literal(value, 0, len(name) + 3)}\n"
                   for name, value in values.items())
    return header + body


def _literal(value: Any, indent: int, column: int) -> str:
    """`value` (str, int, bool, None, and lists, tuples and dicts of them) as Python source,
    written from `column` on a line indented by `indent`: on that line if it fits in WIDTH
    (with a comma after it), else one item a line. Written here rather than with pprint, whose
    layout may change from one Python to the next: the file is compared as text."""
    flat = repr(value)
    if column + len(flat) + 1 <= WIDTH or not isinstance(value, str | list | tuple | dict):
        return flat
    inner = " " * (indent + 4)
    if isinstance(value, str):
        lines = [inner + part for part in _string_parts(value, WIDTH - len(inner))]
        brackets = "()"
    elif isinstance(value, dict):
        lines = [f"{inner}{key!r}: {_literal(item, indent + 4, len(inner) + len(repr(key)) + 2)},"
                 for key, item in value.items()]
        brackets = "{}"
    else:
        lines = [f"{inner}{_literal(item, indent + 4, len(inner))}," for item in value]
        brackets = "[]" if isinstance(value, list) else "()"
    return "\n".join([brackets[0], *lines, " " * indent + brackets[1]])


def _string_parts(text: str, width: int) -> list[str]:
    """`text` as string literals of at most `width` characters each, to be put side by side:
    each ends after a `|` where one fits (the lexer's expression then reads as alternatives)."""
    parts, start = [], 0
    while start < len(text):
        end = start + 1
        while end < len(text) and len(repr(text[start : end + 1])) <= width:
            end += 1
        bar = text.rfind("|", start, end)
        if end < len(text) and bar > start:
            end = bar + 1
        parts.append(repr(text[start:end]))
        start = end
    return parts


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m circuit_backprop.lang.tables",
        description="Make the LALR tables of grammar.lark with Lark, into grammar_tables.py.")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="write grammar_tables.py")
    action.add_argument("--check", action="store_true",
                        help="exit 1 if grammar_tables.py is not what Lark makes of grammar.lark")
    args = parser.parse_args(argv)
    source = generated_source()
    if args.write:
        GENERATED.write_text(source, "utf-8")
        print(f"wrote {GENERATED}")
        return 0
    if GENERATED.read_text("utf-8") != source:
        print(f"{GENERATED} is not what Lark makes of grammar.lark: run `{REGENERATE}`")
        return 1
    print(f"{GENERATED} is up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
