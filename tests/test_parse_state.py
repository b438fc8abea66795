"""parse() keeps no state between parses: each has a builder of its own (so one parser serves a
parse that runs inside another), and the garbage collector it pauses is restored, error or not."""

from __future__ import annotations

import gc

import pytest

from circuit_backprop.errors import SourceError
from circuit_backprop.lang import lalr
from circuit_backprop.lang import parse as parse_module


@pytest.fixture
def collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


class _NestingBuilder(parse_module._Builder):
    """Parses another program, with the same parser, in the middle of its first assignment."""

    parser: lalr.LeanParser
    inner: list

    def __init__(self, text: str, nest: bool = True) -> None:
        super().__init__(text)
        self.nest = nest

    def assign(self, name_tok, ref) -> None:
        if self.nest:
            self.nest = False
            inner_text = "q = a / b"
            self.inner.append(self.parser.parse(inner_text, _NestingBuilder(inner_text, False)))
        super().assign(name_tok, ref)


def test_a_parse_inside_another_leaves_the_outer_one_whole() -> None:
    parser = lalr.LeanParser(parse_module._tables(), _NestingBuilder)
    _NestingBuilder.parser, _NestingBuilder.inner = parser, []
    text = "input x = 2\nf = x * y\ng = f + 1"
    outer = parser.parse(text, _NestingBuilder(text))
    assert outer.ops == ["input", "input", "mul", "const", "add"]
    assert list(outer.names) == ["x", "y", "f", None, "g"]
    assert outer.inputs == {"x": 0, "y": 1} and outer.defaults == {"x": 2.0}
    assert outer.names[outer.output] == "g"
    (q,) = _NestingBuilder.inner
    assert q.ops == ["input", "input", "div"] and list(q.names) == ["a", "b", "q"]
    assert q.text == "q = a / b" and q.output == 2


def test_the_collector_is_paused_during_a_parse_and_on_after(monkeypatch, collector_on) -> None:
    seen = []
    real_finish = parse_module._Builder.finish

    def finish(self):
        seen.append(gc.isenabled())
        return real_finish(self)

    monkeypatch.setattr(parse_module._Builder, "finish", finish)  # (looked up at each parse)
    parse_module.parse("f = x * 2")
    assert seen == [False]
    assert gc.isenabled()


@pytest.mark.parametrize("text", ["f = x *", "f = x $ 2", "f = 1e999", "f = ln(x)"])
def test_the_collector_is_back_on_after_an_error(collector_on, text) -> None:
    with pytest.raises(SourceError):
        parse_module.parse(text)
    assert gc.isenabled()


def test_a_collector_the_caller_turned_off_stays_off(collector_on) -> None:
    gc.disable()
    parse_module.parse("f = x * 2")
    assert not gc.isenabled()
    with pytest.raises(SourceError):
        parse_module.parse("f = x *")
    assert not gc.isenabled()
