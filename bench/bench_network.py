"""pytest-benchmark: nndfast beside nndfast.reference, one group per operation and size.

    python -m pytest bench                          # the fast cases (10^5 rows at most)
    python -m pytest bench --large                  # and the 10^6-row cases (GBs)
    python -m pytest bench --benchmark-disable      # CI: every case once, large ones shrunk

Benchmarks are named op[size]-impl, e.g. forward[1e5-H64]-nndfast, in group
op[size]; docs/benchmarks.md shows how to save, compare and gate them.

Cases of 10^5 rows and more run interleaved, as in a program that mixes numpy
with the drop-in: before each timed call the *other* implementation makes the
same call on the same data (untimed, pytest-benchmark's setup), so nndfast is
timed right after a reference call and the reference right after an nndfast
call.

The reference's times also depend on glibc's allocator state (fresh or
reused pages for numpy's temporaries), which these runs leave as it comes;
``python bench/network_table.py`` pins it and prints one markdown table of
ratios in both states.

Not timed tests: nothing here asserts a speed.
"""
import numpy as np

from _cases import IMPLS, OPS, SIZES, cases, examples, name, network, rounds, size_id, smoke

#: With --benchmark-disable every case runs once; big sizes shrink to this many rows.
DISABLED_ROWS = 1000
#: Cases of this many rows or more are `large` (10^6 rows at H64: about 4 GB).
LARGE_ROWS = 1_000_000

SIZE_OF = {size_id(label): label for label in SIZES}


@cases([(op, s, impl) for op in OPS for s in SIZE_OF for impl in IMPLS],
       large=lambda op, s, impl: SIZES[SIZE_OF[s]][0] >= LARGE_ROWS)
def test_network(benchmark, request, op, size, impl):
    n, hidden = SIZES[SIZE_OF[size]]
    if smoke(request):
        n = min(n, DISABLED_ROWS)
    X, y = examples(n)
    N = network(impl, hidden)
    other = network("reference" if impl == "nndfast" else "nndfast", hidden)
    f = OPS[op]
    name(benchmark, op, size, impl, rows=n, hidden=hidden, interleaved=n >= 100_000)
    if n >= 100_000:
        def other_first():
            f(other, X, y)      # returns None: pedantic then keeps args

        out = benchmark.pedantic(f, args=(N, X, y), setup=other_first,
                                 rounds=rounds(request), iterations=1, warmup_rounds=1)
    else:
        out = benchmark(f, N, X, y)
    for arr in (out if isinstance(out, tuple) else (out,)):
        assert np.isfinite(arr).all()


def test_network_table_runs_both_passes(capsys):
    """bench/network_table.py's quick table: both allocator passes, one row
    per operation each, every ratio a positive number (a smoke run: the
    script is what the README's network table comes from)."""
    import network_table

    assert network_table.main(["--quick", "--pairs", "2"]) == 0
    rows = [line.split("|")[1:-1] for line in capsys.readouterr().out.splitlines()
            if line.startswith("| ") and line.rstrip().endswith("x |")]
    passes = {cells[0].strip() for cells in rows}
    assert passes == set(network_table.PASSES) or passes == {
        "own process", "one process (allocator as it comes)"}
    assert len(rows) == 2 * len(OPS)
    assert all(float(cells[-1].strip()[:-1]) > 0 for cells in rows)
