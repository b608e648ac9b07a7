"""The Python layer must hand the kernels only what they trust.

Kernels take `const double[:, ::1]` memoryviews and read them through raw
`double *` with no checks: every array argument must be float64, native
byte order, C-contiguous and *aligned* (Cython's memoryview does not check
alignment; a misaligned double load is undefined behaviour, flagged by UBSan
and a potential SIGSEGV where the vectorizer emits aligned SIMD loads).

These tests wrap each kernel entry point with a checker and feed the public
API every layout the fuzz harness uses.
"""
import numpy as np
import pytest

import nndfast
from nndfast import _network

KERNELS = ["forward", "cost", "cost_and_gradient", "sigmoid", "sigmoid_prime"]


def _misaligned(a):
    a = np.ascontiguousarray(a, dtype=np.float64)
    buf = np.zeros(a.nbytes + 1, dtype=np.uint8)
    out = buf[1:].view(np.float64).reshape(a.shape)
    out[...] = a
    assert not out.flags.aligned and out.flags.c_contiguous
    return out


@pytest.fixture
def checked_kernels(monkeypatch):
    seen = []

    def wrap(name, fn):
        def checker(*args):
            arrays = list(args)
            for a in args:
                if type(a).__name__ == "Plan":
                    # _grid.GridKernel(plan) reads the plan's arrays in place
                    arrays += [v for v in vars(a).values() if isinstance(v, np.ndarray)]
            for k, a in enumerate(arrays):
                if isinstance(a, np.ndarray):
                    # float64 data, or int64 index tables (grid search)
                    assert a.dtype in (np.float64, np.int64) and a.dtype.isnative, (
                        name, k, a.dtype)
                    assert a.flags.c_contiguous, (name, k)
                    assert a.flags.aligned, f"{name}: argument {k} is misaligned"
            seen.append(name)
            return fn(*args)
        return checker

    for name in KERNELS:
        monkeypatch.setattr(_network, name, wrap(name, getattr(_network, name)))
    for modname, names in (("_grid", ["GridKernel", "search"]),
                           ("_train", ["gradient", "batch_descent", "stochastic_descent",
                                       "bfgs_network"])):
        try:
            mod = __import__(f"nndfast.{modname}", fromlist=["x"])
        except ImportError:
            continue
        for name in names:
            if hasattr(mod, name):
                monkeypatch.setattr(mod, name, wrap(f"{modname}.{name}", getattr(mod, name)))
    return seen


def _layouts(a):
    yield "C", np.ascontiguousarray(a)
    yield "F", np.asfortranarray(a)
    yield "strided", np.repeat(a, 2, axis=-1)[..., ::2]
    yield "nonnative", a.astype(">f8")
    yield "float32", a.astype(np.float32)
    yield "misaligned", _misaligned(a)


LAYOUT_PARAMS = ["C", "F", "strided", "nonnative", "float32",
                 "misaligned"]

BIG = 2000  # rows: large enough for the memoryview (non-tiny) kernels


@pytest.mark.parametrize("rows", [3, BIG])
@pytest.mark.parametrize("layout", LAYOUT_PARAMS)
def test_examples_reach_kernels_aligned(checked_kernels, layout, rows):
    np.random.seed(0)
    NN = nndfast.Neural_Network(hiddenLayerSize=64)
    rng = np.random.default_rng(0)
    X = dict(_layouts(rng.standard_normal((rows, 2))))[layout]
    y = dict(_layouts(rng.random((rows, 1))))[layout]
    got = [NN.forward(X), NN.costFunction(X, y), *NN.costFunctionPrime(X, y),
           NN.computeGradients(X, y), NN.z2]
    # every layout reaches the kernels as the C-contiguous float64 copy would
    C = np.ascontiguousarray(X, dtype=np.float64), np.ascontiguousarray(y, dtype=np.float64)
    want = [NN.forward(C[0]), NN.costFunction(*C), *NN.costFunctionPrime(*C),
            NN.computeGradients(*C), NN.z2]
    assert all(np.array_equal(a, b) for a, b in zip(got, want))


@pytest.mark.parametrize("layout", [p for p in LAYOUT_PARAMS if p != "C"])
def test_the_workspace_refuses_what_the_kernels_cannot_read(layout):
    # Workspace.run reads X and y through raw pointers: it checks them itself
    # (whatever a caller passes), where the module-level drivers rely on
    # their typed memoryviews
    np.random.seed(0)
    NN = nndfast.Neural_Network(hiddenLayerSize=64)
    snap = nndfast.network.snapshot(NN)
    rng = np.random.default_rng(0)
    good = rng.standard_normal((BIG, 2)), rng.random((BIG, 1))
    bad = [dict(_layouts(a))[layout] for a in good]
    for X, y in ((bad[0], good[1]), (good[0], bad[1])):
        for op in ("forward", "cost", "gradient"):
            if (op == "forward" and X is good[0]) or (y.flags.c_contiguous and y.flags.aligned
                                                      and y.dtype == np.float64
                                                      and y.dtype.isnative):
                continue
            with pytest.raises(ValueError):
                NN._ws.run(snap, X, y, op, 1)


@pytest.mark.parametrize("layout", LAYOUT_PARAMS)
def test_weights_reach_kernels_aligned(checked_kernels, layout):
    np.random.seed(0)
    NN = nndfast.Neural_Network(hiddenLayerSize=64)
    NN.W1 = dict(_layouts(np.random.randn(2, 64)))[layout]
    NN.W2 = dict(_layouts(np.random.randn(64, 1)))[layout]
    X = np.random.default_rng(1).standard_normal((BIG, 2))
    NN.forward(X)
    NN.costFunctionPrime(X, np.zeros((BIG, 1)))


@pytest.mark.parametrize("layout", LAYOUT_PARAMS)
def test_sigmoid_inputs_reach_kernels_aligned(checked_kernels, layout):
    NN = nndfast.Neural_Network()
    z = dict(_layouts(np.linspace(-800, 800, 40).reshape(8, 5)))[layout]
    NN.sigmoid(z)
    NN.sigmoidPrime(z)
    assert {"sigmoid", "sigmoid_prime"} <= set(checked_kernels)


@pytest.mark.parametrize("layout", LAYOUT_PARAMS)
def test_grid_and_training_inputs_reach_kernels_aligned(checked_kernels, layout):
    if not hasattr(nndfast, "grid_search") or not hasattr(nndfast, "gradient_descent"):
        pytest.skip("grid search / training have not landed")
    rng = np.random.default_rng(0)
    X = dict(_layouts(rng.standard_normal((300, 2))))[layout]
    y = dict(_layouts(rng.random((300, 1))))[layout]
    np.random.seed(0)
    NN = nndfast.Neural_Network()
    NN.W1 = dict(_layouts(np.random.randn(2, 3)))[layout]
    w = dict(_layouts(np.linspace(-1, 1, 6)[None, :]))[layout][0]
    nndfast.grid_search(NN, X, y, {"W1[0,0]": w, "W2[1,0]": w})
    nndfast.gradient_descent(NN, X, y, learning_rate=0.01, max_iter=3)
    nndfast.gradient_descent(NN, X, y, learning_rate=0.01, max_iter=2, method="stochastic", seed=0)
    nndfast.trainer(NN, disp=False).train(X, y)
    assert {"_grid.GridKernel", "_grid.search", "_train.gradient"} <= set(checked_kernels)
