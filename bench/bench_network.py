"""pytest-benchmark: nndfast beside nndfast.reference, one group per operation and size.

    python -m pytest bench --benchmark-columns=min,median,mean --benchmark-sort=name
    python -m pytest bench --benchmark-disable      # CI: run each case once, sizes shrunk

Large sizes run interleaved, as in a program that mixes numpy with the
drop-in: before each timed call the *other* implementation makes the same
call on the same data (untimed, pytest-benchmark's setup), so nndfast is
timed right after a reference call and the reference right after an
nndfast call.

The reference's times also depend on glibc's allocator state (fresh or
reused pages for numpy's temporaries), which these runs leave as it comes;
``python bench/network_table.py`` pins it and prints one markdown table of
ratios in both states.

Not timed tests: nothing here asserts a speed.
"""
import numpy as np
import pytest

from _cases import IMPLS, OPS, SIZES, examples, network

#: With --benchmark-disable every case runs once; big sizes shrink to this many rows.
DISABLED_ROWS = 1000


@pytest.mark.parametrize("impl", list(IMPLS))
@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("op", list(OPS))
def test_network(benchmark, request, op, size, impl):
    n, hidden = SIZES[size]
    if request.config.getoption("benchmark_disable"):
        n = min(n, DISABLED_ROWS)
    X, y = examples(n)
    N = network(impl, hidden)
    other = network("reference" if impl == "nndfast" else "nndfast", hidden)
    f = OPS[op]
    benchmark.group = f"{op} | {size}"
    benchmark.name = impl
    benchmark.extra_info.update(rows=n, hidden=hidden, op=op, impl=impl,
                                interleaved=n >= 100_000)
    if n >= 100_000:
        def other_first():
            f(other, X, y)      # returns None: pedantic then keeps args

        out = benchmark.pedantic(f, args=(N, X, y), setup=other_first,
                                 rounds=5, iterations=1, warmup_rounds=1)
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
