"""Start child processes that import the same nndfast as the test process.

A child Python puts its working directory (``-c``, ``-m``) or its script's
folder first on sys.path.  Run from the root of a checkout, a child would
therefore import the source folder ``nndfast/``, which has no compiled
kernels when the package was installed with ``pip install .``, in place of
the installed package the tests are checking.  So every child here runs:

- in an empty temporary directory (unless the test names another cwd);
- with PYTHONPATH holding the folder of the nndfast this process imported
  when that is not already a site directory (an in-place build), and with no
  entry that holds another ``nndfast`` package.

``-P`` / PYTHONSAFEPATH would keep cwd off sys.path too, but only from
Python 3.11 on; the empty cwd works on every supported Python.
"""
import atexit
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile

import nndfast

#: the folder holding the nndfast package under test
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(nndfast.__file__)))

_EMPTY_DIR = None


def empty_dir():
    """A directory with nothing in it, made once per test session."""
    global _EMPTY_DIR
    if _EMPTY_DIR is None:
        _EMPTY_DIR = tempfile.mkdtemp(prefix="nndfast-child-")
        atexit.register(shutil.rmtree, _EMPTY_DIR, True)
    return _EMPTY_DIR


def _site_dirs():
    paths = sysconfig.get_paths()
    return {os.path.realpath(paths[k]) for k in ("purelib", "platlib")}


def _holds_other_nndfast(folder):
    return (os.path.realpath(folder) != os.path.realpath(PACKAGE_PARENT)
            and os.path.isdir(os.path.join(folder, "nndfast")))


def child_env(**extra):
    """os.environ for a child, with PYTHONPATH set as the module docstring says.

    Keyword arguments are extra variables (strings) for the child.
    """
    env = dict(os.environ)
    # absolute, as this process reads them: the child runs elsewhere
    given = [os.path.abspath(p) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    kept = [p for p in given if not _holds_other_nndfast(p)]
    if os.path.realpath(PACKAGE_PARENT) not in _site_dirs():
        kept.insert(0, PACKAGE_PARENT)
    if kept:
        env["PYTHONPATH"] = os.pathsep.join(kept)
    else:
        env.pop("PYTHONPATH", None)
    env.update(extra)
    return env


def _prepare(kwargs):
    kwargs.setdefault("cwd", empty_dir())
    env = kwargs.pop("env", None) or {}
    kwargs["env"] = child_env(**env)
    return kwargs


def run(argv, **kwargs):
    """subprocess.run(argv) as a child of the package under test.

    ``env`` (a dict) holds extra variables; ``cwd`` defaults to an empty
    directory.  Other keyword arguments go to subprocess.run.
    """
    return subprocess.run(argv, **_prepare(kwargs))


def popen(argv, **kwargs):
    """subprocess.Popen(argv), set up as run() sets it up."""
    return subprocess.Popen(argv, **_prepare(kwargs))


def sigint_child(argv, delay, timeout=120):
    """Start argv (a child that prints READY, waits for a line on stdin, then
    starts a long call and prints a JSON report as its last line), send it
    SIGINT `delay` seconds after its go, and return (report, time.monotonic()
    when SIGINT was sent).  The child must exit 0 and say it was interrupted."""
    import json
    import signal
    import time

    child = popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                  stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "READY", child.stderr.read()[-2000:]
        child.stdin.write("go\n")
        child.stdin.flush()
        time.sleep(delay)
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=timeout)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err[-2000:]
    r = json.loads(out.strip().splitlines()[-1])
    assert r["interrupted"], "the call finished before the interrupt; make it longer"
    return r, sent


def python(*args, **kwargs):
    """run([sys.executable, *args]): this interpreter, as a child."""
    return run([sys.executable, *args], **kwargs)
