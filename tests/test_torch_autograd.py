"""Autograd's behaviour on the seed's circuit (x=3, y=-4, z=19), predicted by the engine and
confirmed by torch: which .grad holds a number, accumulation over passes, and torch's errors."""

from __future__ import annotations

import json

SEED = "q = x + 2*y    # 1\nf = q * z      # 2\n"
VALUES = ["--x", "3", "--y", "-4", "--z", "19"]


def autograd(run, *args: str) -> tuple[dict, dict]:
    out = run("backward", SEED, *VALUES, *args, "--json")
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)["autograd"]
    return doc, {n["name"]: n for n in doc["nodes"]}


def grads(nodes: dict) -> dict:
    return {name: n["grad"] for name, n in nodes.items()}


def test_default_every_input_requires_grad(run) -> None:
    doc, nodes = autograd(run, "--passes", "1", "--requires-grad", "x,y,z")
    assert grads(nodes) == {"x": 19.0, "y": 38.0, "z": -5.0, "q": None, "f": None}
    assert nodes["q"]["why"].startswith("non-leaf") and nodes["f"]["why"].startswith("non-leaf")
    assert doc["ok"] and doc["error"] is None and not doc["gradients_wrong"]
    assert doc["requires_grad"] == ["x", "y", "z"]


def test_requires_grad_on_q_only(run) -> None:
    doc, nodes = autograd(run, "--requires-grad", "q")
    assert grads(nodes) == {"x": None, "y": None, "z": None, "q": 19.0, "f": None}
    assert nodes["q"]["is_leaf"] and nodes["q"]["requires_grad"]
    assert nodes["f"]["requires_grad"] and not nodes["f"]["is_leaf"]
    assert not nodes["x"]["requires_grad"] and nodes["x"]["why"] == "does not require grad"
    assert doc["ok"]


def test_requires_grad_on_f_only(run) -> None:
    doc, nodes = autograd(run, "--requires-grad", "f")
    assert grads(nodes) == {"x": None, "y": None, "z": None, "q": None, "f": 1.0}
    assert not nodes["q"]["requires_grad"]
    assert doc["ok"]


def test_requires_grad_on_x_only(run) -> None:
    doc, nodes = autograd(run, "--requires-grad", "x")
    assert grads(nodes) == {"x": 19.0, "y": None, "z": None, "q": None, "f": None}
    assert nodes["q"]["requires_grad"] and not nodes["q"]["is_leaf"]
    assert nodes["q"]["why"].startswith("non-leaf")
    assert doc["ok"]


def test_a_detached_gate_cuts_off_the_inputs_before_it(run) -> None:
    doc, nodes = autograd(run, "--requires-grad", "x", "--requires-grad", "q")
    assert grads(nodes) == {"x": None, "y": None, "z": None, "q": 19.0, "f": None}
    assert "cut off" in nodes["x"]["why"]
    assert doc["ok"]


def test_a_leaf_off_the_path_to_the_output(run) -> None:
    out = run("backward", "d = exp(x); f = y*2", "--x", "1", "--y", "3", "--json",
              "--requires-grad", "x,y")
    nodes = {n["name"]: n for n in json.loads(out.stdout)["autograd"]["nodes"]}
    assert nodes["x"]["grad"] is None and "not on a path to the output" in nodes["x"]["why"]
    assert nodes["y"]["grad"] == 2.0


def test_nothing_requires_grad_is_an_explained_outcome(run) -> None:
    doc, nodes = autograd(run, "--requires-grad", "")
    assert all(n["grad"] is None and not n["requires_grad"] for n in nodes.values())
    assert doc["error"]["pass"] == 1
    assert "element 0 of tensors does not require grad and does not have a grad_fn" in (
        doc["error"]["message"])
    assert doc["predicted_error"]["pass"] == 1 and doc["ok"]
    out = run("backward", SEED, *VALUES, "--requires-grad", "")
    assert out.exit_code == 0, out.output
    assert "torch raised on pass 1: RuntimeError: element 0 of tensors does not require grad" \
        in out.stdout
    assert "Why: nothing that f depends on requires grad" in out.stdout
    assert "Traceback" not in out.output


def test_two_passes_without_reset_accumulate_and_are_called_wrong(run) -> None:
    doc, nodes = autograd(run, "--passes", "2")
    assert grads(nodes) == {"x": 38.0, "y": 76.0, "z": -10.0, "q": None, "f": None}
    assert doc["gradients_wrong"] and doc["completed_passes"] == 2 and doc["ok"]
    assert {n: nodes[n]["one_pass"] for n in "xyz"} == {"x": 19.0, "y": 38.0, "z": -5.0}
    out = run("backward", SEED, *VALUES, "--passes", "2")
    assert out.exit_code == 0
    assert "These gradients are WRONG" in out.stdout
    assert "x.grad = 38 = 2 × 19" in out.stdout
    assert "f.backward(retain_graph=True)" in out.stdout


def test_three_passes_triple(run) -> None:
    _, nodes = autograd(run, "--passes", "3")
    assert (nodes["x"]["grad"], nodes["y"]["grad"], nodes["z"]["grad"]) == (57.0, 114.0, -15.0)


def test_zero_grad_between_passes_keeps_them_right(run) -> None:
    doc, nodes = autograd(run, "--passes", "2", "--zero-grad")
    assert grads(nodes) == {"x": 19.0, "y": 38.0, "z": -5.0, "q": None, "f": None}
    assert not doc["gradients_wrong"] and doc["ok"]
    out = run("backward", SEED, *VALUES, "--passes", "2", "--zero-grad")
    assert "WRONG" not in out.stdout and "reset to None between the 2 passes" in out.stdout


def test_second_pass_without_retain_graph_is_an_explained_outcome(run) -> None:
    doc, nodes = autograd(run, "--passes", "2", "--no-retain-graph")
    assert doc["error"]["pass"] == 2 and doc["completed_passes"] == 1
    assert "Trying to backward through the graph a second time" in doc["error"]["message"]
    assert doc["predicted_error"]["pass"] == 2 and doc["ok"]
    assert grads(nodes) == {"x": 19.0, "y": 38.0, "z": -5.0, "q": None, "f": None}
    out = run("backward", SEED, *VALUES, "--passes", "2", "--no-retain-graph")
    assert out.exit_code == 0, out.output
    assert "torch raised on pass 2: RuntimeError: Trying to backward through the graph a " \
        "second time" in out.stdout
    assert "retain_graph=True" in out.stdout and "Traceback" not in out.output


def test_no_retain_graph_is_harmless_when_no_gate_saves_values(run) -> None:
    # + and - need no saved values, so torch can run backward twice even without retain_graph
    out = run("backward", "f = x + y - z", *VALUES, "--passes", "2", "--no-retain-graph",
              "--json")
    doc = json.loads(out.stdout)["autograd"]
    assert doc["error"] is None and doc["predicted_error"] is None and doc["ok"]
    assert doc["nodes"][0]["grad"] == 2.0


def test_the_table_shows_prediction_and_torch_side_by_side(run) -> None:
    out = run("backward", SEED, *VALUES, "--requires-grad", "q")
    assert out.exit_code == 0
    for header in ("requires_grad", "is_leaf", "predicted .grad", "torch .grad", "why"):
        assert header in out.stdout
    assert "did exactly what the engine predicted" in out.stdout


def test_unknown_requires_grad_name_is_a_usage_error(run) -> None:
    out = run("backward", SEED, *VALUES, "--requires-grad", "qq")
    assert out.exit_code == 2
    assert "'qq' is not an input or a named gate" in out.stderr
    assert "did you mean q?" in out.stderr


def test_check_torch_and_behaviour_together(run) -> None:
    out = run("backward", SEED, *VALUES, "--check-torch", "--passes", "2", "--json")
    doc = json.loads(out.stdout)
    assert doc["torch"]["ok"] and doc["autograd"]["gradients_wrong"]
    # the per-gate proof uses retain_grad(); the behaviour run does not
    q = next(g["id"] for g in doc["gates"] if g["name"] == "q")
    assert doc["torch"]["gates"][q]["grad"] == 19.0
    assert next(n for n in doc["autograd"]["nodes"] if n["name"] == "q")["grad"] is None


def test_a_def_saves_values_only_if_its_body_does(run) -> None:
    for body, fails in (("a + 1", False), ("a * a", True)):
        out = run("backward", f"def g(a) = {body}\nf = g(x) - y", "--x", "2", "--y", "1",
                  "--passes", "2", "--no-retain-graph", "--json")
        assert out.exit_code == 0, out.output
        doc = json.loads(out.stdout)["autograd"]
        assert doc["ok"] and (doc["error"] is not None) == fails
