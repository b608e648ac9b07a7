# cython: language_level=3, boundscheck=False, wraparound=False
"""What the compiled extension was built with, and how many threads it may use."""

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define NND_OPENMP 1
    #else
    #define NND_OPENMP 0
    static int omp_get_max_threads(void) { return 1; }
    #endif
    """
    int NND_OPENMP
    int omp_get_max_threads() nogil


def openmp_enabled():
    """True if the kernels were compiled with OpenMP (parallel), False if serial."""
    return bool(NND_OPENMP)


def max_threads():
    """The thread count OpenMP would use now: honours OMP_NUM_THREADS and
    threadpoolctl limits (both act through omp_get_max_threads); 1 when serial."""
    return omp_get_max_threads()
