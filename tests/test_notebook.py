"""docs/seed.ipynb runs with a real Jupyter kernel, shows the seed's numbers, and its stored
outputs are what it gives today."""

from __future__ import annotations

import copy
import re

import nbformat
from nbclient import NotebookClient

from tests.conftest import REPO

NOTEBOOK = REPO / "docs" / "seed.ipynb"


def _results(nb) -> list[str]:
    """The text/plain of every cell's result, in order."""
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "execute_result":
                found.append(out["data"]["text/plain"])
    return found


def _executed():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    stored = copy.deepcopy(nb)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(REPO)}}).execute()
    return stored, nb


def test_the_seed_notebook_runs_and_shows_the_seed_numbers():
    stored, nb = _executed()
    errors = [out for cell in nb.cells for out in cell.get("outputs", [])
              if out.get("output_type") == "error"]
    assert errors == []
    results = _results(nb)
    # by hand: f, then (dq, dx, dy, dz)
    assert "(-95, (19, 19, 38, -5))" in results
    # by circuit: f, ∂f/∂q, ∂f/∂x, ∂f/∂y, ∂f/∂z
    assert "(-95.0, 19.0, 19.0, 38.0, -5.0)" in results
    # torch agrees on every gate, intermediate q included
    assert "(True, {'x': 19.0, 'y': 38.0, 'z': -5.0, 'q': 19.0, 'f': 1.0})" in results
    # two passes without resetting .grad: twice the gradients; reset: right again
    assert "(38.0, 76.0, -10.0)" in results
    assert "(19.0, 38.0, -5.0)" in results
    # requires_grad on q: q is a leaf with ∂f/∂q = 19, nothing before it gets a gradient
    assert "{'x': None, 'y': None, 'z': None, 'q': 19.0, 'f': None}" in results
    # the tables display as HTML and the drawing as SVG
    kinds = [set(out.get("data", {})) for cell in nb.cells for out in cell.get("outputs", [])]
    assert sum("text/html" in k for k in kinds) >= 4
    assert any("image/svg+xml" in k for k in kinds)
    html = next(out["data"]["text/html"] for cell in nb.cells for out in cell.get("outputs", [])
                if "text/html" in out.get("data", {}))
    assert "Backward pass" in html and re.search(r">\s*-95\s*<", html)
    # the stored outputs are today's (no stale notebook in the repository)
    assert _results(stored) == results
