"""Progress reporting (helper) for long loops (grid search): a stderr bar or a
callback.  Pure Python: the reference uses it too."""
import sys
import time

__all__ = ["Progress"]


class Progress(object):
    """Report (done, total) evaluations.

    progress : False/None for nothing; True for a bar on stderr with the rate
    and an ETA; a callable receives ``(done, total)`` after every block.
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

    def update(self, done):
        if self._fn is not None:
            self._fn(done, self.total)

    def _bar(self, done, total, force=False):
        now = time.perf_counter()
        if not force and done < total and now - self._last < self.interval:
            return
        self._last = now
        dt = max(now - self.t0, 1e-9)
        rate = done / dt
        frac = done / total if total else 1.0
        eta = (total - done) / rate if rate > 0 else float("inf")
        width = 30
        fill = int(round(frac * width))
        sys.stderr.write(
            f"\rgrid search [{'#' * fill}{'.' * (width - fill)}] {100 * frac:5.1f}% "
            f"{done:,}/{total:,}  {rate:.3g} evals/s  ETA {eta:.1f} s ")
        sys.stderr.flush()
        self._drawn = True

    def close(self):
        """End the bar's line (the bar only)."""
        if self._drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._drawn = False
