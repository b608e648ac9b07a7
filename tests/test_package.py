"""The package namespace (issue 20): nndfast.reference is reachable after a
plain ``import nndfast`` without being imported by it (PEP 562), and
``from nndfast import *`` still gives the tutorial's names."""
import json

from _child import python

CHILD = r"""
import json, sys
import nndfast
record = {"after_import": "nndfast.reference" in sys.modules}
ns = {}
exec("from nndfast import *", ns)
record["star"] = sorted(k for k in ns if not k.startswith("__"))
record["after_star"] = "nndfast.reference" in sys.modules
record["in_dir"] = "reference" in dir(nndfast)
R = nndfast.reference
record["reference"] = [R.__name__, R.Neural_Network.__module__,
                       R is sys.modules["nndfast.reference"]]
try:
    nndfast.no_such_name
except AttributeError as exc:
    record["missing"] = str(exc)
print(json.dumps(record))
"""


def test_reference_is_lazy_and_star_import_gives_the_tutorial_names():
    proc = python("-c", CHILD, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["after_import"] is False and r["after_star"] is False
    assert r["star"] == sorted(["X", "y", "Neural_Network", "computeNumericalGradient",
                                "trainer", "grid_search", "GridResult", "gradient_descent",
                                "gradient_check", "openmp_enabled"])
    assert r["in_dir"] is True
    assert r["reference"] == ["nndfast.reference", "nndfast.reference", True]
    assert r["missing"] == "module 'nndfast' has no attribute 'no_such_name'"
