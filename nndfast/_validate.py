"""Input checks (helper) for the Python layer.  Kernels trust what passes these.

Pure Python and numpy: nndfast.reference uses it too, without the build.
"""
import numbers
import re
from collections.abc import Mapping

import numpy as np

__all__ = ["as_examples", "as_data", "as_weights", "as_lambda", "check_finite",
           "check_num_threads", "parse_axes", "F64", "as_real", "as_count", "as_tolerance",
           "as_rate", "as_rng", "as_layer_size", "as_layer_sizes", "network_fields",
           "read_network", "NetworkRead", "check_search", "MAX_THREADS", "MAX_LAYER_SIZE",
           "weight_key"]

F64 = np.dtype(np.float64)
_NUMERIC_KINDS = "biuf"
#: The kernels take the thread count as a C int.
MAX_THREADS = 2**31 - 1


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _as_float(value, name):
    """float(value), with a Python int beyond float's range (10**400) a
    ValueError naming the argument, not float()'s OverflowError."""
    try:
        return float(value)
    except OverflowError:
        # (not str(value): from Python 3.11 that refuses ints over 4300 digits)
        raise ValueError(f"{name} must be a finite number, got one of about "
                         f"2**{int(value).bit_length()}, beyond float's range") from None


def as_real(value, name):
    """A real number (not bool) as a float; TypeError otherwise, ValueError
    for an int too large for a float."""
    if not _is_real(value):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    return _as_float(value, name)


def as_count(value, name):
    """An int >= 1 (not bool) as a Python int; TypeError or ValueError otherwise."""
    if not _is_int(value):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def as_tolerance(value, name):
    """A finite real number >= 0 as a float (0 turns an early stop off)."""
    value = as_real(value, name)
    if not 0 <= value < np.inf:
        raise ValueError(
            f"{name} must be a finite number >= 0 (0 turns the early stop off), got {value}")
    return value


def as_rate(value, name):
    """A finite real number > 0 as a float (a step size)."""
    value = as_real(value, name)
    if not 0 < value < np.inf:
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


#: The kernels take each layer size as a C int.
MAX_LAYER_SIZE = 2**31 - 1


def as_layer_size(value, name):
    """One layer size: an int (numpy ints too, not bool or float) in
    1 .. MAX_LAYER_SIZE, as a Python int; TypeError or ValueError naming
    it otherwise."""
    if not _is_int(value):
        raise TypeError(f"{name} must be a positive int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value}")
    if value > MAX_LAYER_SIZE:
        raise ValueError(f"{name} must be at most 2**31 - 1, got {value}")
    return int(value)


def as_layer_sizes(I, H, O):
    """(inputLayerSize, hiddenLayerSize, outputLayerSize), each checked by
    as_layer_size, in the network's own wording."""
    return (as_layer_size(I, "inputLayerSize"), as_layer_size(H, "hiddenLayerSize"),
            as_layer_size(O, "outputLayerSize"))


def _not_a_network(NN):
    return TypeError(
        "NN must be a Neural_Network (nndfast's or nndfast.reference's): it needs "
        "inputLayerSize, hiddenLayerSize, outputLayerSize, W1 and W2; got "
        f"{type(NN).__name__}")


class NetworkRead(object):
    """One read of a network's public state, for entry points that hand it
    on (grid search to its plan, its Python loop and the Dask driver): the
    attributes inputLayerSize, hiddenLayerSize, outputLayerSize, W1, W2
    and Lambda as the network gave them, unchecked."""

    __slots__ = ("inputLayerSize", "hiddenLayerSize", "outputLayerSize", "W1", "W2",
                 "Lambda")

    def __init__(self, I, H, O, W1, W2, Lambda):
        self.inputLayerSize, self.hiddenLayerSize, self.outputLayerSize = I, H, O
        self.W1, self.W2, self.Lambda = W1, W2, Lambda


def read_network(NN):
    """NN's sizes, W1, W2 and Lambda (None when absent), each read once
    through its public attribute, as a NetworkRead (returned as is when NN
    is one already).  Later checks work from it, so a network changed
    during the call (by a hook or another thread) cannot give them values
    from two different states.  TypeError for an object without the
    tutorial's attributes."""
    if type(NN) is NetworkRead:
        return NN
    I, H, O, Lambda = network_fields(NN)
    try:
        W1, W2 = NN.W1, NN.W2
    except AttributeError:
        raise _not_a_network(NN) from None
    return NetworkRead(I, H, O, W1, W2, Lambda)


def network_fields(NN):
    """(inputLayerSize, hiddenLayerSize, outputLayerSize, Lambda) of a
    network as stored, unchecked (Lambda None when absent); TypeError for
    an object without the tutorial's layer sizes."""
    try:
        return NN.inputLayerSize, NN.hiddenLayerSize, NN.outputLayerSize, getattr(
            NN, "Lambda", None)
    except AttributeError:
        raise _not_a_network(NN) from None


def check_search(I, H, O, Lambda, X, y, num_threads):
    """A grid search's scalar arguments and data, checked before any work:
    returns (X, y) as as_data gives them.

    With Lambda a number, Part 7's cost divides by the number of examples,
    so X must have at least one row.
    """
    I, H, O = as_layer_sizes(I, H, O)
    lam = as_lambda(Lambda)
    check_num_threads(num_threads)
    X, y = as_data(X, y, I, O)
    if lam is not None and X.shape[0] == 0:
        raise ValueError("X must hold at least one example when NN.Lambda is set "
                         "(Part 7's cost divides by the number of examples)")
    return X, y


def _numeric(A, name):
    try:
        arr = np.asarray(A)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be a numeric array; could not convert it: {exc}") from None
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(
            f"{name} must be a real numeric array (bool, integer or float); got dtype "
            f"{arr.dtype}")
    return arr


def as_examples(A, name, ncols, what):
    """Return A as a C-contiguous float64 (n, ncols) array, or raise.

    ``what`` names the layer size the columns must match, for the message.
    """
    if (type(A) is np.ndarray and A.dtype is F64 and A.ndim == 2
            and A.flags.c_contiguous and A.flags.aligned):
        if A.shape[1] != ncols:
            raise ValueError(
                f"{name} must have {ncols} columns ({what}); got shape {A.shape}")
        return A
    arr = _numeric(A, name)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D, shape (n_examples, {ncols}) with one row per example; "
            f"got ndim={arr.ndim}, shape {arr.shape}")
    if arr.shape[1] != ncols:
        raise ValueError(f"{name} must have {ncols} columns ({what}); got shape {arr.shape}")
    # aligned too: kernels load doubles directly (SIMD loads may assume it)
    return np.require(arr, dtype=F64, requirements=("C", "A"))


def as_data(X, y, I, O):
    """Return (X, y) as C-contiguous float64 arrays of shapes (n, I) and
    (n, O), or raise naming what was expected.  y may be None (forward)."""
    X = as_examples(X, "X", I, "inputLayerSize")
    if y is None:
        return X, None
    y = as_examples(y, "y", O, "outputLayerSize")
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"y must have one row per row of X: X has {X.shape[0]} rows, "
            f"y has {y.shape[0]}")
    return X, y


def as_weights(A, name, shape=None):
    """Return A as a float64 C-contiguous array of exactly ``shape`` (or of
    any 2-D shape when shape is None), or raise.

    An array that already is one is returned as is (not copied), so later
    in-place edits by the user are seen, as in the tutorial.
    """
    # dtype ==, not is: a float64 array that went through pickle has an
    # equal dtype object of its own, and must be kept as is all the same
    if (type(A) is np.ndarray and A.dtype == F64 and A.flags.c_contiguous
            and A.flags.aligned and (A.shape == shape if shape else A.ndim == 2)):
        return A
    arr = _numeric(A, name)
    if shape is None and arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array; got shape {arr.shape}")
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; got {arr.shape}")
    return np.array(arr, dtype=F64, order="C", copy=True)


def as_lambda(value):
    """Part 7's regularization parameter: None (Parts 2-6's cost), or a
    finite real number >= 0 returned as a float; raise otherwise."""
    if value is None:
        return None
    if not _is_real(value):
        raise TypeError(
            f"Lambda must be None or a real number >= 0, got {type(value).__name__} {value!r}")
    lam = _as_float(value, "Lambda")
    if not (0.0 <= lam < np.inf):
        raise ValueError(f"Lambda must be a finite number >= 0 (or None), got {value!r}")
    return lam


def as_rng(seed, name="seed"):
    """np.random.default_rng(seed) (seed None, an int >= 0, a sequence of
    them, a SeedSequence, BitGenerator or Generator), with numpy's refusal
    re-raised naming the argument."""
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{name} must be None, an int >= 0 or a numpy Generator/"
                        f"SeedSequence, got {type(seed).__name__} {seed!r} ({exc})") from None


def check_finite(A, name):
    """Raise ValueError if A holds NaN or inf."""
    if not np.isfinite(A).all():
        raise ValueError(f"{name} contains NaN or inf")


def check_num_threads(num_threads):
    """Return ``num_threads`` as None or an int >= 1, or raise.

    Zero, a negative number or one above MAX_THREADS (the kernels' C int)
    raises ValueError; anything that is not an int (bool and float
    included) raises TypeError.
    """
    if num_threads is None:
        return None
    if not _is_int(num_threads):
        raise TypeError(
            f"num_threads must be None or a positive int, got {type(num_threads).__name__} "
            f"{num_threads!r}")
    if num_threads < 1:
        raise ValueError(f"num_threads must be None or a positive int, got {num_threads}")
    if num_threads > MAX_THREADS:
        raise ValueError(f"num_threads must be at most {MAX_THREADS}, got {num_threads}")
    return int(num_threads)


#: "W1[i,j]" / "W2[i,j]", spaces allowed: the one pattern of a weight's name
#: (grid axes, the command line's --axis).
_WEIGHT_NAME = re.compile(r"^\s*(W[12])\s*\[\s*(\d+)\s*,\s*(\d+)\s*\]\s*$")


def weight_key(key):
    """("W1" or "W2", i, j) from "W1[i,j]" (spaces allowed) or ("W1", i, j); else None."""
    if isinstance(key, str):
        m = _WEIGHT_NAME.match(key)
        return None if m is None else (m.group(1), int(m.group(2)), int(m.group(3)))
    if isinstance(key, tuple) and len(key) == 3 and key[0] in ("W1", "W2") and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in key[1:]):
        return (key[0], int(key[1]), int(key[2]))
    return None


def _axis_values(arr):
    """A 1-D numeric ndarray as C-contiguous, aligned float64: itself when it
    already is one (an axis of 10^8 values is 0.8 GB: copying it would cost about
    half a search), else a new array.  (Not a read-only view of it: setting
    the flag on a view per call leaves numpy allocations behind, which
    tests/test_leaks.py sees; the kernels and the reference only read.)"""
    if arr.dtype == F64 and arr.flags.c_contiguous and arr.flags.aligned:
        return arr
    return np.array(arr, dtype=F64)


def parse_axes(axes, shapes, all_finite=None):
    """Check a grid's axes; return [(name, layer, i, j, values)] in the given order.

    axes : mapping from a weight, "W1[i,j]" / "W2[i,j]" or ("W1", i, j), to
    a 1-D array of finite values.  shapes : {"W1": (I, H), "W2": (H, O)}.
    all_finite : None, or a faster test values -> bool (nndfast._grid's
    compiled one; np.isfinite otherwise).
    name is the canonical "W1[i,j]"; values is a float64 1-D C-contiguous
    array: the caller's array itself when it already is one (not a copy:
    only read it, and let the values reach a returned result only as copied
    scalars, so a later edit by the caller changes nothing), else a new
    array.  Raises TypeError for a non-mapping or non-numeric values,
    ValueError for anything else that is wrong.
    """
    if not isinstance(axes, Mapping):
        raise TypeError(
            f"axes must be a mapping (e.g. a dict) from weight name to 1-D values, "
            f"got {type(axes).__name__}")
    if len(axes) == 0:
        raise ValueError("axes must name at least one weight, e.g. {'W1[0,0]': values}")
    out, seen = [], {}
    for key, vals in axes.items():
        wk = weight_key(key)
        if wk is None:
            raise ValueError(
                f"axes: unknown weight {key!r}; use 'W1[i,j]', 'W2[i,j]' or ('W1', i, j)")
        layer, i, j = wk
        name = f"{layer}[{i},{j}]"
        if not (0 <= i < shapes[layer][0] and 0 <= j < shapes[layer][1]):
            raise ValueError(
                f"axes: weight {key!r} is out of range: {layer} has shape {shapes[layer]}")
        if wk in seen:
            raise ValueError(
                f"axes: weight {name} appears twice (as {seen[wk]!r} and {key!r})")
        seen[wk] = key
        arr = _numeric(vals, f"axes[{key!r}]")
        if arr.ndim != 1:
            raise ValueError(
                f"axes[{key!r}] must be a 1-D array of values; got shape {arr.shape}")
        if arr.shape[0] == 0:
            raise ValueError(f"axes[{key!r}] is empty; give at least one value")
        arr = _axis_values(arr)
        if all_finite is None:
            check_finite(arr, f"axes[{key!r}]")
        elif not all_finite(arr):
            raise ValueError(f"axes[{key!r}] contains NaN or inf")
        out.append((name, layer, i, j, arr))
    return out
