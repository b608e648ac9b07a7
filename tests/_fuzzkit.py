"""Shared pieces of the hardening tests: hypothesis strategies for hostile
inputs, the validity rules the public API documents, and an error bound that
turns "matches the reference at rtol 1e-12" into a sound check even when the
inputs make the float64 sums ill-conditioned.

Not a test module (leading underscore): test_fuzz.py imports it.
"""
import os
import re

import numpy as np
from hypothesis import strategies as st

EPS = np.finfo(np.float64).eps
RTOL = 1e-12

# --- example budget ---------------------------------------------------------

def fuzz_examples():
    """Examples per entry point: NNDFAST_FUZZ_EXAMPLES, else 10**4 with
    NNDFAST_FUZZ_LONG=1, else 1000 (the CI budget)."""
    if os.environ.get("NNDFAST_FUZZ_EXAMPLES"):
        return int(os.environ["NNDFAST_FUZZ_EXAMPLES"])
    if os.environ.get("NNDFAST_FUZZ_LONG") == "1":
        return 10_000
    return 1000


# --- hostile arrays ---------------------------------------------------------

SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e300, -1e300, 1.7976931348623157e308,
           -1.7976931348623157e308, 5e-324, -5e-324, 2.2250738585072014e-308, 1e-310,
           709.0, -709.0, 745.2, -745.2, 36.0, -36.0, 1e16]

REAL_DTYPES = ["float64", "float32", "float16", "longdouble", "int64", "int32", "int8",
               "uint8", "uint64", "bool"]
BAD_DTYPES = ["complex128", "object", "str", "bytes", "datetime64[s]", "timedelta64[s]",
              "object_str", "void"]
LAYOUTS = ["C", "F", "strided", "negstride", "readonly", "list", "nonnative", "unaligned"]


def _cast(base, dtype, rng):
    """base (float64) -> an array of ``dtype`` with the same shape."""
    if dtype in ("float64", "float32", "float16", "longdouble"):
        with np.errstate(over="ignore", invalid="ignore"):
            return base.astype(dtype)
    if dtype == "bool":
        return base > 0
    if dtype in ("int64", "int32", "int8", "uint8", "uint64"):
        info = np.iinfo(dtype)
        lo, hi = ((max(info.min, -5), min(info.max, 5)) if rng.random() < 0.7
                  else (info.min, info.max))
        return rng.integers(lo, hi, size=base.shape, dtype=dtype, endpoint=True)
    if dtype == "complex128":
        return base + 0.5j
    if dtype == "object":
        return base.astype(object)
    if dtype == "object_str":
        out = base.astype(object)
        if out.size:
            out.flat[0] = "1.0"
        return out
    if dtype == "str":
        return base.astype(str)
    if dtype == "bytes":
        return base.astype("S8")
    if dtype == "void":
        return np.zeros(base.shape, dtype=[("a", "f8"), ("b", "i4")])
    with np.errstate(all="ignore"):
        return base.astype(dtype)  # datetime64 / timedelta64 (NaN -> NaT is fine)


def _layout(arr, layout):
    if layout == "C":
        return np.ascontiguousarray(arr)
    if layout == "F":
        return np.asfortranarray(arr)
    if layout == "strided":
        if arr.ndim == 0:
            return arr
        big = np.repeat(arr, 2, axis=-1) if arr.shape[-1] else arr
        return big[..., ::2] if arr.shape[-1] else big
    if layout == "negstride":
        return arr[::-1] if arr.ndim else arr
    if layout == "readonly":
        a = np.array(arr)
        a.flags.writeable = False
        return a
    if layout == "list":
        return arr.tolist()
    if layout == "nonnative":
        if arr.dtype.kind in "biufc" and arr.dtype.itemsize > 1:
            return arr.astype(arr.dtype.newbyteorder())
        return arr
    if layout == "unaligned":
        if arr.dtype.kind in "iufc" and arr.dtype.itemsize > 1 and arr.size:
            buf = np.zeros(arr.nbytes + 1, dtype=np.uint8)
            out = buf[1:].view(arr.dtype).reshape(arr.shape)
            out[...] = arr
            return out
        return arr
    raise AssertionError(layout)


@st.composite
def hostile_array(draw, shape, bad_dtypes=True, dtypes=None):
    """An array-like of ``shape`` in any dtype and layout, with random values
    (from a drawn seed, so big arrays stay cheap) and a few special values
    (NaN, +-inf, huge, subnormal) injected at drawn positions."""
    if dtypes is None:
        pool = REAL_DTYPES + (BAD_DTYPES if bad_dtypes else [])
        dtype = draw(st.sampled_from(REAL_DTYPES) if not bad_dtypes or draw(st.integers(0, 5))
                     else st.sampled_from(pool))
    else:
        dtype = draw(st.sampled_from(dtypes))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    scale = draw(st.sampled_from([1.0, 1.0, 3.0, 1e-3, 40.0, 1e3, 1e150, 1e-310]))
    base = np.array(rng.standard_normal(shape) * scale, dtype=np.float64)
    size = base.size
    if size and draw(st.integers(0, 3)) == 0:
        for _ in range(draw(st.integers(1, min(size, 4)))):
            base.flat[draw(st.integers(0, size - 1))] = draw(st.sampled_from(SPECIAL))
    arr = _cast(base, dtype, rng)
    return _layout(arr, draw(st.sampled_from(LAYOUTS)))


def example_shape(ncols, rows):
    """Mostly (rows, ncols); sometimes a wrong column count or ndim."""
    return st.one_of(
        st.just((rows, ncols)), st.just((rows, ncols)), st.just((rows, ncols)),
        st.sampled_from([(rows, ncols + 1), (rows, max(ncols - 1, 0)), (rows,), (),
                         (rows, ncols, 1), (1, rows, ncols), (0, 0)]))


# mostly tiny (the GIL-held path), one draw in four large enough for the
# memoryview/prange path (rows * H * (I + O) >= 65536 needs H = 64 or ~3000 rows)
ROWS = st.one_of(st.integers(0, 7), st.integers(0, 7), st.integers(0, 7),
                 st.sampled_from([255, 256, 257, 1200, 3000]))
SIZES = st.tuples(st.integers(1, 4), st.sampled_from([1, 2, 3, 5, 64]), st.integers(1, 3))


# --- validity rules (the documented contract) --------------------------------

def _word(name):
    return r"(?<![A-Za-z0-9_])" + re.escape(name) + r"(?![A-Za-z0-9_])"


class Problem(object):
    """A documented reason to refuse an input: exception types and a regex the
    message must match (it names the argument and says what is wrong)."""

    def __init__(self, exc, pattern):
        self.exc = exc if isinstance(exc, tuple) else (exc,)
        self.pattern = pattern

    def matches(self, err):
        return isinstance(err, self.exc) and re.search(self.pattern, str(err), re.S)

    def __repr__(self):
        return f"Problem({self.exc}, {self.pattern!r})"


def numeric_problem(A, name):
    try:
        arr = np.asarray(A)
    except Exception:
        return None, Problem((TypeError, ValueError), _word(name))
    if arr.dtype.kind not in "biuf":
        return None, Problem(TypeError, _word(name) + r".*(numeric|dtype)")
    return arr, None


def examples_problems(A, name, ncols):
    arr, p = numeric_problem(A, name)
    if p:
        return None, [p]
    if arr.ndim != 2:
        return None, [Problem(ValueError, _word(name) + r".*(2-D|ndim)")]
    if arr.shape[1] != ncols:
        return None, [Problem(ValueError, _word(name) + rf".*{ncols} columns")]
    return arr, []


def xy_problems(X, y, I, O):
    Xa, px = examples_problems(X, "X", I)
    ya, py = examples_problems(y, "y", O)
    probs = px + py
    if not probs and Xa.shape[0] != ya.shape[0]:
        probs.append(Problem(ValueError, r"(?<![A-Za-z])y(?![A-Za-z]).*rows"))
    return Xa, ya, probs


def check_outcome(call, problems):
    """Run call(); if problems, it must raise one of them; if none, it must
    not raise.  Returns (raised, value)."""
    try:
        value = call()
    except (ValueError, TypeError, MemoryError) as err:
        assert problems, f"valid input refused: {type(err).__name__}: {err}"
        assert any(p.matches(err) for p in problems), (
            f"error does not name the problem: {type(err).__name__}: {err}; expected one of "
            f"{problems}")
        return True, None
    assert not problems, f"invalid input accepted (expected one of {problems})"
    return False, value


# --- reference values with an error bound ------------------------------------

SIG1 = 0.25   # max |f'|
SIG2 = 0.1    # max |f''| = 1/(6*sqrt(3)) ~ 0.096


def _gamma(k):
    return 2.0 * (k + 2) * EPS


def _sig(z):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def bounded_reference(X, y, W1, W2):
    """The reference's values, computed in float64 the tutorial's way, each
    with a forward error bound B: any correct float64 evaluation (in any
    summation order, with a sigmoid within a few ulp) lies within B of the
    exact value.  Two correct implementations therefore differ by <= 2B.

    Returns dict name -> (value, bound) for yhat, J, g1, g2.
    """
    with np.errstate(all="ignore"):
        X = np.asarray(X, dtype=np.float64)
        W1 = np.asarray(W1, dtype=np.float64)
        W2 = np.asarray(W2, dtype=np.float64)
        aX, aW1, aW2 = abs(X), abs(W1), abs(W2)
        n, I = X.shape
        H, O = W2.shape
        z2 = X @ W1
        Bz2 = _gamma(I) * (aX @ aW1)
        a2 = _sig(z2)
        Ba2 = SIG1 * Bz2 + 8 * EPS * a2
        z3 = a2 @ W2
        Bz3 = _gamma(H) * (a2 @ aW2) + Ba2 @ aW2
        yh = _sig(z3)
        Byh = SIG1 * Bz3 + 8 * EPS * yh
        out = {"yhat": (yh, Byh)}
        if y is None:
            return out
        y = np.asarray(y, dtype=np.float64)
        r = y - yh
        Br = Byh + EPS * abs(r)
        J = 0.5 * np.sum(r * r, axis=0)
        BJ = np.sum(abs(r) * Br + 0.5 * Br * Br, axis=0) + _gamma(n) * J
        s3 = yh * (1 - yh)
        Bs3 = SIG2 * Bz3 + 8 * EPS * s3
        d3 = -r * s3
        Bd3 = Br * s3 + abs(r) * Bs3 + Br * Bs3 + EPS * abs(d3)
        g2 = a2.T @ d3
        Bg2 = _gamma(n) * (a2.T @ abs(d3)) + Ba2.T @ abs(d3) + (a2 + Ba2).T @ Bd3
        t = d3 @ W2.T
        Bt = _gamma(O) * (abs(d3) @ aW2.T) + Bd3 @ aW2.T
        s2 = a2 * (1 - a2)
        Bs2 = SIG2 * Bz2 + 8 * EPS * s2
        d2 = t * s2
        Bd2 = Bt * s2 + abs(t) * Bs2 + Bt * Bs2 + EPS * abs(d2)
        g1 = X.T @ d2
        Bg1 = _gamma(n) * (aX.T @ abs(d2)) + aX.T @ Bd2
        out.update(J=(J, BJ), g1=(g1, Bg1), g2=(g2, Bg2))
        return out


def assert_close_bounded(name, got, ref, bound, ref_exact=None):
    """|got - ref| <= RTOL*|ref| + 2*bound wherever ref and bound are finite.

    ref_exact, if given, is the reference module's own answer (same shape):
    wherever it is finite and the bound is finite it must agree too.
    """
    got = np.asarray(got)
    assert got.shape == ref.shape, f"{name}: shape {got.shape} != reference {ref.shape}"
    assert got.dtype == np.float64, f"{name}: dtype {got.dtype}"
    with np.errstate(all="ignore"):
        ok = np.isfinite(ref) & np.isfinite(bound)
        tol = RTOL * abs(ref) + 2.0 * bound + 1e-300
        err = abs(got - ref)
        bad = ok & ~(err <= tol)
    if bad.any():
        idx = tuple(np.argwhere(bad)[0])
        raise AssertionError(
            f"{name}[{idx}]: got {got[idx]!r}, reference {ref[idx]!r}, bound {bound[idx]!r} "
            f"({int(bad.sum())} of {bad.size} outside tolerance)")
    # anything the bound says is well-determined must also be finite here
    assert np.isfinite(got[ok]).all(), f"{name}: non-finite where the reference is finite"
    if ref_exact is not None:
        ref_exact = np.asarray(ref_exact, dtype=np.float64)
        with np.errstate(all="ignore"):
            ok2 = ok & np.isfinite(ref_exact)
            bad2 = ok2 & ~(abs(got - ref_exact) <= tol)
        assert not bad2.any(), f"{name}: differs from nndfast.reference beyond tolerance"
