/*
 * The thread-team policy of every nndfast kernel, and its one state per
 * process.  Policy only, no math: when a call that its own work rule allows
 * `want` threads really starts a team (nnd_team_threads), and what the
 * outcome of that team teaches the next calls (nnd_team_record).
 *
 * Only _openmp.pyx includes this header; _network.pyx and _grid.pyx reach
 * these functions through nndfast/_openmp.pxd (Cython's C-API capsule), so
 * every kernel module reads and writes the same state.  A second includer
 * would get a private copy of the state, hence the #error below.
 *
 * The rules, in the order nnd_team_threads applies them:
 *  1. Fork: a child forked after this process started a team has a dead
 *     libgomp pool (the parent's workers do not exist in the child, and
 *     libgomp would wait for them at its barrier forever; it cannot be
 *     re-initialised).  Such a child, and its own children, run every call
 *     on the calling thread, outside any parallel region.
 *  2. Backoff: a team that fails twice running to beat what one thread would
 *     have done (nnd_team_record) sends the calls of its history (network or
 *     grid, see NND_TEAM_HISTORIES) to one thread for NND_TEAM_BACKOFF_MS,
 *     twice as long after the next such failure, and so on up to
 *     2^NND_TEAM_MAX_DOUBLINGS times.  A win resets the streak.
 *  3. Free cores: no more threads than cores that no other runnable thread
 *     holds (nnd_free_cores).
 * Rules 2 and 3 are "adaptive" and can be switched off for tests
 * (nnd_set_team_adaptive); rule 1 cannot.
 *
 * State is read and written with relaxed atomics: a stale value only
 * changes how many threads a later call uses, never a result (the kernels'
 * results do not depend on the thread count).
 */
#ifndef NNDFAST_OPENMP_POLICY_H
#define NNDFAST_OPENMP_POLICY_H

#ifndef NND_TEAM_POLICY_OWNER
#error "only _openmp.pyx includes _openmp_policy.h; other modules cimport nndfast._openmp"
#endif

#include <stdint.h>

#ifdef _OPENMP
#include <omp.h>
static inline double nnd_team_clock(void) { return omp_get_wtime(); }
#else
/* serial builds still time the signal checks of long calls */
#include <time.h>
static inline double nnd_team_clock(void)
{
#if defined(CLOCK_MONOTONIC)
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
#else
    return (double) clock() / CLOCKS_PER_SEC;
#endif
}
#endif

#if defined(__GNUC__)
#define NND_LOAD(v) __atomic_load_n(&(v), __ATOMIC_RELAXED)
#define NND_STORE(v, x) __atomic_store_n(&(v), (x), __ATOMIC_RELAXED)
#else
#define NND_LOAD(v) (v)
#define NND_STORE(v, x) ((v) = (x))
#endif

/* Separate backoff histories: a grid search and a network call load the
 * cores differently (a search's blocks run ~50 ms in small dynamic chunks),
 * so one's losses say little about the other's.  Indices match
 * _openmp.pxd's NETWORK_TEAMS and GRID_TEAMS. */
#define NND_TEAM_HISTORIES 2
#define NND_TEAM_BACKOFF_MS 250
#define NND_TEAM_MAX_DOUBLINGS 7
#define NND_NEVER (-((int64_t) 1 << 60))

/* Per history: when a team last lost (microseconds of nnd_team_clock), how
 * many times in a row teams lost twice running, and whether the last team
 * lost once (armed). */
static int64_t nnd_team_lost_us[NND_TEAM_HISTORIES] = {NND_NEVER, NND_NEVER};
static int64_t nnd_team_streak[NND_TEAM_HISTORIES];
static int64_t nnd_team_armed[NND_TEAM_HISTORIES];
/* 1 (default): rules 2 and 3 apply; 0: teams follow the callers' work rules
 * alone (tests that must exercise teams on a busy machine). */
static int64_t nnd_team_adaptive_on = 1;
/* 1 once this process started a team (its libgomp pool may have workers). */
static int64_t nnd_teams_started;
/* 1 in a child forked after its parent (or an ancestor) started a team. */
static int64_t nnd_team_pool_dead;

static inline int nnd_team_history(int h)
{
    return h < 0 ? 0 : (h >= NND_TEAM_HISTORIES ? NND_TEAM_HISTORIES - 1 : h);
}

static inline int nnd_team_backed_off(int h)
{
    int64_t streak, window;
    h = nnd_team_history(h);
    streak = NND_LOAD(nnd_team_streak[h]);
    window = ((int64_t) NND_TEAM_BACKOFF_MS * 1000)
             << (streak < NND_TEAM_MAX_DOUBLINGS ? streak : NND_TEAM_MAX_DOUBLINGS);
    return (int64_t) (nnd_team_clock() * 1e6) - NND_LOAD(nnd_team_lost_us[h]) < window;
}

/* A team that lost once in a row only arms the backoff; a second loss in a
 * row starts it.  One loss alone says little: the first team after a quiet
 * spell wakes workers that have gone to sleep (on a VM waking an idle vCPU
 * can take a millisecond), and a single preemption can hit any call; both
 * made short searches that lose one call in a hundred back off for
 * seconds. */
static inline void nnd_team_result(int h, int lost)
{
    h = nnd_team_history(h);
    if (lost && !NND_LOAD(nnd_team_armed[h])) {
        NND_STORE(nnd_team_armed[h], (int64_t) 1);
    } else if (lost) {
        int64_t streak = NND_LOAD(nnd_team_streak[h]);
        NND_STORE(nnd_team_armed[h], (int64_t) 0);
        NND_STORE(nnd_team_streak[h], streak < NND_TEAM_MAX_DOUBLINGS ? streak + 1 : streak);
        NND_STORE(nnd_team_lost_us[h], (int64_t) (nnd_team_clock() * 1e6));
    } else {
        NND_STORE(nnd_team_armed[h], (int64_t) 0);
        NND_STORE(nnd_team_streak[h], (int64_t) 0);
    }
}

/* Rule 3's last count of free cores (nnd_free_cores) and when it was made. */
#define NND_FREE_CORES_TTL_US 1000
static int64_t nnd_free_cores_at_us = -1;    /* microseconds; -1: count afresh */
static int64_t nnd_free_cores_seen = 0;

static inline void nnd_team_forget(void)
{
    int h;
    NND_STORE(nnd_free_cores_at_us, (int64_t) -1);
    for (h = 0; h < NND_TEAM_HISTORIES; h++) {
        NND_STORE(nnd_team_armed[h], (int64_t) 0);
        NND_STORE(nnd_team_streak[h], (int64_t) 0);
        NND_STORE(nnd_team_lost_us[h], NND_NEVER);
    }
}

static inline int nnd_team_adaptive(void) { return (int) NND_LOAD(nnd_team_adaptive_on); }

static inline void nnd_set_team_adaptive(int on)
{
    NND_STORE(nnd_team_adaptive_on, (int64_t) (on != 0));
    nnd_team_forget();
}

static inline int nnd_teams_usable(void) { return !NND_LOAD(nnd_team_pool_dead); }

/* nndfast's own team workers, by OpenMP thread number: their Linux thread
 * ids, noted by each worker inside a team (nnd_note_worker).  Needed
 * because an idle worker of the last team keeps spinning for a few ms
 * (libgomp's active wait) and /proc/loadavg counts it as runnable: without
 * subtracting it, every large call or segment right after a team would see
 * a busy core and drop to one thread. */
#define NND_MAX_WORKERS 256
#if defined(__linux__)
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#endif
#if defined(__linux__) && defined(_OPENMP)
#include <sys/syscall.h>
static int64_t nnd_worker_tids[NND_MAX_WORKERS];
static inline void nnd_note_worker(void)
{
    static __thread int64_t tid = 0;
    int k = omp_get_thread_num();
    if (k > 0 && k < NND_MAX_WORKERS) {
        if (tid == 0)
            tid = (int64_t) syscall(SYS_gettid);
        if (NND_LOAD(nnd_worker_tids[k]) != tid)
            NND_STORE(nnd_worker_tids[k], tid);
    }
}

/* 1 if /proc/self/task/<tid>/stat says the thread is running or runnable. */
static inline int nnd_task_running(int64_t tid)
{
    char path[64], buf[512];
    char *p;
    int fd;
    ssize_t k;
    snprintf(path, sizeof path, "/proc/self/task/%lld/stat", (long long) tid);
    fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;                         /* the worker has exited */
    k = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (k <= 0)
        return 0;
    buf[k] = 0;
    p = strrchr(buf, ')');                /* the name may hold spaces and ')' */
    return p != NULL && p[1] == ' ' && p[2] == 'R';
}
#else
static inline void nnd_note_worker(void) {}
#endif

/* The thread id noted for OpenMP thread k, 0 if none (for tests). */
static inline int64_t nnd_worker_tid(int k)
{
#if defined(__linux__) && defined(_OPENMP)
    return (k > 0 && k < NND_MAX_WORKERS) ? NND_LOAD(nnd_worker_tids[k]) : 0;
#else
    (void) k;
    return 0;
#endif
}

/* The cores no other runnable thread holds, read now: the online CPUs minus
 * the threads that are runnable besides the caller (Linux: /proc/loadavg's
 * running count, system-wide, which includes a spinning OpenBLAS worker)
 * and besides nndfast's own idle team workers.  At least 1, or -1 if it
 * cannot be read.  About 10 us per worker. */
static inline int nnd_count_free_cores(void)
{
#if defined(__linux__) && defined(_OPENMP)
    char buf[128];
    char *p = buf;
    int fd = open("/proc/loadavg", O_RDONLY), f, k, free_cores;
    ssize_t got;
    long others;
    if (fd < 0)
        return -1;
    got = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (got <= 0)
        return -1;
    buf[got] = 0;
    for (f = 0; f < 3 && p != NULL; f++) {      /* skip the three averages */
        p = strchr(p, ' ');
        if (p != NULL)
            p++;
    }
    if (p == NULL)
        return -1;
    others = strtol(p, NULL, 10) - 1;
    for (k = 1; k < NND_MAX_WORKERS && others > 0; k++) {
        int64_t tid = NND_LOAD(nnd_worker_tids[k]);
        if (tid != 0 && nnd_task_running(tid))
            others--;
    }
    free_cores = omp_get_num_procs() - (int) (others > 0 ? others : 0);
    return free_cores < 1 ? 1 : free_cores;
#else
    return -1;
#endif
}

/* How many of `want` threads a team can have without sharing a core with
 * another runnable thread (nnd_count_free_cores), at least 1; `want` where
 * that count cannot be read.  Paid only by calls big enough for a team. */
static inline int nnd_free_cores(int want)
{
#if defined(__linux__) && defined(_OPENMP)
    /* The count reads /proc (about 20 us with a spinning worker of the last
     * team to look up), a tenth of a two-thread call at 10,000 rows of
     * I 8, H 32: calls within NND_FREE_CORES_TTL_US of a count reuse it.
     * A core that became busy meanwhile can cost one lost team, which
     * rule 2 then learns from. */
    int64_t now = (int64_t) (nnd_team_clock() * 1e6), at = NND_LOAD(nnd_free_cores_at_us);
    int free_cores;
    if (at >= 0 && now >= at && now - at < NND_FREE_CORES_TTL_US) {
        free_cores = (int) NND_LOAD(nnd_free_cores_seen);
    } else {
        free_cores = nnd_count_free_cores();
        if (free_cores < 0)
            return want;
        NND_STORE(nnd_free_cores_seen, (int64_t) free_cores);
        NND_STORE(nnd_free_cores_at_us, now);
    }
    return free_cores < want ? free_cores : want;
#else
    return want;
#endif
}

/* Threads to start now for a call of history h that its work rule allows
 * `want` (>= 1): rules 1-3 above.  1 means: run on the calling thread, with
 * no parallel region at all (rule 1 needs that: even a one-thread region
 * goes through the dead pool's bookkeeping). */
static inline int nnd_team_threads(int h, int want)
{
    if (want <= 1 || NND_LOAD(nnd_team_pool_dead))
        return 1;
    if (nnd_team_adaptive()) {
        if (nnd_team_backed_off(h))
            return 1;
        want = nnd_free_cores(want);
    }
    if (want > 1 && !NND_LOAD(nnd_teams_started))
        NND_STORE(nnd_teams_started, (int64_t) 1);
    return want;
}

/* After a team of history h ran `chunks` equal pieces of work from
 * start_s (nnd_team_clock), of which the calling thread (OpenMP thread 0)
 * ran master_chunks, finishing its last at master_done_s: one thread would
 * have taken about the caller's time per chunk times all chunks.  A team
 * that took more than gain_pct % of that lost (a descheduled thread held
 * the closing barrier: busy cores).  gain_pct is the caller's: a grid
 * search's many small dynamic chunks tolerate a weaker gain than a single
 * network call's segments do. */
static inline void nnd_team_record(int h, int gain_pct, double start_s, double master_done_s,
                                   int64_t master_chunks, int64_t chunks)
{
    if (!nnd_team_adaptive())
        return;
    nnd_team_result(h, master_chunks == 0 ||
                       (nnd_team_clock() - start_s) * (double) master_chunks * 100.0 >
                       (double) gain_pct * (master_done_s - start_s) * (double) chunks);
}

/* fork() child handler (rule 1).  Runs in the child before fork returns,
 * so it only stores: the parent's worker ids name no thread of the child. */
static void nnd_team_after_fork_in_child(void)
{
    int k;
    if (NND_LOAD(nnd_teams_started) || NND_LOAD(nnd_team_pool_dead))
        NND_STORE(nnd_team_pool_dead, (int64_t) 1);
    NND_STORE(nnd_teams_started, (int64_t) 0);
    NND_STORE(nnd_free_cores_at_us, (int64_t) -1);
#if defined(__linux__) && defined(_OPENMP)
    for (k = 0; k < NND_MAX_WORKERS; k++)
        NND_STORE(nnd_worker_tids[k], (int64_t) 0);
#else
    (void) k;
#endif
}

#if defined(_OPENMP) && !defined(_WIN32)
#include <pthread.h>
/* pthread_atfork covers every fork of the process: os.fork (multiprocessing,
 * concurrent.futures) and forks from C libraries alike.  0 on success. */
static int nnd_team_policy_init(void)
{
    return pthread_atfork(NULL, NULL, nnd_team_after_fork_in_child);
}
#else
static int nnd_team_policy_init(void) { return 0; }
#endif

#endif /* NNDFAST_OPENMP_POLICY_H */
