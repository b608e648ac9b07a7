"""Thread-count policy shared by every parallel entry point."""
import numbers

from nndfast import _openmp

__all__ = ["openmp_enabled", "resolve_num_threads"]

openmp_enabled = _openmp.openmp_enabled


def resolve_num_threads(num_threads):
    """Turn a user's ``num_threads`` into a thread count >= 1.

    None means what OpenMP would use now: OMP_NUM_THREADS, a threadpoolctl
    limit (both act through omp_get_max_threads) or else the usable cores.
    A positive int is taken as given.  Zero or a negative number raises
    ValueError; anything that is not an int (bool and float included) raises
    TypeError.
    """
    if num_threads is None:
        return max(1, _openmp.max_threads())
    if isinstance(num_threads, bool) or not isinstance(num_threads, numbers.Integral):
        raise TypeError(
            f"num_threads must be None or a positive int, got {type(num_threads).__name__} "
            f"{num_threads!r}")
    if num_threads < 1:
        raise ValueError(f"num_threads must be None or a positive int, got {num_threads}")
    return int(num_threads)
