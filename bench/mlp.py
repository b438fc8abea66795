"""Tensor gates at work: a 2-layer MLP, forward + backward, three ways, in one run.

    python bench/mlp.py               # batch 512, 784 -> 256 -> 10, float64, 1 thread each

1. circuit's tensor engine on the circuit below (parsed once; each run is engine.run);
2. the same computation written by hand in NumPy (cs231n's affine/relu/softmax backward);
3. PyTorch eager, float64 tensors, autograd.

NumPy's BLAS and torch are both held to one thread (OMP/OPENBLAS/MKL_NUM_THREADS=1 and
torch.set_num_threads(1)), so that the comparison is of the same arithmetic, not of threading.
The three give the same gradients (checked here before timing).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # (before numpy is imported)

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

PROGRAM = """\
input X[{n}, {d}]
input labels[{n}]
input W1[{d}, {h}]
input b1[{h}]
input W2[{h}, {c}]
input b2[{c}]
hidden = relu(X @ W1 + b1)
scores = hidden @ W2 + b2
loss = cross_entropy(scores, labels)
"""


def inputs(n: int, d: int, h: int, c: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"X": rng.standard_normal((n, d)), "labels": rng.integers(0, c, n).astype(float),
            "W1": rng.standard_normal((d, h)) * 0.05, "b1": np.zeros(h),
            "W2": rng.standard_normal((h, c)) * 0.05, "b2": np.zeros(c)}


def by_hand(v: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
    """The forward and backward pass as people write them in NumPy (cs231n, assignment 1)."""
    X, W1, b1, W2, b2 = v["X"], v["W1"], v["b1"], v["W2"], v["b2"]
    y = v["labels"].astype(np.int64)
    n = len(X)
    a = X @ W1 + b1
    hidden = np.maximum(a, 0)
    scores = hidden @ W2 + b2
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_p[np.arange(n), y].mean()
    dscores = np.exp(log_p)
    dscores[np.arange(n), y] -= 1
    dscores /= n
    dW2 = hidden.T @ dscores
    db2 = dscores.sum(axis=0)
    dhidden = dscores @ W2.T
    da = dhidden * (a > 0)
    dW1 = X.T @ da
    db1 = da.sum(axis=0)
    return float(loss), {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2, "X": da @ W1.T}


def timed(fn, repeat: int) -> list[float]:  # noqa: ANN001
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--sizes", default="784,256,10", help="input, hidden, classes")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    d, h, c = map(int, args.sizes.split(","))
    n = args.batch

    import torch

    from circuit_backprop.core import engine
    from circuit_backprop.lang.parse import parse

    torch.set_num_threads(1)
    graph = parse(PROGRAM.format(n=n, d=d, h=h, c=c))
    values = inputs(n, d, h, c)

    def circuit() -> object:
        return engine.run(graph, values)

    def circuit_forward() -> object:
        return engine.run(graph, values, gradients=False)

    tensors = {k: torch.tensor(v) for k, v in values.items()}

    def eager() -> object:
        t = {k: v.clone().requires_grad_(k != "labels") for k, v in tensors.items()}
        hidden = torch.relu(t["X"] @ t["W1"] + t["b1"])
        loss = torch.nn.functional.cross_entropy(hidden @ t["W2"] + t["b2"], t["labels"].long())
        loss.backward()
        return t

    trace = circuit()
    loss, grads = by_hand(values)
    t = eager()
    for name, g in grads.items():  # the three agree before anything is timed
        mine = trace.grads[graph.inputs[name]]
        assert np.allclose(mine, g, rtol=1e-10, atol=1e-13), name
        assert np.allclose(t[name].grad.numpy(), g, rtol=1e-10, atol=1e-13), name
    assert abs(float(trace.values[graph.output]) - loss) < 1e-12

    results = {}
    for _ in range(2):  # alternate, twice, so that no one runs on a warmer machine
        for label, fn in (("circuit", circuit), ("numpy", lambda: by_hand(values)),
                          ("torch", eager), ("circuit forward", circuit_forward)):
            results.setdefault(label, []).extend(timed(fn, args.repeat // 2))
    hand = statistics.median(results["numpy"])
    print(f"2-layer MLP, batch {n}, {d} -> {h} -> {c}, float64, 1 thread; forward + backward, "
          f"median of {args.repeat} runs each (alternating)")
    for label in ("circuit", "numpy", "torch"):
        med = statistics.median(results[label])
        print(f"  {label:8} {med * 1e3:8.2f} ms   {med / hand:5.2f}× hand-written NumPy")
    # the cheap-gradient bound: the backward pass costs a small multiple of the forward pass
    forward = statistics.median(results["circuit forward"])
    both = statistics.median(results["circuit"])
    print(f"  circuit's forward pass alone {forward * 1e3:.2f} ms; backward ÷ forward = "
          f"{(both - forward) / forward:.2f}")


if __name__ == "__main__":
    main()
