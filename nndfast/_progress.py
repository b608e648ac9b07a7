"""Progress reporting (helper) for long loops (grid search): a stderr bar or a
callback.  Pure Python: the reference uses it too.

Where the bar goes decides how it is drawn:
- a terminal: one line redrawn in place with ``\\r``, at most every 0.1 s;
- a live Jupyter (ipykernel) cell: one output, updated in place through its
  display id (a ``\\r`` there is kept as written by ``jupyter nbconvert
  --execute`` and papermill, one saved line per redraw);
- anything else (a file, a pipe, a log): whole lines, one at the start, one
  per 10 % and one at the end, so a 35-minute search logs about a dozen
  lines, not one per redraw.
"""
import sys
import time

__all__ = ["Progress"]

_WIDTH = 30


def _kernel_display():
    """IPython's display function when running in an IPython kernel, else None.

    Looked up in sys.modules only: in a kernel IPython is already imported,
    and anywhere else importing it would cost a quarter second for nothing.
    """
    if "ipykernel" not in sys.modules:
        return None
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if get is not None else None
    if shell is None or getattr(shell, "kernel", None) is None:
        return None
    display = getattr(sys.modules.get("IPython.display"), "display", None)
    return display


class Progress(object):
    """Report (done, total) evaluations.

    progress : False/None for nothing; True for a bar on stderr with the rate
    and an ETA (drawn as the module docstring says); a callable receives
    ``(done, total)`` after every block.
    """

    def __init__(self, progress, total, interval=0.1):
        if progress is None or progress is False:
            self._fn = None
        elif progress is True:
            self._fn = self._bar
        elif callable(progress):
            self._fn = progress
        else:
            raise TypeError(
                f"progress must be True, False or a callable(done, total); got {progress!r}")
        self.total = total
        self.interval = interval
        self.t0 = time.perf_counter()
        self._last = -1.0
        self._drawn = False
        self._handle = None
        self._mode = None
        self._decile = -1           # the last 10 % step written (lines mode)
        if progress is True:
            self._start()

    def _start(self):
        display = _kernel_display()
        if display is not None:
            self._mode = "kernel"
            self._handle = display({"text/plain": self._line(0)}, raw=True, display_id=True)
            return
        stream = sys.stderr
        isatty = getattr(stream, "isatty", None)
        try:
            tty = bool(isatty()) if isatty is not None else False
        except (ValueError, OSError):     # a closed or detached stream
            tty = False
        self._mode = "tty" if tty else "lines"
        if self._mode == "lines":
            self._bar(0, self.total)

    def update(self, done):
        if self._fn is not None:
            self._fn(done, self.total)

    def _line(self, done):
        total = self.total
        dt = max(time.perf_counter() - self.t0, 1e-9)
        rate = done / dt
        frac = done / total if total else 1.0
        # no ETA before the first block has given a rate
        eta = f"{(total - done) / rate:.1f} s" if rate > 0 else "?"
        fill = int(round(frac * _WIDTH))
        return (f"grid search [{'#' * fill}{'.' * (_WIDTH - fill)}] {100 * frac:5.1f}% "
                f"{done:,}/{total:,}  {rate:.3g} evals/s  ETA {eta}")

    def _bar(self, done, total):
        if self._mode == "lines":
            decile = 10 if total == 0 else min(10, done * 10 // total)
            if decile <= self._decile:
                return
            self._decile = decile
            sys.stderr.write(self._line(done) + "\n")
            sys.stderr.flush()
            return
        now = time.perf_counter()
        if done < total and now - self._last < self.interval:
            return
        self._last = now
        if self._mode == "kernel":
            if self._handle is not None:
                self._handle.update({"text/plain": self._line(done)}, raw=True)
            return
        sys.stderr.write("\r" + self._line(done) + " ")
        sys.stderr.flush()
        self._drawn = True

    def close(self):
        """End the bar's line (the terminal bar only; the others end their own)."""
        if self._drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._drawn = False
