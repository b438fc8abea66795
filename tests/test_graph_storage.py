"""The graph's compact columns (graph.Consts, graph.Names) behave as the dict and list they
stand in for."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from circuit_backprop.core.graph import Consts, Graph, Names
from circuit_backprop.lang.parse import parse

OPERATIONS = st.lists(
    st.tuples(st.sampled_from(["set", "del", "get"]), st.integers(0, 40),
              st.floats(allow_nan=False)),
    max_size=60,
)


@given(OPERATIONS)
def test_consts_agree_with_a_dict(operations) -> None:
    consts, model = Consts(), {}
    for what, node, value in operations:
        if what == "set":
            consts[node] = value
            model[node] = value
        elif what == "del":
            if node in model:
                del consts[node]
                del model[node]
            else:
                with pytest.raises(KeyError):
                    del consts[node]
        else:
            assert consts.get(node) == model.get(node)
        assert dict(consts) == model
        assert list(consts) == sorted(model)  # (kept in node order)
        assert len(consts) == len(model)


def test_names_are_spans_of_the_text_or_strings_of_their_own() -> None:
    names = Names("v12 = x * 2")
    for _ in range(4):
        names.append(None)
    names.set_span(0, 0, 3)
    names[1] = "x"
    names.append("f")
    assert list(names) == ["v12", "x", None, None, "f"]
    assert names[0:2] == ["v12", "x"]
    names[0] = None
    names.set_span(1, 0, 3)
    assert list(names) == [None, "v12", None, None, "f"]
    assert names.other == {4: "f"}
    with pytest.raises(IndexError):
        names[5]


def test_a_parsed_graph_names_its_statements_inputs_and_bare_output() -> None:
    g: Graph = parse("input x = 2\nq = x + 3\nr = q\ne * r")
    named = g.named_nodes()
    assert set(named) == {"x", "q", "r", "e", "f"}  # e: the constant, used before no input e
    assert g.names.other[named["f"]] == "f"  # not in the text: kept as a string
    assert g.names.start[named["q"]] == g.text.index("q =")  # a statement's name: its span
    assert g.consts[named["e"]] == pytest.approx(2.718281828459045)
    assert list(g.consts) == [1, named["e"]] and g.consts[1] == 3.0  # node 1: the constant 3


def test_names_take_negative_indices_as_a_list_does() -> None:
    g = parse("y = x * 2\n3 * y")
    assert g.names[-1] == "f" == list(g.names)[-1]
    g.names[-1] = "zz"
    assert g.names[len(g) - 1] == "zz" == g.names.other[len(g) - 1]
    with pytest.raises(IndexError):
        g.names[-len(g) - 1]
