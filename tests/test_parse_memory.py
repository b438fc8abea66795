"""Memory bounds of the parser on the shapes that are one long line (issue 14): a 200,000-token
sum, 200,000-deep nestings. Each must give the right value and gradient, its parse must hold a
bounded number of bytes a token (tracemalloc counts Python's allocations exactly: the bound is
repeatable, not timed), and past what memory holds it must fail with a plain MemoryError that
leaves the parser and the garbage collector as they were.

What a long line costs is measured in bench/memory.py; these tests hold the parser to it.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from test_replay import outcome, programs

from circuit_backprop.core import engine
from circuit_backprop.core.graph import Graph
from circuit_backprop.lang import lalr
from circuit_backprop.lang import parse as parse_module
from circuit_backprop.lang.parse import parse


def value_and_gradient(text: str, x: float) -> tuple[float, float]:
    graph = parse(text)
    trace = engine.run(graph, {"x": x})
    return trace.output_value, trace.grads[graph.inputs["x"]]


def test_a_200k_token_line_of_sums_adds_up() -> None:
    n = 100_000  # `+x` a hundred thousand times: 200,001 tokens after `f =`
    text = "input x = 1\nf = x" + "+x" * n + "\n"
    assert len(text) > lalr.LONG_LINE  # (run in pieces)
    assert value_and_gradient(text, 0.5) == (0.5 * (n + 1), n + 1)


@pytest.mark.parametrize("n", [200_000, 20_001])
def test_200k_nested_negations_give_the_sign_of_their_count(n: int) -> None:
    sign = (-1) ** n
    assert value_and_gradient("f = " + "-" * n + "x\n", 0.5) == (sign * 0.5, sign)


def test_deep_parentheses_are_one_gate() -> None:
    n = 20_000
    graph = parse("f = " + "(" * n + "x" + ")" * n + " * 2")  # (no new line at the end)
    assert graph.ops == ["input", "const", "mul"]
    assert graph.text[graph.starts[2] : graph.ends[2]].endswith("x" + ")" * n + " * 2")
    assert value_and_gradient(graph.text, 0.25) == (0.5, 2)


def test_nested_products_to_the_right() -> None:
    n = 10_000  # x*(x*(...(x))): x to the power n + 1
    text = "f = " + "x*(" * n + "x" + ")" * n + "\n"
    assert value_and_gradient(text, 1.0) == (1.0, n + 1)


def test_nested_calls() -> None:
    n = 10_000  # sin(sin(...(x))): at 0, each sin is 0 and its derivative cos(0) = 1
    assert value_and_gradient("f = " + "sin(" * n + "x" + ")" * n, 0.0) == (0.0, 1.0)


# --- bytes a token --------------------------------------------------------------------------------

# Peak traced bytes of parse() a token of each shape, about 3x what was measured (bench/memory.py
# has the process's RSS): sum 40, neg 82 (a gate a token), parens 53, sin 53, rmul 76. Before the
# long-line path (lalr.LeanParser._long_line) each was about 1,050: a match object and a token
# each, held for the whole line.
SHAPES = {
    "sum": ("input x = 1\nf = x" + "+x" * 10_000 + "\n", 120),
    "neg": ("f = " + "-" * 20_000 + "x\n", 250),
    "parens": ("f = " + "(" * 10_000 + "x" + ")" * 10_000 + "\n", 160),
    "sin": ("f = " + "sin(" * 5_000 + "x" + ")" * 5_000 + "\n", 160),
    "rmul": ("f = " + "x*(" * 5_000 + "x" + ")" * 5_000 + "\n", 230),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_long_line_holds_a_bounded_number_of_bytes_a_token(shape: str) -> None:
    text, bound = SHAPES[shape]
    tokens = sum(1 for _ in parse_module._parser().lexer.finditer(text)) - 1  # (- the end)
    parse("f = x")  # (the parser made, its tables read, before counting)
    tracemalloc.start()
    try:
        parse(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak / tokens < bound, f"{peak / tokens:.0f} bytes a token"


# --- the long-line path builds what the chunked one builds ----------------------------------------


@pytest.fixture
def every_line_long(monkeypatch):
    """Every line is a long line (chunks of one character, none too short), in pieces of 3."""
    def run(text: str) -> tuple:
        with monkeypatch.context() as m:
            m.setattr(lalr, "CHUNK", 1)
            m.setattr(lalr, "LONG_LINE", 0)
            m.setattr(lalr, "PIECE", 3)
            return outcome(text)
    return run


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(programs())
def test_long_lines_give_what_short_ones_give(every_line_long, text) -> None:
    assert every_line_long(text) == outcome(text)


@pytest.mark.parametrize("text", [
    "f = (x", "f = x $ y", "f = x +", "input", "f = input * 2", "def f() = 1\ng = f()",
    "f = [[1, 2], [3, 4]] @ [1, -2]", "input W = [[1, 2]]\nf = W[0, -1]", "f = [1, [2]]",
    "f = sum(x, -1)", "f = -x^2 - -y * +z / 3  # the end", "input x = - 2.5e3\nx * x\n",
])
def test_long_lines_give_what_short_ones_give_on_hand_picked_programs(every_line_long,
                                                                       text) -> None:
    assert repr(every_line_long(text)) == repr(outcome(text))  # (repr: a default's array)


# --- past what memory holds -----------------------------------------------------------------------


def test_a_memory_error_in_a_callback_is_plain_and_leaves_the_parser_whole(monkeypatch) -> None:
    calls = 0
    add_node = Graph.add_node

    def failing_add_node(self, *args):  # noqa: ANN001, ANN002, ANN202
        nonlocal calls
        calls += 1
        if calls == 5_000:
            raise MemoryError
        return add_node(self, *args)

    text = "input x = 0.5\nf = " + "-" * 20_000 + "x\n"
    monkeypatch.setattr(Graph, "add_node", failing_add_node)
    gc.enable()
    with pytest.raises(MemoryError) as e:
        parse(text)
    assert type(e.value) is MemoryError
    assert gc.isenabled()
    monkeypatch.undo()
    assert value_and_gradient(text, 0.5) == (0.5, 1)
    assert value_and_gradient("v0 = x * 2\nv1 = v0 * 2\nv2 = v1 * 2\n", 1.0) == (8, 8)


MEMORY_LIMITED = textwrap.dedent("""
    import gc, resource
    from circuit_backprop.lang.parse import parse

    parse("f = x")
    text = "f = " + "x*(" * 1_000_000 + "x" + ")" * 1_000_000  # about 250 MB to parse
    with open("/proc/self/status") as status:
        size = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize"))
    resource.setrlimit(resource.RLIMIT_AS, (size + 32 * 2**20, resource.RLIM_INFINITY))
    gc.enable()
    try:
        parse(text)
    except MemoryError as e:
        assert type(e) is MemoryError, type(e)
        error = e
    else:
        raise SystemExit("parsed: no MemoryError")
    del error
    assert gc.isenabled()
    g = parse("v0 = x * 2\\nv1 = v0 * 2\\nv2 = v1 + v0\\n")
    assert g.ops == ["input", "const", "mul", "const", "mul", "add"], g.ops
    print("ok")
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc: Linux")
def test_past_the_memory_limit_a_parse_raises_a_plain_memory_error() -> None:
    done = subprocess.run([sys.executable, "-c", MEMORY_LIMITED], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


@pytest.mark.parametrize("text", [
    "f = x" + "+x" * 2_000,
    "f = " + "sin(" * 500 + "x" + ")" * 500,
    "f = x" + "\t+  x" * 500,  # (not plain: spans cleaned of tabs and double spaces)
])
def test_the_sources_of_a_long_line_are_each_gates_own_shortened(text: str) -> None:
    # (sources() slices at most limit + 1 characters of each span, not the whole of it: the
    # gates of a 1M-token line span a million characters each)
    graph = parse(text)
    sources = graph.sources(0, len(graph))
    assert sources == [graph.source(node) for node in range(len(graph))]
    assert max(map(len, sources)) == 80 and sources[-1].endswith("…")
