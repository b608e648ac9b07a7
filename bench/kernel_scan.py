"""Per-core scan of the network kernels against hand-written peers.

    PYTHONPATH=. python bench/kernel_scan.py                  # every case
    PYTHONPATH=. python bench/kernel_scan.py --quick          # n = 1e5 / 1e4 only
    PYTHONPATH=. python bench/kernel_scan.py --old /tmp/main  # also an older build
    PYTHONPATH=. python bench/kernel_scan.py --case 1e5x8x32  # one case

Every contender runs on one thread: nndfast with num_threads=1 (the kernel
drivers, outputs not kept, as NN.forward & co. run large calls), a fused
per-example loop in numba (njit, no fastmath: the loop a user would write),
and JAX jit with XLA on one thread.  Peers that are not installed are
skipped.  All contenders are first checked against nndfast.reference
(rtol 1e-9), then timed interleaved, round by round, and each cell is the
best of the rounds (other processes on a shared machine only ever add
time, so the minimum is the closest to the per-core cost); ratio = peer
time / nndfast time (above 1: nndfast is faster).

--old DIR loads another build's _network extension (a copy of the .so files
of, say, main) and times it in the same rounds: "old / new" above 1 means
this build is faster.
"""
import argparse
import importlib.util
import os
import time

# XLA's CPU client on one thread; must be set before jax is imported.
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import nndfast._network as K  # noqa: E402
from nndfast import reference  # noqa: E402

OPS = ("forward", "cost", "gradient")
CASES = [(1e5, 2, 16), (1e5, 2, 64), (1e5, 2, 256), (1e6, 2, 16), (1e6, 2, 64),
         (1e6, 2, 256), (1e4, 8, 32), (1e5, 8, 32)]


def nndfast_calls(mod, X, y, W1, W2):
    n, O = X.shape[0], W2.shape[1]
    yh, J = np.empty((n, O)), np.empty(O)
    g1, g2 = np.empty_like(W1), np.empty_like(W2)
    return {
        "forward": lambda: (mod.forward(X, W1, W2, None, None, None, yh, 1), yh)[1],
        "cost": lambda: (mod.cost(X, y, W1, W2, None, None, None, None, J, 1), J)[1],
        "gradient": lambda: (mod.cost_and_gradient(X, y, W1, W2, None, None, None, None,
                                                   g1, g2, J, 1), (J, g1, g2))[1],
    }


def numba_calls(X, y, W1, W2):
    try:
        import numba
    except ImportError:
        return None

    @numba.njit(cache=False)
    def hidden(X, e, W1, a):
        # a = f(X[e] @ W1), one row
        for h in range(W1.shape[1]):
            z = 0.0
            for i in range(X.shape[1]):
                z += X[e, i] * W1[i, h]
            a[h] = 1.0 / (1.0 + np.exp(-z))

    @numba.njit(cache=False)
    def out(a, W2, o):
        z = 0.0
        for h in range(W2.shape[0]):
            z += a[h] * W2[h, o]
        return 1.0 / (1.0 + np.exp(-z))

    @numba.njit(cache=False)
    def fwd(X, W1, W2):
        yh = np.empty((X.shape[0], W2.shape[1]))
        a = np.empty(W1.shape[1])
        for e in range(X.shape[0]):
            hidden(X, e, W1, a)
            for o in range(W2.shape[1]):
                yh[e, o] = out(a, W2, o)
        return yh

    @numba.njit(cache=False)
    def cost(X, y, W1, W2):
        J = np.zeros(W2.shape[1])
        a = np.empty(W1.shape[1])
        for e in range(X.shape[0]):
            hidden(X, e, W1, a)
            for o in range(W2.shape[1]):
                d = y[e, o] - out(a, W2, o)
                J[o] += 0.5 * d * d
        return J

    @numba.njit(cache=False)
    def grad(X, y, W1, W2):
        I, H, O = X.shape[1], W2.shape[0], W2.shape[1]
        g1, g2, J = np.zeros((I, H)), np.zeros((H, O)), np.zeros(O)
        a, d3 = np.empty(H), np.empty(O)
        for e in range(X.shape[0]):
            hidden(X, e, W1, a)
            for o in range(O):
                yh = out(a, W2, o)
                d = y[e, o] - yh
                J[o] += 0.5 * d * d
                d3[o] = -d * yh * (1.0 - yh)
            for h in range(H):
                s = 0.0
                for o in range(O):
                    g2[h, o] += a[h] * d3[o]
                    s += d3[o] * W2[h, o]
                s *= a[h] * (1.0 - a[h])
                for i in range(I):
                    g1[i, h] += X[e, i] * s
        return J, g1, g2

    return {"forward": lambda: fwd(X, W1, W2), "cost": lambda: cost(X, y, W1, W2),
            "gradient": lambda: grad(X, y, W1, W2)}


def jax_calls(X, y, W1, W2):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)

    def fwd(X, W1, W2):
        return jax.nn.sigmoid(jax.nn.sigmoid(X @ W1) @ W2)

    def cost(W1, W2, X, y):
        return 0.5 * jnp.sum((y - fwd(X, W1, W2)) ** 2, axis=0)

    f = jax.jit(fwd)
    c = jax.jit(cost)
    g = jax.jit(jax.value_and_grad(lambda W1, W2, X, y: jnp.sum(cost(W1, W2, X, y)),
                                   argnums=(0, 1)))
    Xj, yj, W1j, W2j = (jax.device_put(a) for a in (X, y, W1, W2))

    def grad():
        v, (g1, g2) = g(W1j, W2j, Xj, yj)
        return np.atleast_1d(np.asarray(v)), np.asarray(g1), np.asarray(g2)
    return {"forward": lambda: np.asarray(f(Xj, W1j, W2j).block_until_ready()),
            "cost": lambda: np.asarray(c(W1j, W2j, Xj, yj).block_until_ready()),
            "gradient": grad}


def check(name, op, got, NN, X, y):
    if op == "forward":
        want = (NN.forward(X),)
    elif op == "cost":
        want = (np.atleast_1d(NN.costFunction(X, y)),)
    else:
        g1, g2 = NN.costFunctionPrime(X, y)
        want = (np.atleast_1d(NN.costFunction(X, y)), g1, g2)
    got = got if isinstance(got, tuple) else (got,)
    if op == "gradient" and name != "nndfast" and len(got) == 3:
        got = (np.atleast_1d(np.sum(got[0])),) + got[1:]
        want = (np.atleast_1d(np.sum(want[0])),) + want[1:]
    for a, b in zip(got, want):
        scale = np.max(np.abs(b))
        if not np.allclose(a, b, rtol=1e-9, atol=1e-9 * scale):
            raise SystemExit(f"{name} {op} disagrees with the reference")


def load_old(path):
    so = [f for f in os.listdir(path) if f.startswith("_network.") and f.endswith(".so")][0]
    spec = importlib.util.spec_from_file_location("nndfast._network", os.path.join(path, so))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="n = 1e5 at I=2 and 1e4 at I=8")
    ap.add_argument("--old", help="a directory with another build's _network .so")
    ap.add_argument("--case", action="append", metavar="NxIxH",
                    help="only this case (repeatable), e.g. 1e5x8x32")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    old = load_old(args.old) if args.old else None
    cases = [c for c in CASES if not args.quick or c in ((1e5, 2, 16), (1e5, 2, 64),
                                                         (1e5, 2, 256), (1e4, 8, 32))]
    if args.case:
        cases = [tuple(float(v) if k == 0 else int(v) for k, v in enumerate(c.split("x")))
                 for c in args.case]
    print(f"simd build: {K.simd_isa()}; one thread each; ratio = peer / nndfast")
    print("| op | n | I | H | nndfast ms | numba / nndfast | JAX / nndfast | old / new |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for n, I, H in cases:
        n = int(n)
        rng = np.random.default_rng(1)
        X = rng.standard_normal((n, I))
        y = rng.random((n, 1))
        NN = reference.Neural_Network(I, H, 1)
        NN.W1, NN.W2 = rng.standard_normal((I, H)) * 0.5, rng.standard_normal((H, 1)) * 0.5
        W1, W2 = NN.W1, NN.W2
        peers = {"nndfast": nndfast_calls(K, X, y, W1, W2),
                 "numba": numba_calls(X, y, W1, W2), "jax": jax_calls(X, y, W1, W2),
                 "old": nndfast_calls(old, X, y, W1, W2) if old else None}
        peers = {k: v for k, v in peers.items() if v is not None}
        for op in OPS:
            if n <= 100000:    # the reference's temporaries at 1e6 x 256 are 2 GB each
                for name, calls in peers.items():
                    check(name, op, calls[op](), NN, X, y)
            times = {k: [] for k in peers}
            for _ in range(args.rounds):
                for name, calls in peers.items():
                    t0 = time.perf_counter()
                    calls[op]()
                    times[name].append(time.perf_counter() - t0)
            med = {k: min(v) for k, v in times.items()}
            base = med["nndfast"]

            def ratio(k):
                return f"{med[k] / base:.2f}" if k in med else "-"
            print(f"| {op} | {n:.0e} | {I} | {H} | {base * 1e3:.2f} | {ratio('numba')} | "
                  f"{ratio('jax')} | {ratio('old')} |", flush=True)


if __name__ == "__main__":
    main()
