"""pytest-benchmark setup shared by every bench_*.py: the naming scheme, the
--large option and a group-by that tolerates any parameter name.

Every benchmark has the same three parameters, ``op``, ``size`` and ``impl``,
is named ``op[size]-impl`` (``forward[1e5-H64]-nndfast``) and sits in group
``op[size]``, so reference, nndfast and the peers of one case share a group
and do the same work.  See docs/benchmarks.md.
"""
import pytest
from pytest_benchmark import plugin as _pb


def pytest_addoption(parser):
    parser.addoption(
        "--large", action="store_true", default=False,
        help="nndfast bench: also time the large cases (10^6 rows, 1000x1000 and 1000^3 "
             "grids): several minutes and several GB of memory.")


def pytest_collection_modifyitems(config, items):
    # With --benchmark-disable (CI's smoke run) the large cases still run once,
    # on shrunken inputs (see _cases.smoke): that keeps their code working
    # without their cost.  Timed runs leave them out unless --large.
    if config.getoption("large") or config.getoption("benchmark_disable"):
        return
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker("large") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.hookimpl(tryfirst=True)
def pytest_benchmark_group_stats(config, benchmarks, group_by):
    # pytest-benchmark's own grouping indexes bench["params"][NAME], which
    # fails (TypeError on None, KeyError) for a benchmark without that
    # parameter; here such a benchmark gets "NAME=-".  The other groupings
    # are pytest-benchmark's, so `--group-by=param:impl,group` and the like
    # read the same as anywhere else.
    groups = {}
    for bench in benchmarks:
        key = []
        for grouping in group_by.split(","):
            if grouping.startswith("param:"):
                name = grouping[len("param:"):]
                key.append(f"{name}={(bench['params'] or {}).get(name, '-')}")
            else:
                [(one, _members)] = _pb.pytest_benchmark_group_stats(
                    config=config, benchmarks=[bench], group_by=grouping)
                key.append(one)
        groups.setdefault(" ".join(k for k in key if k) or None, []).append(bench)
    for members in groups.values():
        members.sort(key=lambda b: b["fullname" if "full" in group_by else "name"])
    return sorted(groups.items(), key=lambda pair: pair[0] or "")
