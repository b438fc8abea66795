"""The parser replays recorded lines (lalr.LeanParser._segment): a replayed line must give exactly
what the step-by-step LALR loop gives, the same graph or the same error."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from circuit_backprop.core.graph import Graph
from circuit_backprop.errors import SourceError
from circuit_backprop.lang import lalr
from circuit_backprop.lang import parse as parse_module

TEMPLATES = [
    "{n} = {a} * {b}",
    "{n} = tanh({a} * {b} + {c})",
    "{n}={a}*{b}",
    "{n} = {a} + {num}",
    "{n} = -{a}^2 ** {b}",
    "{n} = ({a} + {b}) / {c}  # a comment",
    "{n} = max({a}, {b})",
    "input {n} = {num}",
    "input {n}",
    "def sq(t) = t * t",
    "def mix(p, q) = p * sig(q)",
    "def sig(t) = 1 / (1 + exp(-t))",
    "{n} = sq({a}) + mix({a}, {b})",
    "{n} = {a}; {m} = {b} * 2",
    "{n} = {a} {b}",  # a syntax error
    "{n} = log({a}, {b})",  # wrong arity
    "{n} = 1e999 * {a}",  # a number too large
    "output {a}",
    "{a} * {b}",  # a bare expression
    "",
    "# only a comment",
    "{n} = {a} $ {b}",  # an unexpected character
]
NAMES = ["a", "b", "c", "x", "y", "v1", "v2", "e", "pi"]


@st.composite
def programs(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(1, 25))):
        template = draw(st.sampled_from(TEMPLATES))
        pick = {k: draw(st.sampled_from(NAMES)) for k in ("n", "m", "a", "b", "c")}
        pick["num"] = draw(st.sampled_from(["2", "0.5", "3e2", "-1"]))
        lines.append(template.format(**pick))
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "  # end"]))


def snapshot(g: Graph) -> tuple:
    return (g.ops, list(g.args), list(g.names), dict(g.consts), list(g.starts), list(g.ends),
            g.inputs, g.defaults, g.output, sorted(g.custom_ops))


def outcome(text: str) -> tuple:
    try:
        return ("graph", snapshot(parse_module.parse(text)))
    except SourceError as e:
        return ("error", e.message, e.position, tuple(e.details))


@pytest.fixture
def segments():
    """The parser's recorded lines, emptied before and after the test."""
    recorded = parse_module._parser().segments
    recorded.clear()
    yield recorded
    recorded.clear()


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(programs())
def test_replayed_lines_give_what_the_table_walk_gives(segments, monkeypatch, text) -> None:
    segments.clear()
    with monkeypatch.context() as m:
        m.setattr(lalr, "MAX_SEGMENTS", 0)  # nothing recorded: every line walks the table
        walked = outcome(text)
    assert not segments
    first = outcome(text)  # records each shape of line the first time, replays the others
    again = outcome(text)  # every line of a valid program is now a replay
    assert first == walked
    assert again == walked


def test_a_generated_program_replays_all_but_its_first_lines(segments) -> None:
    lines = ["input x = 0.5"] + [f"v{k} = tanh(x * {k}.5 + x)" for k in range(1000)]
    g = parse_module.parse("\n".join(lines) + "\n")
    assert len(g) == 1 + 4 * 1000  # x, then a constant and three gates a line
    assert len(segments) <= 4  # a handful of (stack, shape) pairs for 1,001 lines
    assert g.names[g.output] == "v999"
    last = g.output
    assert g.ops[last] == "tanh" and g.text[g.starts[last] : g.ends[last]] == (
        "tanh(x * 999.5 + x)")
    mul = g.args[g.args[last][0]][0]
    assert g.ops[mul] == "mul" and g.consts[g.args[mul][1]] == 999.5


def test_an_error_on_a_replayed_line_is_reported_where_it_is(segments) -> None:
    text = "".join(f"v{k} = x * {k}\n" for k in range(50)) + "v7 = x * 2\n"
    with pytest.raises(SourceError) as e:
        parse_module.parse(text)
    assert e.value.message == "'v7' is assigned twice: on line 8 and on line 51"
    assert (e.value.position.line, e.value.position.column) == (51, 1)
    text = "".join(f"v{k} = x * {k}\n" for k in range(50)) + "v50 = x * * 2\n"
    with pytest.raises(SourceError) as e:
        parse_module.parse(text)
    assert (e.value.position.line, e.value.position.column) == (51, 11)  # the second "*"


@pytest.mark.parametrize("ending", ["  # the end", "\n# the end", "  \t", "\n\n  # x\n  ", ";"])
def test_ignored_text_at_the_very_end_is_ignored(ending) -> None:
    # (the lexer once let a final comment give back its last word: `# the end` ended in NAME d)
    g = parse_module.parse("q = x * 2" + ending)
    assert g.ops == ["input", "const", "mul"]
    assert g.names[g.output] == "q"
    assert g.text[g.starts[g.output] : g.ends[g.output]] == "x * 2"
