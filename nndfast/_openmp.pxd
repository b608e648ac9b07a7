# The thread-team policy (nndfast/_openmp_policy.h), implemented once in
# _openmp.pyx and cimported by every kernel module, so that the process has
# one policy state.  Policy only, no math: each kernel keeps its own work
# rule (how many threads its work could use) and asks team_threads how many
# to start now.

cdef enum:
    # Backoff histories (the `history` argument): single network calls and
    # grid searches learn from their own teams only.
    NETWORK_TEAMS = 0
    GRID_TEAMS = 1

# Seconds on a monotonic clock (omp_get_wtime; clock_gettime without OpenMP).
cdef double team_clock() noexcept nogil
# Threads to start now for a call that its work rule allows `want` (>= 1):
# 1 in a forked child whose pool is dead, while history's teams are backed
# off, or when no other core is free.  1 means: no parallel region at all.
cdef int team_threads(int history, int want) noexcept nogil
# Called by every thread of a team, inside it: notes nndfast's own workers,
# which the free-core count must not take for other work.
cdef void team_note_worker() noexcept nogil
# After a team ran `chunks` equal pieces of work from start_s (team_clock),
# master_chunks of them on OpenMP thread 0, its last done at master_done_s:
# whether the team beat one thread by gain_pct % (see _openmp_policy.h's
# nnd_team_record), which decides history's backoff.
cdef void team_record(int history, int gain_pct, double start_s, double master_done_s,
                      Py_ssize_t master_chunks, Py_ssize_t chunks) noexcept nogil
