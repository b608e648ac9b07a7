"""Execute code cells in a fresh Jupyter kernel, as `jupyter nbconvert
--execute` and papermill do (nbclient), and return each cell's saved
outputs.  Runs in a child Python (tests/_child.py), so the kernel imports the
nndfast under test.  Skips the calling test when nbclient, nbformat or
ipykernel is missing: they belong to no extra (a notebook user has them
already), so the README's test command skips these tests, and .ci/run's
step 4 installs the three and requires that nothing skips there."""
import importlib.util
import json
import textwrap

import pytest

from _child import python

_RUNNER = textwrap.dedent(r"""
    import json, sys
    import nbformat
    from nbclient import NotebookClient

    cells = json.loads(sys.argv[1])
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    print(json.dumps([c.outputs for c in nb.cells]))
""")


def run_cells(*cells):
    """[outputs of cell 0, outputs of cell 1, ...] after executing the cells in order."""
    missing = [m for m in ("nbclient", "nbformat", "ipykernel")
               if importlib.util.find_spec(m) is None]
    if missing:
        # worded apart from importorskip's "could not import": .ci/missing-extras
        # fails a run on that phrase, meant for packages an extra installs
        pytest.skip(f"notebook tools not installed ({', '.join(missing)}; in no extra)")
    proc = python("-c", _RUNNER, json.dumps(cells), capture_output=True, text=True,
                  timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
