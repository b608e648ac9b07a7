"""Shared helpers for nndfast's tests.

The suite runs against whichever nndfast is importable: the in-place build
(`python3 -m pytest tests` from the source root) or an installed wheel (from
outside the tree, as .ci/run and cibuildwheel do).
"""
import signal

import numpy as np
import pytest

import nndfast
from nndfast import reference

RTOL = 1e-12

# A shell starts a background job (`pytest ... &`, nohup, some CI runners)
# with SIGINT ignored, and an ignored signal stays ignored across exec: the
# Ctrl-C tests' children would then never see their SIGINT.  A handler, unlike
# SIG_IGN, is reset to the default on exec, so each child Python installs its
# KeyboardInterrupt handler as in a user's terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _as_float64(value):
    return np.array(value, dtype=np.float64)


def weight_property(name, read=lambda a: a, keep=_as_float64):
    """A W1/W2 property as a subclass might write one: assigning stores
    keep(value) in the instance's own ``store`` dict under ``name``, reading
    returns read(stored) (the stored array itself by default, so in-place
    writes stick)."""
    def get(self):
        return read(self.store[name])

    def put(self, value):
        self.__dict__.setdefault("store", {})[name] = keep(value)

    return property(get, put)


_SUBCLASSES = {}


def subclasses(mixin):
    """(nndfast subclass, reference subclass) with `mixin` first in their
    bases, as a user would subclass either network; built once per mixin."""
    if mixin not in _SUBCLASSES:
        _SUBCLASSES[mixin] = (
            type("Fast" + mixin.__name__, (mixin, nndfast.Neural_Network), {}),
            type("Ref" + mixin.__name__, (mixin, reference.Neural_Network), {}))
    return _SUBCLASSES[mixin]


def pair(seed=0, sizes=(), mixin=None, **layer_sizes):
    """(fast, ref): nndfast's and the reference's network with identical
    weights drawn after np.random.seed(seed).  sizes: (I, H, O) given
    positionally, or layer_sizes by keyword (inputLayerSize=...); mixin: a
    class both networks subclass first (see subclasses)."""
    fast_cls, ref_cls = ((nndfast.Neural_Network, reference.Neural_Network) if mixin is None
                         else subclasses(mixin))
    np.random.seed(seed)
    fast = fast_cls(*sizes, **layer_sizes)
    np.random.seed(seed)
    ref = ref_cls(*sizes, **layer_sizes)
    assert np.array_equal(fast.W1, ref.W1) and np.array_equal(fast.W2, ref.W2)
    return fast, ref


def data(seed, n, I, O, scale=1.0, signed=True):
    """Random X (n, I) and y (n, O), y in [0, 1): X in [-scale, scale], or
    with signed=False in [0, scale) (scale 1: rng.random's values)."""
    rng = np.random.default_rng(seed)
    return (rng.uniform(-scale if signed else 0.0, scale, (n, I)),
            rng.uniform(0.0, 1.0, (n, O)))


def assert_close(actual, expected, scale=None, rtol=RTOL):
    """|actual - expected| <= rtol*|expected| (+ rtol*scale where sums cancel).

    ``scale`` is the same sum taken over absolute values (for example
    |X| @ |W1| for z2 = X @ W1): where terms of both signs cancel, the
    rounding error of any summation order is bounded relative to it, not to
    the (possibly tiny) result.  Without ``scale`` the check is pure rtol.
    """
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.dtype == np.float64, actual.dtype
    tol = rtol * np.abs(expected)
    if scale is not None:
        tol = tol + rtol * np.asarray(scale)
    err = np.abs(actual - expected)
    bad = ~(err <= tol)  # NaN counts as bad
    if bad.any():
        i = np.argmax(np.where(bad, err - tol, -np.inf))
        pytest.fail(
            f"{int(bad.sum())} of {bad.size} values differ beyond rtol={rtol}; worst at flat "
            f"index {i}: actual {actual.ravel()[i]!r}, expected {expected.ravel()[i]!r}, "
            f"tolerance {tol.ravel()[i]!r}")


def forward_scales(ref, X):
    """Magnitude sums for z2 and z3 after ref.forward(X)."""
    return np.abs(X) @ np.abs(ref.W1), np.abs(ref.a2) @ np.abs(ref.W2)


def gradient_scales(ref, X, y):
    """Magnitude sums bounding the rounding error of dJdW1 and dJdW2.

    The backprop formulas with every subtraction and signed sum replaced by
    the sum of absolute values (y - yHat -> |y| + |yHat|).
    """
    yhat = ref.forward(X)
    fp3 = ref.sigmoidPrime(ref.z3)
    fp2 = ref.sigmoidPrime(ref.z2)
    d3 = (np.abs(y) + np.abs(yhat)) * fp3
    d2 = (d3 @ np.abs(ref.W2).T) * fp2
    return np.abs(X).T @ d2, np.abs(ref.a2).T @ d3


def cost_scale(ref, X, y):
    """sum |y - yHat| per output: J's error is bounded by ~eps times this."""
    yhat = ref.forward(X)
    return 0.1 * np.sum(np.abs(np.asarray(y, float) - yhat), axis=0)
