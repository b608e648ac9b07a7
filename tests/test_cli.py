"""The ``nndfast`` command, run as a subprocess the way a user runs it.

Quick mode only; the whole file takes a few seconds.  Timings are printed by
the command, never asserted here.
"""
import json
import os
import select
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import nndfast
from _child import popen, python
from _child import run as run_child

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run(*args, timeout=60, code=None):
    """Run ``python -m nndfast ARGS`` (or ``-c CODE``); return the CompletedProcess."""
    head = ["-c", code] if code else ["-m", "nndfast"]
    return python(*head, *args, capture_output=True, text=True, timeout=timeout)


def ok(proc):
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def axes_from(record):
    return {a["weight"]: np.linspace(a["start"], a["stop"], a["count"])
            for a in record["axes"]}


@pytest.fixture(scope="module")
def quick_json():
    return json.loads(ok(run("--quick", "--json", "--seed", "0")).stdout)


def test_default_quick_text_shows_every_step():
    out = ok(run("--quick", "--seed", "1")).stdout
    for heading in ("1. Before training", "2. One weight", "3. Two weights",
                    "4. Three weights", "5. The curse of dimensionality", "6. Gradients"):
        assert heading in out
    # the reference's full-grid times are extrapolated, and the output says so
    assert "extrapolated" in out
    assert "seed 1" in out


def test_default_quick_json_numbers(quick_json):
    r = quick_json
    assert r["seed"] == 0 and r["quick"] is True
    assert r["one_weight"]["reference_agrees"] is True
    # step 3's best point is what an in-process grid_search finds
    two = r["two_weights"]
    w = np.linspace(-5, 5, two["shape"][0])
    np.random.seed(0)
    res = nndfast.grid_search(nndfast.Neural_Network(), nndfast.X, nndfast.y,
                              dict(zip(two["weights"], [w, w])), full_output=False)
    assert two["best_cost"] == pytest.approx(res.best_cost, rel=1e-12)
    assert two["best_weights"] == pytest.approx(res.best_weights, rel=1e-12)
    for step in ("two_weights", "three_weights"):
        ref = r[step]["reference"]
        assert ref["extrapolated"] is True
        assert ref["evaluations"] < r[step]["evaluations"]
        assert ref["max_relative_difference"] < 1e-12
    # more weights never make the best grid point worse
    assert r["three_weights"]["best_cost"] <= two["best_cost"]
    # the curse table: 1..9 weights, times growing with the weight count
    curse = r["curse_of_dimensionality"]
    assert [row["weights"] for row in curse] == list(range(1, 10))
    for side in ("reference_seconds", "nndfast_seconds"):
        times = [row[side] for row in curse]
        assert all(t > 0 for t in times) and times[-1] > times[0]
    # gradients go lower than the best grid point
    g = r["gradients"]
    assert g["grid_best_cost"] == pytest.approx(r["three_weights"]["best_cost"])
    assert g["gradient_descent"]["final_cost"] < g["grid_best_cost"]
    assert g["bfgs"]["final_cost"] < g["grid_best_cost"]
    assert g["bfgs"]["evaluations"] >= 1


def test_grid_json_matches_in_process_search():
    proc = ok(run("grid", "W1[0,0]=-5:5:200", "W2[1,0]=-4:6:150", "--seed", "3", "--json"))
    r = json.loads(proc.stdout)
    axes = axes_from(r)
    assert list(axes) == ["W1[0,0]", "W2[1,0]"]
    np.random.seed(3)
    res = nndfast.grid_search(nndfast.Neural_Network(), nndfast.X, nndfast.y, axes,
                              full_output=False)
    assert r["best_cost"] == pytest.approx(res.best_cost, rel=1e-12)
    assert r["best_weights"] == pytest.approx(res.best_weights, rel=1e-12)
    assert tuple(r["best_index"]) == tuple(res.best_index)
    assert r["evaluations"] == 200 * 150
    assert r["seconds"] > 0


def test_grid_options_before_or_after_the_subcommand_and_threads():
    a = json.loads(ok(run("--seed", "5", "--threads", "1", "grid",
                          "W1[1,2]=-5:5:300", "--json")).stdout)
    b = json.loads(ok(run("grid", "W1[1,2]=-5:5:300", "--threads", "2",
                          "--seed", "5", "--json")).stdout)
    assert (a["threads"], b["threads"]) == (1, 2)
    assert a["best_cost"] == b["best_cost"]  # bitwise, whatever the thread count
    assert a["best_index"] == b["best_index"]


def test_grid_text_output():
    out = ok(run("grid", "W1[0,0]=-5:5:100", "--seed", "0")).stdout
    assert "best cost J =" in out and "W1[0,0] =" in out and "--seed 0" in out


@pytest.mark.parametrize("args", [
    ["grid", "W3[0,0]=-5:5:10"],                  # no such layer
    ["grid", "W1[2,0]=-5:5:10"],                  # index out of range
    ["grid", "W2[0,1]=-5:5:10"],
    ["grid", "bias=-5:5:10"],
    ["grid", "W1[0,0]"],                          # no range
    ["grid", "W1[0,0]=-5:5"],                     # malformed ranges
    ["grid", "W1[0,0]=a:5:10"],
    ["grid", "W1[0,0]=-5:5:0"],
    ["grid", "W1[0,0]=-5:5:2.5"],
    ["grid", "W1[0,0]=nan:5:10"],
    ["grid", "W1[0,0]=-5:5:10", "W1[0,0]=0:1:10"],  # the same weight twice
    ["grid"],                                     # no axes
    ["--threads", "0"],
    ["--threads", "-2"],
    ["grid", "W1[0,0]=-5:5:10", "--threads", "0"],
    ["--seed", "x"],
    ["frobnicate"],                               # unknown subcommand
    ["--no-such-option"],
    ["grid", "W1[0,0]=-5:5:10", "--no-such-option"],
    ["--quick", "grid", "W1[0,0]=-5:5:10"],       # --quick is the default run's only
    ["grid", "W1[0,0]=-5:5:10", "--quick"],
])
def test_bad_arguments_exit_2_with_a_short_usage_error(args):
    proc = run(*args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("usage:") and "Traceback" not in proc.stderr
    assert len(proc.stderr.splitlines()) <= 6
    # one prefix for the command and every subcommand, as docs/cli.md says
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and errors[0].startswith("nndfast: error: "), proc.stderr
    if "--quick" in args:
        assert "--quick applies to the default run only" in errors[0]


def test_version():
    proc = ok(run("--version"))
    assert proc.stdout.strip() == f"nndfast {nndfast.__version__}"


@pytest.mark.parametrize("address", ["notanaddress", "foo://h:1", "tcp://h:99999", "tcp://:1",
                                     "inproc://x", "h:port"])
def test_malformed_scheduler_address_is_a_usage_error(address):
    """Refused by the argument parser, before anything tries to connect
    (Dask need not be installed)."""
    proc = run("grid", "W1[0,0]=-5:5:10", "--scheduler", address)
    assert proc.returncode == 2
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert proc.stderr.startswith("usage:") and len(errors) == 1
    assert "--scheduler" in errors[0] and repr(address) in errors[0]


@pytest.mark.parametrize("address", ["tcp://10.0.0.5:8786", "10.0.0.5:8786", "tls://h.example:1",
                                     "tcp://[::1]:8786", "ws://localhost:65535"])
def test_well_formed_scheduler_addresses_pass_the_parser(address):
    from nndfast.cli import parse_args
    _, args = parse_args(["grid", "W1[0,0]=-5:5:10", "--scheduler", address])
    assert args.scheduler == address


def test_address_dask_refuses_is_a_usage_error(monkeypatch, capsys):
    from nndfast import distributed
    from nndfast.cli import main

    def refuse(address, **kwargs):
        raise ValueError(f"unknown address {address!r}")

    monkeypatch.setattr(distributed, "connect", refuse)
    assert main(["grid", "W1[0,0]=-5:5:10", "--scheduler", "tcp://h:1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage:") and "error: argument --scheduler: unknown address" in err


def test_help_exits_0():
    assert "grid" in ok(run("--help")).stdout
    assert "START:STOP:COUNT" in ok(run("grid", "--help")).stdout


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_exits_130_with_one_line():
    # 3000^3 points: far longer than the test waits, so SIGINT lands mid-search.
    proc = popen(
        [sys.executable, "-m", "nndfast", "grid", "W1[0,0]=-5:5:3000",
         "W1[0,1]=-5:5:3000", "W1[0,2]=-5:5:3000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Wait for the progress bar (or at most 10 s), so the signal arrives
    # during the search rather than while Python starts.
    err = b""
    deadline = time.monotonic() + 10
    while not err and time.monotonic() < deadline and proc.poll() is None:
        if select.select([proc.stderr], [], [], 0.1)[0]:
            err += os.read(proc.stderr.fileno(), 4096)
    time.sleep(0.3)
    assert proc.poll() is None, err
    proc.send_signal(signal.SIGINT)
    out, rest = proc.communicate(timeout=15)
    err = (err + rest).decode()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "nndfast: interrupted"


def test_plot_without_matplotlib_says_which_extra(tmp_path):
    # Hide matplotlib from the child, as if the plot extra were not installed.
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from nndfast.cli import main\n"
            f"sys.exit(main(['grid', 'W1[0,0]=-5:5:50', '--plot', {str(tmp_path)!r}]))")
    proc = run(code=code)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = [l for l in proc.stderr.splitlines() if "matplotlib" in l]
    assert len(lines) == 1 and 'pip install "nndfast[plot]"' in lines[0]
    assert "best cost J =" in proc.stdout  # the search itself still ran
    assert not list(tmp_path.glob("*.png"))


def _check_png(path):
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE, path
    mpimg = pytest.importorskip("matplotlib.image")
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    assert np.ptp(img[..., :3]) > 0  # not a blank canvas


def test_default_quick_plots(tmp_path):
    pytest.importorskip("matplotlib")
    r = json.loads(ok(run("--quick", "--json", "--seed", "2", "--plot", str(tmp_path))).stdout)
    names = sorted(os.path.basename(p) for p in r["plots"])
    assert names == ["one_weight.png", "scores.png", "training.png", "two_weights.png"]
    for p in r["plots"]:
        _check_png(p)


@pytest.mark.parametrize("axes", [["W2[2,0]=-5:5:80"],
                                  ["W1[0,0]=-5:5:60", "W2[0,0]=-3:3:40"]])
def test_grid_plots(tmp_path, axes):
    pytest.importorskip("matplotlib")
    r = json.loads(ok(run("grid", *axes, "--json", "--plot", str(tmp_path))).stdout)
    assert [os.path.basename(p) for p in r["plots"]] == ["grid.png"]
    _check_png(r["plots"][0])


def test_main_returns_the_exit_status_in_process(capsys):
    from nndfast.cli import main
    assert main(["--threads", "0"]) == 2
    assert "must be a positive integer" in capsys.readouterr().err
    assert main(["--help"]) == 0


def test_console_script():
    import shutil
    exe = shutil.which("nndfast")
    if exe is None:
        pytest.skip("the nndfast console script is not installed (in-place build)")
    proc = run_child([exe, "grid", "W1[0,0]=-5:5:50", "--json"],
                     capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["evaluations"] == 50
