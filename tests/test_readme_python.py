"""The README's Python section runs as a doctest: the documented API cannot drift."""

from __future__ import annotations

import doctest
import os

from tests.conftest import REPO


def _python_example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- python-example -->", 1)[1]
    return block.split("```pycon\n", 1)[1].split("```", 1)[0]


def test_the_readme_python_example_runs_as_shown(monkeypatch):
    monkeypatch.chdir(REPO)  # it loads circuits/staged.circ
    example = _python_example()
    assert ">>> r = c.backward(x=3, y=-4, z=19)" in example
    test = doctest.DocTestParser().get_doctest(example, {}, "README", "README.md", 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted >= 12
    assert result.failed == 0, f"{result.failed} README example(s) failed (see output above)"
    assert os.getcwd() == str(REPO)
