"""The progress bar (nndfast._progress) where users run it: a terminal, a log
or pipe, and a Jupyter kernel executed by nbconvert/papermill (issue 20)."""
import io
import sys
import textwrap

import numpy as np

import nndfast
from nndfast._progress import Progress
from _notebook import run_cells


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _drive(total, steps):
    P = Progress(True, total, interval=0.0)
    for done in np.linspace(0, total, steps).astype(int):
        P.update(int(done))
    P.close()


def test_not_a_terminal_writes_a_line_at_start_every_tenth_and_end(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    _drive(10**6, 5001)
    lines = err.getvalue().split("\n")
    assert lines[-1] == "" and "\r" not in err.getvalue()
    lines = lines[:-1]
    assert [line.split("] ")[1].split("%")[0].strip() for line in lines] == [
        f"{10 * k}.0" for k in range(11)]
    assert "evals/s" in lines[-1] and "1,000,000/1,000,000" in lines[-1]


def test_not_a_terminal_interrupted_keeps_whole_lines(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    P = Progress(True, 1000)
    P.update(250)           # one line for the 10 % and 20 % steps passed at once
    P.close()
    lines = err.getvalue().split("\n")
    assert lines[-1] == "" and "\r" not in err.getvalue()
    assert ["0.0%" in lines[0], "25.0%" in lines[1], len(lines)] == [True, True, 3]


def test_a_terminal_redraws_one_line(monkeypatch):
    err = _Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    _drive(1000, 50)
    text = err.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert text.count("\r") >= 2 and "100.0%" in text.split("\r")[-1]


def test_grid_search_into_a_log_writes_a_few_lines(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    w = np.linspace(-5, 5, 200)
    nndfast.grid_search(nndfast.Neural_Network(), nndfast.X, nndfast.y,
                        {"W1[0,0]": w, "W1[0,1]": w, "W1[0,2]": w}, full_output=False,
                        progress=True)
    lines = err.getvalue().splitlines()
    assert 2 <= len(lines) <= 11 and "\r" not in err.getvalue()
    assert "0.0%" in lines[0] and "100.0%" in lines[-1]


CELL = textwrap.dedent("""
    import numpy as np
    from nndfast import *
    w = np.linspace(-5, 5, 300)
    res = grid_search(Neural_Network(), X, y, {"W1[0,0]": w, "W1[0,1]": w, "W1[0,2]": w},
                      full_output=False, progress=True)
""")


def test_a_jupyter_kernel_gets_one_output_updated_in_place():
    """Executed as nbconvert/papermill execute (nbclient): one display output
    holding the final bar, not one saved line per redraw."""
    [outputs] = run_cells(CELL)
    assert [o["output_type"] for o in outputs] == ["display_data"], outputs
    text = outputs[0]["data"]["text/plain"]
    assert "\n" not in text and "\r" not in text
    assert "100.0%" in text and "27,000,000/27,000,000" in text
