"""Valid circuits on purpose: staged programs built from the op registry, checked as they grow.

Random text rarely gets past the parser, and most crashes live behind it (in the engines, the
checks and the views). So this module builds programs that parse and mostly run: every op of
`circuit_backprop.core.ops.OPS` (an op added there is fuzzed with no change here), each gate
evaluated while the program is built, with the op's own shape rule and values, and an operand
that fails (a shape that does not fit, log of a negative, an overflow) drawn again. A few
failures are let through on purpose (`invalid`), so that the error paths run too.

A program is a list of defs, `input` declarations and statements over scalars or arrays, with
the values each input takes (a default in the program, or given on the command line).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from circuit_backprop.core.arrays import ShapeError
from circuit_backprop.core.ops import CONSTANTS, FUNCTIONS, OPS, Op
from fuzz.choices import Chooser, weighted

Shape = tuple[int, ...]

INPUT_NAMES = ("x", "y", "z", "w", "b", "v", "x0", "x1", "W", "X", "a", "t", "_u", "w_2",
               # names that clash with an option (given with --set), shadow a constant, or are
               # as long as names get
               "json", "all", "set", "eps", "wrt", "points", "title", "depth", "pi", "e",
               "help", "input_", "f", "out", "a" * 40)
GATE_NAMES = ("q", "h", "s", "p", "m", "loss", "dot", "num", "den", "sig", "z1", "h2", "r",
              "expand", "range", "f", "out", "output_", "g_1")
DEF_NAMES = ("k", "sq", "lin", "sig2", "swish", "bn", "g", "act")
PARAM_NAMES = ("a", "b", "c", "p", "u")
RESERVED = {"input", "output", "def"}
BUILTINS = set(FUNCTIONS) | set(OPS) | RESERVED


# --- expression trees -------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """An expression: a name, a number, an array literal, an op applied, or a def called."""

    kind: str  # "name", "num", "array", "op", "call"
    name: str = ""  # the name, the op's name or the def's name
    value: Any = None  # a number's or a literal's value
    text: str = ""  # a number's or a literal's text
    args: tuple[Node, ...] = ()
    params: tuple[int, ...] = ()
    form: str = "text"  # an op written as its text ("a ^ b") or called ("pow(a, b)")

    @property
    def atomic(self) -> bool:
        """Needs no parentheses as an operand."""
        if self.kind in ("name", "array", "call"):
            return True
        if self.kind == "num":
            return not self.text.startswith("-")
        return self.form == "call" or self.name == "index"


@dataclass
class Def:
    name: str
    params: tuple[str, ...]
    body: Node


@dataclass
class Eval:
    """Evaluates trees with numbers (floats) or arrays (numpy), noting what they touched."""

    env: dict[str, Any]
    defs: dict[str, Def]
    tensor: bool
    used: set[str] = field(default_factory=set)
    smooth: bool = True  # every gate conditioned (away from kinks and steep slopes)

    def __call__(self, node: Node) -> Any:
        if node.kind == "name":
            self.used.add(node.name)
            if node.name in self.env:
                return self.env[node.name]
            return self._num(CONSTANTS[node.name])
        if node.kind in ("num", "array"):
            return self._num(node.value)
        args = [self(a) for a in node.args]
        if node.kind == "call":
            d = self.defs[node.name]
            inner = Eval(dict(zip(d.params, args, strict=True)), self.defs, self.tensor)
            out = inner(d.body)
            self.smooth &= inner.smooth
            return out
        return self._apply(OPS[node.name], args, node.params)

    def _num(self, value: Any) -> Any:
        if not self.tensor:
            return float(value)
        import numpy as np

        return np.asarray(value, dtype=np.float64)

    def _apply(self, op: Op, args: list[Any], params: tuple[int, ...]) -> Any:
        if self.tensor:
            return self._apply_array(op, args, params)
        if op.domain is not None and op.domain(*args):
            raise ValueError(op.domain(*args))
        out = float(op.forward(args, params))
        if not math.isfinite(out):
            raise ValueError("not finite")
        self._note(op, args, out)
        return out

    def _apply_array(self, op: Op, args: list[Any], params: tuple[int, ...]) -> Any:
        import numpy as np

        shapes = [a.shape for a in args]
        if op.shape is not None:
            op.shape(*shapes, params)
        else:
            np.broadcast_shapes(*shapes)
        with np.errstate(all="ignore"):
            out = np.asarray(op.forward(args, params), dtype=np.float64)
        if not np.all(np.isfinite(out)):
            raise ValueError("not finite")
        if op.elementwise:
            for point in np.broadcast_arrays(*args):
                if not np.all(np.isfinite(point)):
                    raise ValueError("not finite")
            flat = [np.broadcast_to(a, out.shape).ravel() for a in args]
            for i in range(min(out.size, 16)):
                self._note(op, [float(f[i]) for f in flat], float(out.ravel()[i]))
        return out

    def _note(self, op: Op, args: Sequence[float], out: float) -> None:
        try:
            kink = op.kink(*args) if op.kink else None
            self.smooth &= bool(op.conditioned(*args)) and kink is None
        except (ValueError, ArithmeticError, TypeError):
            self.smooth = False


CHECKED = (ValueError, ArithmeticError, ShapeError, TypeError, IndexError, KeyError)
"""What evaluating a candidate may raise: it is then drawn again (a generator's own guard)."""


# --- rendering --------------------------------------------------------------------------------


def render(node: Node, pow_text: str = "^") -> str:
    """The node as program text, parenthesised where an operand is not atomic."""
    if node.kind == "name":
        return node.name
    if node.kind in ("num", "array"):
        return node.text
    args = [render(a, pow_text) for a in node.args]
    if node.kind == "call":
        return f"{node.name}({', '.join(args)})"
    op = OPS[node.name]
    if node.form == "call" and op.call:
        return f"{op.call}({', '.join(args + [str(p) for p in node.params])})"
    wrapped = [a if n.atomic else f"({a})" for a, n in zip(args, node.args, strict=True)]
    text = op.fill(op.text, wrapped, node.params)
    return text.replace(" ^ ", f" {pow_text} ") if pow_text != "^" else text


def number_text(ch: Chooser, value: float) -> str:
    """A non-negative number as the language may write it (3, 3.0, .5, 5e-1, 2E2)."""
    if value == int(value) and abs(value) < 1e6:
        forms = [str(int(value)), f"{int(value)}.0", f"{int(value)}.", f"{value:g}"]
    else:
        forms = [repr(value), f"{value:.3e}", f"{value:g}"]
        if 0 < value < 1:
            forms.append(repr(value).removeprefix("0"))
    return ch.pick(forms)


def value_text(ch: Chooser, value: Any, signed: str = "") -> str:
    """A value (number or array) as a default or a command-line value: [[1, -2], [0.5, 3]]."""
    import numpy as np

    arr = np.asarray(value)
    if arr.ndim == 0:
        v = float(arr)
        if math.copysign(1.0, v) < 0:
            return "-" + number_text(ch, -v)
        return signed + number_text(ch, v)
    sep = ch.pick([", ", ",", " , "])
    return "[" + sep.join(value_text(ch, row) for row in arr) + "]"


# --- values -----------------------------------------------------------------------------------

EDGE_VALUES = (0.0, -0.0, 1.0, -1.0, 1e-300, -1e-300, 1e300, 709.0, 710.0, 1e308, 5e-324,
               0.5, 2.0, 36.0, -745.0)


def scalar_value(ch: Chooser, edgy: float = 0.05) -> float:
    """A number an input may take: mostly small and plain, sometimes an edge of some op."""
    if ch.coin(edgy):
        return ch.pick(EDGE_VALUES)
    return weighted(ch, [
        (4, float(ch.integer(-5, 5))),
        (4, round(ch.real(-4.0, 4.0), ch.integer(1, 3))),
        (1, ch.pick([0.5, -0.5, 0.25, 1.5, -2.5, 3.14159])),
    ])


def array_value(ch: Chooser, shape: Shape, edgy: float = 0.05) -> Any:
    import numpy as np

    flat = [scalar_value(ch, edgy) for _ in range(math.prod(shape))]
    return np.asarray(flat, dtype=np.float64).reshape(shape)


def random_shape(ch: Chooser) -> Shape:
    return weighted(ch, [(3, ()), (4, (ch.integer(1, 4),)),
                         (3, (ch.integer(1, 4), ch.integer(1, 4))),
                         (1, (ch.integer(1, 3), ch.integer(1, 3), ch.integer(1, 2)))])


# --- the program ------------------------------------------------------------------------------


@dataclass
class Program:
    """A generated circuit and what the command line needs to run it."""

    text: str
    inputs: dict[str, Shape]  # every input and its shape
    values: dict[str, Any]  # the value each input takes
    defaults: set[str]  # inputs whose value is a default in the program
    labels: set[str]  # inputs that are class labels (integers)
    gates: list[str]  # named statements
    composites: list[str]  # what --expand may name: defs, and built-ins with a body
    tensor: bool
    output_shape: Shape = ()
    smooth: bool = True  # every gate conditioned at the values (the numeric property holds)


@dataclass
class Builder:
    """Grows one program, a gate at a time, keeping what has been evaluated."""

    ch: Chooser
    tensor: bool
    invalid: float = 0.02  # how often a failing gate is kept on purpose
    edgy: float = 0.05  # how often an input's value is an edge (EDGE_VALUES)
    env: dict[str, Any] = field(default_factory=dict)  # name -> value
    inputs: dict[str, Shape] = field(default_factory=dict)
    labels: set[str] = field(default_factory=set)
    defs: dict[str, Def] = field(default_factory=dict)
    gates: list[str] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    smooth: bool = True
    valid: bool = True

    @property
    def ops(self) -> list[Op]:
        return [op for op in OPS.values() if self.tensor or op.elementwise]

    def evaluate(self, node: Node, env: dict[str, Any] | None = None) -> Any:
        ev = Eval(self.env if env is None else env, self.defs, self.tensor)
        out = ev(node)
        return out, ev

    # leaves

    def number(self) -> Node:
        v = abs(scalar_value(self.ch, edgy=0.02))
        if self.ch.coin(0.1):
            v = float(self.ch.integer(1, 3))
        return Node("num", value=v, text=number_text(self.ch, v))

    def literal(self, shape: Shape, integers: int | None = None) -> Node:
        import numpy as np

        if integers is not None:
            value = np.asarray([self.ch.integer(0, max(integers - 1, 0))
                                for _ in range(math.prod(shape))], dtype=np.float64)
            value = value.reshape(shape)
        else:
            value = array_value(self.ch, shape, edgy=0.0)
        if not shape:
            return Node("num", value=float(value), text=value_text(self.ch, value))
        return Node("array", value=value, text=value_text(self.ch, value))

    def leaf(self, env: dict[str, Any]) -> Node:
        names = list(env)
        table: list[tuple[int, Node]] = []
        if names:
            table.append((6, Node("name", name=self.ch.pick(names))))
        table.append((2, self.number()))
        constants = [c for c in CONSTANTS if c not in env]
        if constants:
            table.append((1, Node("name", name=self.ch.pick(constants))))
        if self.tensor:
            table.append((1, self.literal(random_shape(self.ch))))
        return weighted(self.ch, table)

    # gates

    def expr(self, env: dict[str, Any], depth: int, callable_defs: Sequence[str]) -> Node:
        """An expression over `env` that evaluates (or, rarely, one that fails on purpose)."""
        if depth <= 0 or self.ch.coin(0.25):
            return self.leaf(env)
        for _attempt in range(4):
            node = self.gate(env, depth, callable_defs)
            try:
                self.evaluate(node, env)
                return node
            except CHECKED:
                if self.ch.coin(self.invalid):
                    self.valid = False
                    return node
        return self.leaf(env)

    def gate(self, env: dict[str, Any], depth: int, callable_defs: Sequence[str]) -> Node:
        if callable_defs and self.ch.coin(0.2):
            d = self.defs[self.ch.pick(callable_defs)]
            args = tuple(self.expr(env, depth - 1, callable_defs) for _ in d.params)
            return Node("call", name=d.name, args=args)
        op = self.ch.pick(self.ops)
        first = self.expr(env, depth - 1, callable_defs)
        args = [first]
        if op.arity == 2:
            args.append(self.second(op, first, env, depth, callable_defs))
        params = self.params(op, args, env)
        form = "call" if op.call and self.ch.coin(0.5 if op.text.startswith(op.call) else 0.3) \
            else "text"
        return Node("op", name=op.name, args=tuple(args), params=params, form=form)

    def shape_of(self, node: Node, env: dict[str, Any]) -> Shape | None:
        try:
            return tuple(getattr(self.evaluate(node, env)[0], "shape", ()))
        except CHECKED:
            return None

    def second(self, op: Op, first: Node, env: dict[str, Any], depth: int,
               callable_defs: Sequence[str]) -> Node:
        """The second operand: any expression on scalars; on arrays, one whose shape fits."""
        if not self.tensor:
            return self.expr(env, depth - 1, callable_defs)
        a = self.shape_of(first, env)
        if a is None:
            return self.leaf(env)
        if 1 in op.labels:
            return self.labels_for(a)
        fits = [Node("name", name=n) for n in env
                if self.fits(op, a, tuple(getattr(env[n], "shape", ())))]
        if fits and self.ch.coin(0.6):
            return self.ch.pick(fits)
        shapes = [s for s in candidate_shapes(self.ch, a) if self.fits(op, a, s)]
        if not shapes:
            return self.expr(env, depth - 1, callable_defs)
        return self.literal(self.ch.pick(shapes))

    def fits(self, op: Op, a: Shape, b: Shape) -> bool:
        import numpy as np

        try:
            if op.shape is not None:
                op.shape(a, b, ())
            else:
                np.broadcast_shapes(a, b)
            return True
        except (ShapeError, ValueError):
            return False

    def labels_for(self, logits: Shape) -> Node:
        """Class labels for logits of this shape: an input (given or defaulted) or a literal."""
        classes = logits[-1] if logits else 1
        shape = logits[:-1]
        if self.ch.coin(0.5):
            return self.literal(shape, integers=classes)
        name = self.fresh(("labels", "y_true", "cls", "targets"))
        node = self.literal(shape, integers=classes)
        self.env[name] = Eval({}, {}, self.tensor)(node)
        self.inputs[name] = shape
        self.labels.add(name)
        return Node("name", name=name)

    def params(self, op: Op, args: Sequence[Node], env: dict[str, Any]) -> tuple[int, ...]:
        """Integer arguments (sum(x, 0), reshape(x, 2, 3), x[1, -1]) the op's shape rule takes."""
        lo, hi = op.params
        if hi == 0:
            return ()
        shapes = [self.shape_of(a, env) for a in args]
        if any(s is None for s in shapes):
            return tuple(self.ch.integer(-2, 2) for _ in range(max(lo, 1)))
        found = [p for p in candidate_params(self.ch, shapes[0], lo, min(hi, 3))
                 if _accepts(op, shapes, p)]
        if found:
            return self.ch.pick(found)
        return tuple(self.ch.integer(-2, 3) for _ in range(max(lo, 1)))

    def fresh(self, pool: Sequence[str]) -> str:
        taken = set(self.env) | set(self.defs) | set(self.inputs) | set(self.gates)
        free = [n for n in pool if n not in taken and n not in BUILTINS]
        if free and self.ch.coin(0.9):
            return self.ch.pick(free)
        n = 1
        while f"{pool[0]}{n}" in taken:
            n += 1
        return f"{pool[0]}{n}"

    def define(self) -> Def:
        """A def over fresh parameters, whose body may call the defs before it."""
        name = self.fresh(DEF_NAMES)
        count = self.ch.integer(1, 3)
        params = tuple(PARAM_NAMES[:count])
        probe = {p: self.probe_value() for p in params}
        body = self.expr(probe, self.ch.integer(1, 3), list(self.defs))
        d = Def(name, params, body)
        self.defs[name] = d
        return d

    def probe_value(self) -> Any:
        if not self.tensor:
            return scalar_value(self.ch, edgy=0.0)
        return array_value(self.ch, random_shape(self.ch), edgy=0.0)


def _accepts(op: Op, shapes: Sequence[Shape], params: tuple[int, ...]) -> bool:
    try:
        op.shape(*shapes, params)
        return True
    except (ShapeError, ValueError, IndexError, ZeroDivisionError):
        return False


def candidate_shapes(ch: Chooser, a: Shape) -> list[Shape]:
    """Shapes that may fit beside `a`: its own, its parts, its transpose, small ones."""
    dims = sorted(set(a) | {1, ch.integer(1, 4)})
    shapes = {(), a, a[:-1], a[1:], a[::-1], a[-1:]}
    for d in dims:
        shapes.add((d,))
        if a:
            shapes.add((a[-1], d))
            shapes.add((d, a[0]))
    return sorted(shapes, key=lambda s: (len(s), s))


def candidate_params(ch: Chooser, a: Shape, lo: int, hi: int) -> list[tuple[int, ...]]:
    """Integer arguments worth trying for an op on shape `a`: axes, indices, reshapes."""
    size = math.prod(a)
    found: set[tuple[int, ...]] = {(size,), (-1,), (1, -1), (-1, 1)}
    for axis in range(-len(a), len(a)):
        found.add((axis,))
        found.add((ch.integer(-a[axis], a[axis] - 1) if a[axis] else 0,))
    found.add(tuple(ch.integer(-d, d - 1) for d in a))
    for d in range(1, size + 1):
        if size % d == 0:
            found.update({(d, size // d), (d, -1)})
    return sorted((p for p in found if lo <= len(p) <= max(hi, lo)), key=lambda p: (len(p), p))


# --- whole programs ---------------------------------------------------------------------------


def program(ch: Chooser, tensor: bool | None = None, invalid: float = 0.02,
            edgy: float = 0.05) -> Program:
    """A staged program: defs, inputs, statements, then maybe `output`, in varied layouts.
    `invalid`: how often a failing gate is kept; `edgy`: how often an input is an edge value
    (0, ±1e-300, 1e308, 710: where ops overflow or lose their gradient)."""
    if tensor is None:
        tensor = ch.coin(0.35)
    b = Builder(ch, tensor, invalid, edgy=edgy)
    defs = [b.define() for _ in range(weighted(ch, [(5, 0), (3, 1), (1, 2)]))]
    declared = _choose_inputs(b)
    statements: list[tuple[str, Node]] = []
    for _ in range(ch.integer(1, 5)):
        name = b.fresh(GATE_NAMES)
        node = b.expr(b.env, ch.integer(1, 3), list(b.defs))
        value = _try_value(b, node)
        statements.append((name, node))
        b.gates.append(name)
        b.env[name] = value
    out_name, out_node = statements[-1]
    if tensor and ch.coin(0.9):
        shape = b.shape_of(out_node, b.env) or ()
        if shape:  # backward wants a scalar: reduce the last statement
            reducer = ch.pick([op for op in OPS.values() if op.params == (0, 1)])
            name = b.fresh(("loss", "total", "L"))
            node = Node("op", name=reducer.name, args=(Node("name", name=out_name),),
                        form="call")
            statements.append((name, node))
            b.gates.append(name)
            b.env[name] = _try_value(b, node)
    return _assemble(b, defs, declared, statements)


def _try_value(b: Builder, node: Node) -> Any:
    try:
        value, ev = b.evaluate(node)
        b.used |= ev.used
        b.smooth &= ev.smooth
        return value
    except CHECKED:
        b.valid = False
        b.smooth = False
        return b.probe_value()


def _choose_inputs(b: Builder) -> dict[str, str]:
    """Inputs, their values, and how each is declared: '' (not), 'input x', with a default."""
    declared: dict[str, str] = {}
    ch = b.ch
    for _ in range(ch.integer(1, 4)):
        name = b.fresh(INPUT_NAMES)
        shape = random_shape(ch) if b.tensor else ()
        value = array_value(ch, shape, b.edgy) if b.tensor else scalar_value(ch, b.edgy)
        b.env[name] = value
        b.inputs[name] = shape
        declared[name] = weighted(ch, [(3, ""), (2, "input"), (3, "default"),
                                       (1 if shape else 0, "shape"),
                                       (1 if shape else 0, "shape+default")])
    return declared


def _assemble(b: Builder, defs: list[Def], declared: dict[str, str],
              statements: list[tuple[str, Node]]) -> Program:
    ch = b.ch
    pow_text = "**" if ch.coin(0.2) else "^"
    lines: list[str] = []
    defaults: set[str] = set()
    inputs = {n: s for n, s in b.inputs.items() if n in b.used or declared.get(n, "")}
    for name in inputs:
        how = declared.get(name, "default" if ch.coin(0.5) else "")
        if not how and name in CONSTANTS:  # (undeclared, `e` is the constant)
            how = "input"
        line = _declaration(ch, name, inputs[name], b.env[name], how)
        if line:
            lines.append(line)
            defaults |= {name} if "=" in line else set()
    if ch.coin(0.02) and lines:  # a declaration after the statements that read it: an error
        late = [lines.pop(ch.integer(0, len(lines) - 1))]
    else:
        late = []
    def_lines = [f"def {d.name}({', '.join(d.params)}) = {render(d.body, pow_text)}"
                 for d in defs]
    if def_lines and ch.coin(0.1):  # a def after the statements that call it: allowed
        late.append(def_lines.pop())
    lines += def_lines
    body = [f"{name} = {render(node, pow_text)}" for name, node in statements]
    output: str | None = statements[-1][0]
    if ch.coin(0.25):  # the last statement as a bare expression: named f, out, output_, ...
        body[-1] = render(statements[-1][1], pow_text)
        output = None
    elif ch.coin(0.15) and len(statements) > 1:
        names = [n for n, _ in statements]
        scalars = [n for n in names if not getattr(b.env.get(n), "shape", ())]
        output = ch.pick(scalars if scalars and ch.coin(0.9) else names)
        body.append(f"output {output}")
    lines += body[:-1] + late + body[-1:]
    text = _layout(ch, lines)
    gates = [n for n, _ in statements]
    if output is None:
        gates = gates[:-1]
    out_value = b.env.get(output or statements[-1][0])
    composites = [d.name for d in defs] + [op.name for op in OPS.values()
                                           if op.expands_to and f"{op.call}(" in text]
    return Program(text=text, inputs=inputs, values={n: b.env[n] for n in inputs},
                   defaults=defaults, labels=b.labels & set(inputs), gates=gates,
                   composites=composites, tensor=b.tensor,
                   output_shape=tuple(getattr(out_value, "shape", ())),
                   smooth=b.smooth and b.valid)


def _declaration(ch: Chooser, name: str, shape: Shape, value: Any, how: str) -> str:
    dims = "[" + ", ".join(map(str, shape)) + "]"
    if how == "input":
        return f"input {name}"
    if how == "default":
        return f"input {name} = {value_text(ch, value, signed=ch.pick(['', '+']))}"
    if how == "shape":
        return f"input {name}{dims}"
    if how == "shape+default":
        return f"input {name}{dims} = {value_text(ch, value)}"
    return ""


def _layout(ch: Chooser, lines: list[str]) -> str:
    """Lines joined by newlines or ';', with comments, blank lines and CRLF now and then."""
    sep = weighted(ch, [(6, "\n"), (2, "; "), (1, "\r\n"), (1, ";")])
    out = []
    for line in lines:
        if ch.coin(0.1) and not sep.startswith(";"):
            line += "   # " + ch.pick(["a stage", "∂f/∂x", "done!", "x = 3; y"])
        if ch.coin(0.05):
            out.append("")
        out.append(line)
    text = sep.join(out)
    if ch.coin(0.2):
        text = ch.pick(["# a circuit\n", "\n", " "]) + text + ch.pick(["\n", "", "\n\n"])
    return text


# --- large circuits -----------------------------------------------------------------------------

BOUNDED = ("tanh", "sin", "cos", "sigmoid")  # ops whose values stay small, however deep


def big_program(ch: Chooser, nodes: int) -> Program:
    """A scalar circuit of about `nodes` gates (above the tables' 300-row limit, or the bulk
    engine's 20,000): a chain with forks back to earlier names, or a wide layer, its values kept
    bounded so that it runs."""
    names = [f"x{i}" for i in range(ch.integer(1, 4))]
    values = {n: scalar_value(ch, edgy=0.0) for n in names}
    wide = ch.coin(0.5)
    lines = [f"input {n} = {value_text(ch, values[n])}" for n in names]
    binary = [op for op in OPS.values() if op.elementwise and op.arity == 2
              and op.name in ("add", "sub", "mul", "max", "min")]
    unary = [OPS[name] for name in BOUNDED if name in OPS]
    count = 0
    while count < nodes:
        a = ch.pick(names) if wide else names[-1]
        b = ch.pick(names[: max(1, len(names))] if wide else names[-8:])
        op = ch.pick(binary)
        inner = ch.pick(unary)
        name = f"g{count}"
        lines.append(f"{name} = {inner.call}({op.fill(op.text, [a, b])})")
        names.append(name)
        count += 2
        if wide and len(names) > 64 and ch.coin(0.5):
            names = names[:4] + names[-32:]
    if ch.coin(0.5):
        lines.append(f"f = {' + '.join(names[-ch.integer(1, 8):])}")
    text = "\n".join(lines)
    return Program(text=text, inputs={n: () for n in values}, values=values,
                   defaults=set(values), labels=set(), gates=[], composites=["sigmoid"],
                   tensor=False)
