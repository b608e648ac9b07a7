"""Thread-count policy (helper) shared by every parallel entry point.

Loads the compiled nndfast._openmp; the pure-Python check of a user's
``num_threads`` lives in nndfast._validate, so the reference can use it
without the build.
"""
from nndfast import _openmp
from nndfast._validate import check_num_threads

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
    num_threads = check_num_threads(num_threads)
    if num_threads is None:
        return max(1, _openmp.max_threads())
    return num_threads
