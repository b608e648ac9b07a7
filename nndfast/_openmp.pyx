# cython: language_level=3, boundscheck=False, wraparound=False
"""What the compiled extension was built with, how many threads it may use,
and the thread-team policy of every kernel (one state per process).

The policy itself is C, in _openmp_policy.h, included here only; the kernel
modules call it through _openmp.pxd.  The def functions below are for tests
and benchmarks.
"""

from libc.stdint cimport int64_t

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define NND_OPENMP 1
    #else
    #define NND_OPENMP 0
    static int omp_get_max_threads(void) { return 1; }
    #endif
    #define NND_TEAM_POLICY_OWNER 1
    #include "_openmp_policy.h"
    """
    int NND_OPENMP
    int omp_get_max_threads() nogil
    int NND_MAX_WORKERS
    double nnd_team_clock() noexcept nogil
    int nnd_team_threads(int h, int want) noexcept nogil
    void nnd_note_worker() noexcept nogil
    void nnd_team_record(int h, int gain_pct, double start_s, double master_done_s,
                         int64_t master_chunks, int64_t chunks) noexcept nogil
    int nnd_team_backed_off(int h) noexcept nogil
    void nnd_team_result(int h, int lost) noexcept nogil
    void nnd_team_forget() noexcept nogil
    void nnd_set_team_adaptive(int on) noexcept nogil
    int nnd_teams_usable() noexcept nogil
    int64_t nnd_worker_tid(int k) noexcept nogil
    int nnd_team_policy_init() noexcept


if nnd_team_policy_init() != 0:
    raise ImportError("nndfast._openmp: could not register the fork handler (pthread_atfork)")


cdef double team_clock() noexcept nogil:
    return nnd_team_clock()


cdef int team_threads(int history, int want) noexcept nogil:
    return nnd_team_threads(history, want)


cdef void team_note_worker() noexcept nogil:
    nnd_note_worker()


cdef void team_record(int history, int gain_pct, double start_s, double master_done_s,
                      Py_ssize_t master_chunks, Py_ssize_t chunks) noexcept nogil:
    nnd_team_record(history, gain_pct, start_s, master_done_s, master_chunks, chunks)


def openmp_enabled():
    """True if the kernels were compiled with OpenMP (parallel), False if serial."""
    return bool(NND_OPENMP)


def max_threads():
    """The thread count OpenMP would use now: honours OMP_NUM_THREADS and
    threadpoolctl limits (both act through omp_get_max_threads); 1 when serial."""
    return omp_get_max_threads()


cdef dict _HISTORIES = {"network": NETWORK_TEAMS, "grid": GRID_TEAMS}


def teams_usable():
    """False in a process forked after its parent (or an ancestor) started a
    thread team: there every call runs on one thread (libgomp's pool does
    not survive fork)."""
    return bool(nnd_teams_usable())


def team_workers():
    """{OpenMP thread number: Linux thread id} of the team workers (threads
    1, 2, ...) that nndfast's network calls and grid searches last ran on in
    this process: the threads the free-core count does not take for other
    work (an id may belong to a worker that has since exited).  Empty where
    that is not tracked (no OpenMP, not Linux).  For tests."""
    return {k: nnd_worker_tid(k) for k in range(1, NND_MAX_WORKERS) if nnd_worker_tid(k) != 0}


def team_outcome(lost=None, str history="network"):
    """Record one team's outcome (lost True or False) in the backoff state of
    history ("network" or "grid"), if given; return whether that history's
    calls are backed off to one thread now.  For tests of the policy."""
    cdef int h = _HISTORIES[history]
    if lost is not None:
        nnd_team_result(h, 1 if lost else 0)
    return bool(nnd_team_backed_off(h))


def forget_team_losses():
    """Let the next calls use teams again even if some recently lost to one
    thread (both histories).  For tests and benchmarks."""
    nnd_team_forget()


def adaptive_teams(bint on):
    """Switch the run-time team checks of every kernel (the backoff after
    teams lost to one thread, and the free-core count) on (the default) or
    off, forgetting past losses either way.  Off, teams follow each kernel's
    work rule alone: for tests that must exercise teams on a busy machine,
    and for benchmarks.  A forked child whose pool is dead stays serial
    either way."""
    nnd_set_team_adaptive(on)
