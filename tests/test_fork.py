"""Child processes: fork, forkserver and spawn children call nndfast and get
the parent's results bit for bit, whether or not the parent ran thread teams.

libgomp's worker pool does not survive fork(): a child that starts a team
after its parent started one waits at libgomp's barrier forever.  nndfast's
team policy (_openmp_policy.h) marks the pool dead in such a child, which
then runs every call on one thread; results do not depend on the thread
count, so they equal the parent's.  A child forked before any team, and
every forkserver or spawn child, keeps its teams.

Each case runs in a fresh interpreter (so that no test before it has started
the pool) with OMP_NUM_THREADS=2 and adaptive teams off (so the teams really
form on a busy machine), and every child is joined with a timeout, so a hang
fails the test instead of blocking the suite.
"""
import json
import os
import sys
import textwrap

import pytest

from _child import python

SCRIPT = textwrap.dedent(r"""
    import hashlib, json, multiprocessing as mp, queue, sys, time
    import numpy as np
    import nndfast
    from nndfast import _openmp

    # teams follow the work rules alone, even on a busy machine
    _openmp.adaptive_teams(False)
    JOBS = ("gradient", "grid", "descent")
    TIMEOUT = 60

    def job(name):
        rng = np.random.default_rng(0)
        X = rng.standard_normal((60000, 8))
        y = rng.random((60000, 1))
        np.random.seed(1)
        NN = nndfast.Neural_Network(inputLayerSize=8, hiddenLayerSize=16, outputLayerSize=1)
        if name == "gradient":
            out = list(NN.costFunctionPrime(X, y)) + [NN.costFunction(X, y), NN.forward(X)]
        elif name == "grid":
            w = np.linspace(-2, 2, 40)
            r = nndfast.grid_search(NN, X[:2000], y[:2000], {"W1[0,0]": w, "W2[1,0]": w})
            out = [r.costs, np.array(r.best_cost), np.array(r.best_index)]
        else:
            r = nndfast.gradient_descent(NN, X[:20000], y[:20000], learning_rate=1e-5,
                                         max_iter=5, tol=0.0)
            out = [NN.W1, NN.W2, np.asarray(r.costs)]
        # digests of the exact bytes: a queue stays small, and equal digests are equal bits
        return [hashlib.sha256(np.asarray(a).tobytes()).hexdigest() for a in out]

    def state():
        return dict(usable=_openmp.teams_usable(), workers=len(_openmp.team_workers()))

    def collect(ctx, name, grandchild):
        # the child's report, or how it failed: read before joining (a child
        # exits only once its queue is flushed), with a timeout, so that a
        # hung child fails the test instead of blocking it
        q = ctx.Queue()
        p = ctx.Process(target=child, args=(name, q, grandchild))
        t0 = time.perf_counter()
        p.start()
        try:
            r = q.get(timeout=TIMEOUT)
        except queue.Empty:
            r = dict(hung=p.is_alive())
        p.join(10)
        if p.is_alive():
            p.kill()
            p.join()
        r.update(exitcode=p.exitcode, seconds=time.perf_counter() - t0)
        r.setdefault("hung", False)
        return r

    def child(name, q, grandchild):
        out = dict(bits=job(name), **state())
        if grandchild:
            # a child of a child: the dead pool is inherited
            out["grandchild"] = collect(mp.get_context("fork"), name, False)
        q.put(out)

    if __name__ == "__main__":
        method, when = sys.argv[1], sys.argv[2]
        ctx = mp.get_context(method)
        report = dict(openmp=nndfast.openmp_enabled(), children={})
        parent = {}
        if when == "after":
            for name in JOBS:
                parent[name] = job(name)
            report["parent"] = state()
        for name in JOBS:
            report["children"][name] = collect(ctx, name, method == "fork")
        for name in JOBS:
            parent.setdefault(name, job(name))
            r = report["children"][name]
            if "bits" in r:
                r["same"] = r.pop("bits") == parent[name]
                g = r.get("grandchild")
                if g and "bits" in g:
                    g["same"] = g.pop("bits") == parent[name]
        print(json.dumps(report))
""")


def _run(tmp_path, method, when):
    script = tmp_path / "fork_child.py"
    script.write_text(SCRIPT)
    proc = python(str(script), method, when, env={"OMP_NUM_THREADS": "2"},
                  capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")


@needs_fork
def test_forked_children_of_a_parent_that_ran_teams_get_its_results(tmp_path):
    """The issue's case: the parent ran costFunctionPrime, grid_search and
    gradient_descent on teams, then fork children run each of them (and each
    child forks a grandchild that runs it again)."""
    r = _run(tmp_path, "fork", "after")
    teams = r["openmp"] and sys.platform.startswith("linux")
    if teams:
        assert r["parent"]["usable"] and r["parent"]["workers"] >= 1, "the parent ran no team"
    for name, c in r["children"].items():
        assert not c["hung"], f"{name}: the forked child hung"
        assert c["exitcode"] == 0 and c["same"], (name, c)
        g = c["grandchild"]
        assert not g.get("hung") and g["same"], (name, g)
        if r["openmp"]:
            # the dead pool is known, and nothing started a team on it
            assert not c["usable"] and c["workers"] == 0, (name, c)
            assert not g["usable"] and g["workers"] == 0, (name, g)


@needs_fork
def test_children_forked_before_any_team_keep_their_teams(tmp_path):
    """A parent that never started a team leaves a usable pool: its forked
    children run on teams, with the same results."""
    r = _run(tmp_path, "fork", "before")
    for name, c in r["children"].items():
        assert not c["hung"] and c["exitcode"] == 0 and c["same"], (name, c)
        if r["openmp"] and sys.platform.startswith("linux"):
            assert c["usable"] and c["workers"] >= 1, (name, c)
            # the grandchild's parent (this child) did run teams
            assert not c["grandchild"]["usable"] and c["grandchild"]["same"], (name, c)


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_forkserver_and_spawn_children_run_teams_after_the_parent_did(tmp_path, method):
    import multiprocessing

    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} here")
    r = _run(tmp_path, method, "after")
    for name, c in r["children"].items():
        assert not c["hung"] and c["exitcode"] == 0 and c["same"], (name, c)
        if r["openmp"] and sys.platform.startswith("linux"):
            assert c["usable"] and c["workers"] >= 1, (name, c)


def test_openmp_module_reports_usable_teams_in_this_process():
    from nndfast import _openmp

    # the test process was started by exec, not forked from a team's process
    assert _openmp.teams_usable() is True
