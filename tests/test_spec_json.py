"""Spec: the --json schema (schema 1)."""

from __future__ import annotations

import math

import pytest

from circuit_backprop.core.ops import OPS as REGISTRY

SEED = "q = x + 2*y; f = q*z"
SEED_ARGS = ["--x", "3", "--y", "-4", "--z", "19"]

OPS = {"input", "const", *REGISTRY}  # every op the registry has, and the two node kinds


def by_id(data):
    return {g["id"]: g for g in data["gates"]}


def gate_named(data, name):
    found = [g for g in data["gates"] if g.get("name") == name]
    assert len(found) == 1, f"expected exactly one gate named {name!r}, got {found}"
    return found[0]


def check_structure(data, backward: bool):
    gates = data["gates"]
    assert isinstance(gates, list) and gates
    ids = [g["id"] for g in gates]
    assert len(set(ids)) == len(ids), "duplicate gate ids"
    assert all(isinstance(i, int) for i in ids)
    seen = set()
    for g in gates:
        assert g["op"] in OPS, g
        assert g["name"] is None or isinstance(g["name"], str)
        assert isinstance(g["source"], str) and len(g["source"]) <= 80
        assert isinstance(g["line"], int) and g["line"] >= 1
        assert isinstance(g["column"], int) and g["column"] >= 1
        assert isinstance(g["value"], (int, float))
        for i in g["inputs"]:
            assert i < g["id"], f"gate {g['id']} has input {i} not before it"
            assert i in seen, f"gate {g['id']} refers to {i} which is not listed before it"
        seen.add(g["id"])
        if g["op"] in ("input", "const"):
            assert g["inputs"] == []
        if backward:
            assert isinstance(g["grad"], (int, float))
            assert len(g["local"]) == len(g["inputs"])
            assert len(g["downstream"]) == len(g["inputs"])
            for loc, down in zip(g["local"], g["downstream"], strict=True):
                if loc is not None and down is not None:
                    assert down == pytest.approx(g["grad"] * loc, rel=1e-12, abs=1e-300)
        else:
            for key in ("grad", "local", "downstream"):
                assert key not in g, f"eval JSON gate has {key!r}"


def check_grad_is_sum_of_downstream(data):
    gates = by_id(data)
    out_gate = [g for g in data["gates"] if g.get("name") == data["output"]]
    incoming = {i: 0.0 for i in gates}
    has_null = set()
    for g in data["gates"]:
        for i, down in zip(g["inputs"], g["downstream"], strict=True):
            if down is None:
                has_null.add(i)
            else:
                incoming[i] += down
    for i, g in gates.items():
        if i in has_null or (out_gate and g is out_gate[0]):
            continue
        if any(i in h["inputs"] for h in data["gates"]):
            assert g["grad"] == pytest.approx(incoming[i], rel=1e-12, abs=1e-12), g


# ---------------------------------------------------------------- seed


def test_backward_seed_top_level(run_json):
    data = run_json("backward", SEED, *SEED_ARGS, "--json")
    assert data["schema"] == 1
    assert data["output"] == "f"
    assert data["value"] == -95.0
    assert data["inputs"] == {"x": 3.0, "y": -4.0, "z": 19.0}
    assert data["gradients"] == {"x": 19.0, "y": 38.0, "z": -5.0}
    check_structure(data, backward=True)
    check_grad_is_sum_of_downstream(data)


def test_backward_seed_input_gate(run_json):
    data = run_json("backward", SEED, *SEED_ARGS, "--json")
    x = gate_named(data, "x")
    assert x["op"] == "input"
    assert x["inputs"] == []
    assert x["value"] == 3.0
    assert x["grad"] == 19.0
    assert x["local"] == []
    assert x["downstream"] == []
    assert x["source"] == "x"
    assert x["line"] == 1
    assert x["column"] == 5
    z = gate_named(data, "z")
    assert (z["line"], z["column"], z["source"]) == (1, 20, "z")
    assert z["grad"] == -5.0


def test_backward_seed_gates(run_json):
    data = run_json("backward", SEED, *SEED_ARGS, "--json")
    gates = by_id(data)
    x, y, z = gate_named(data, "x"), gate_named(data, "y"), gate_named(data, "z")
    q, f = gate_named(data, "q"), gate_named(data, "f")

    assert q["op"] == "add"
    assert q["value"] == -5.0 and q["grad"] == 19.0
    assert "x + 2*y" in q["source"]
    assert q["line"] == 1
    assert x["id"] in q["inputs"]
    assert q["local"] == [1.0, 1.0]
    assert q["downstream"] == [19.0, 19.0]

    # the 2*y gate: unnamed mul
    (two_y_id,) = [i for i in q["inputs"] if i != x["id"]]
    two_y = gates[two_y_id]
    assert two_y["op"] == "mul"
    assert two_y["name"] is None
    assert two_y["value"] == -8.0
    assert two_y["grad"] == 19.0
    assert two_y["source"] == "2*y"
    assert (two_y["line"], two_y["column"]) == (1, 9)
    assert y["id"] in two_y["inputs"]
    k = two_y["inputs"].index(y["id"])
    assert two_y["local"][k] == 2.0
    assert two_y["downstream"][k] == 38.0
    (c_id,) = [i for i in two_y["inputs"] if i != y["id"]]
    const = gates[c_id]
    assert const["op"] == "const"
    assert const["value"] == 2.0
    assert const["name"] is None
    assert const["inputs"] == []

    assert f["op"] == "mul"
    assert f["inputs"] == [q["id"], z["id"]]
    assert f["value"] == -95.0 and f["grad"] == 1.0
    assert f["local"] == [19.0, -5.0]
    assert f["downstream"] == [19.0, -5.0]
    assert f["source"] == "q*z"
    assert (f["line"], f["column"]) == (1, 18)


def test_eval_seed_json(run_json):
    data = run_json("eval", "(x + 2*y)*z", *SEED_ARGS, "--json")
    assert data["schema"] == 1
    assert data["value"] == -95.0
    assert data["output"] == "f"
    assert data["inputs"] == {"x": 3.0, "y": -4.0, "z": 19.0}
    assert "gradients" not in data
    check_structure(data, backward=False)
    x = gate_named(data, "x")
    assert (x["line"], x["column"], x["source"]) == (1, 2, "x")
    values = sorted(g["value"] for g in data["gates"])
    # x, y, z, const 2, 2*y, x+2y, output
    for v in (3.0, -4.0, 19.0, 2.0, -8.0, -5.0, -95.0):
        assert v in values


def test_gate_count_and_sharing(run_json):
    data = run_json("backward", "a = x*y; b = x+y; f = a*b", "--x", "3", "--y", "-4", "--json")
    ops = sorted(g["op"] for g in data["gates"])
    assert ops == sorted(["input", "input", "mul", "add", "mul"])
    check_structure(data, backward=True)
    check_grad_is_sum_of_downstream(data)
    x = gate_named(data, "x")
    assert x["grad"] == -8.0


# ---------------------------------------------------------------- op names


@pytest.mark.parametrize(
    "expr, op",
    [
        ("x + y", "add"),
        ("x - y", "sub"),
        ("x * y", "mul"),
        ("x / y", "div"),
        ("-x + y", "neg"),
        ("x ^ y", "pow"),
        ("x ** y", "pow"),
        ("pow(x, y)", "pow"),
        ("exp(x) + y", "exp"),
        ("log(x) + y", "log"),
        ("sqrt(x) + y", "sqrt"),
        ("sin(x) + y", "sin"),
        ("cos(x) + y", "cos"),
        ("tan(x) + y", "tan"),
        ("tanh(x) + y", "tanh"),
        ("sigmoid(x) + y", "sigmoid"),
        ("relu(x) + y", "relu"),
        ("abs(x) + y", "abs"),
        ("max(x, y)", "max"),
        ("min(x, y)", "min"),
    ],
)
def test_op_names(run_json, expr, op):
    data = run_json("backward", expr, "--x", "0.5", "--y", "2", "--json")
    assert op in [g["op"] for g in data["gates"]]
    check_structure(data, backward=True)
    check_grad_is_sum_of_downstream(data)


def test_identity_op(run_json):
    data = run_json("backward", "q = x; r = q; f = r*3", "--x", "2", "--json")
    assert gate_named(data, "q")["op"] == "id"
    assert gate_named(data, "r")["op"] == "id"
    assert gate_named(data, "q")["local"] == [1.0]
    assert gate_named(data, "q")["downstream"] == [3.0]
    assert data["gradients"] == {"x": 3.0}


def test_local_and_downstream_values(run_json):
    # f = sin(x) * y at x=0.5, y=2
    data = run_json("backward", "s = sin(x)\nf = s * y", "--x", "0.5", "--y", "2", "--json")
    s = gate_named(data, "s")
    assert s["op"] == "sin"
    assert s["value"] == pytest.approx(math.sin(0.5), rel=1e-12)
    assert s["grad"] == 2.0
    assert s["local"][0] == pytest.approx(math.cos(0.5), rel=1e-12)
    assert s["downstream"][0] == pytest.approx(2.0 * math.cos(0.5), rel=1e-12)
    f = gate_named(data, "f")
    assert f["local"] == [2.0, pytest.approx(math.sin(0.5), rel=1e-12)]
    assert data["gradients"]["x"] == pytest.approx(2.0 * math.cos(0.5), rel=1e-12)
    assert data["gradients"]["y"] == pytest.approx(math.sin(0.5), rel=1e-12)


def test_multiline_positions(run_json):
    program = "# header\n\nq = x + 2*y\n  f = q * z\n"
    data = run_json("backward", program, *SEED_ARGS, "--json")
    q = gate_named(data, "q")
    assert (q["line"], q["column"]) == (3, 5)
    f = gate_named(data, "f")
    assert (f["line"], f["column"]) == (4, 7)
    assert f["source"] == "q * z"
    z = gate_named(data, "z")
    assert (z["line"], z["column"]) == (4, 11)


def test_unused_gate_listed_with_zero_grad(run_json):
    data = run_json("backward", "b = exp(x)\nf = x * 2", "--x", "1", "--json")
    b = gate_named(data, "b")
    assert b["value"] == pytest.approx(math.e, rel=1e-12)
    assert b["grad"] == 0.0
    assert all(d == 0.0 for d in b["downstream"] if d is not None)
    assert data["gradients"] == {"x": 2.0}
    check_structure(data, backward=True)


def test_long_source_is_shortened(run_json):
    terms = " + ".join(f"x*{i}" for i in range(1, 60))
    program = f"f = {terms}"
    data = run_json("backward", program, "--x", "1", "--json")
    assert data["value"] == sum(range(1, 60))
    assert data["gradients"] == {"x": float(sum(range(1, 60)))}
    check_structure(data, backward=True)  # includes len(source) <= 80
    f = gate_named(data, "f")
    assert len(f["source"]) <= 80


def test_constant_only_program_json(run_json):
    data = run_json("backward", "2^3^2", "--json")
    assert data["value"] == 512.0
    assert data["gradients"] == {}
    assert data["inputs"] == {}
    check_structure(data, backward=True)


def test_eval_json_from_subprocess_has_no_extra_output(proc, parse):
    out = proc("eval", "(x+y)*z", "--x", "-2", "--y", "5", "--z", "-4", "--json")
    assert out.exit_code == 0, out.stderr
    data = parse(out.stdout)
    assert data["value"] == -12.0
    assert "gradients" not in data
    assert out.stdout.strip().endswith("}")
