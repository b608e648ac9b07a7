"""Input checks for the Python layer.  Kernels trust what passes these."""
import numpy as np

__all__ = ["as_examples", "as_weights", "check_finite", "F64"]

F64 = np.dtype(np.float64)
_NUMERIC_KINDS = "biuf"


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
            and A.flags.c_contiguous):
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
    return np.ascontiguousarray(arr, dtype=F64)


def as_weights(A, name, shape):
    """Return A as a float64 C-contiguous array of exactly ``shape``, or raise.

    An array that already is one is returned as is (not copied), so later
    in-place edits by the user are seen, as in the tutorial.
    """
    if (type(A) is np.ndarray and A.dtype is F64 and A.shape == shape
            and A.flags.c_contiguous):
        return A
    arr = _numeric(A, name)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; got {arr.shape}")
    return np.array(arr, dtype=F64, order="C", copy=True)


def check_finite(A, name):
    """Raise ValueError if A holds NaN or inf."""
    if not np.isfinite(A).all():
        raise ValueError(f"{name} contains NaN or inf")
