"""Build nndfast's Cython kernels.

Every nndfast/_*.pyx becomes an extension.  OpenMP is detected by compiling a
test program; without it the kernels build serially and
nndfast.openmp_enabled() returns False.

NNDFAST_SANITIZE=1 builds with AddressSanitizer and UBSan for the hardening
job (see CONTRIBUTING.md).  Wheels are never built that way.
"""
import glob
import os
import re
import subprocess
import sys
import sysconfig
import tempfile
import warnings

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))

OPENMP_TEST = r"""
#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    return n > 0 ? 0 : 1;
}
"""


def openmp_flags():
    """Return (compile_args, link_args) for OpenMP, or None if the compiler lacks it."""
    if os.environ.get("NNDFAST_NO_OPENMP"):
        return None
    if sys.platform == "win32":
        candidates = [(["/openmp"], [])]
    elif sys.platform == "darwin":
        candidates = [(["-Xpreprocessor", "-fopenmp"], ["-lomp"]), (["-fopenmp"], ["-fopenmp"])]
    else:
        candidates = [(["-fopenmp"], ["-fopenmp"])]
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    cc = cc.split()
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "omp_test.c")
        with open(src, "w") as f:
            f.write(OPENMP_TEST)
        for cflags, lflags in candidates:
            if sys.platform == "win32":
                return cflags, lflags  # MSVC always has /openmp
            exe = os.path.join(tmp, "omp_test")
            try:
                r = subprocess.run(cc + cflags + [src, "-o", exe] + lflags,
                                   capture_output=True, timeout=120)
            except (OSError, subprocess.SubprocessError):
                continue
            if r.returncode == 0 and subprocess.run([exe]).returncode == 0:
                return cflags, lflags
    return None


def build_flags():
    compile_args, link_args = [], []
    if sys.platform != "win32":
        # -O3 for the vectoriser; no host-specific ISA or fast-math flags (see
        # CONTRIBUTING.md, "Architecture"): wide SIMD comes from runtime
        # dispatch, per-ISA builds picked by _dispatch.h (network, grid) and
        # target_clones in _fastmath.h (the sigmoid helpers).
        compile_args += ["-O3", "-fno-math-errno", "-Wno-unused-function"]
    omp = openmp_flags()
    if omp is None:
        warnings.warn("nndfast: OpenMP not available; building serial kernels "
                      "(nndfast.openmp_enabled() will be False).")
        # `#pragma omp simd` still vectorizes without the runtime.
        if sys.platform != "win32":
            compile_args += ["-fopenmp-simd"]
    else:
        compile_args += omp[0]
        link_args += omp[1]
    if os.environ.get("NNDFAST_SANITIZE"):
        san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"]
        compile_args = [a for a in compile_args if a != "-O3"] + ["-O1"] + san
        link_args += san
    elif sys.platform.startswith("linux"):
        # Python's CFLAGS carry -g: without this a wheel is ~4x larger, all of
        # it DWARF nobody downloads for (numpy strips the same way).  macOS
        # keeps debug info out of the .so already; MSVC emits none here.
        link_args += ["-Wl,--strip-debug"]
    return compile_args, link_args


def local_deps(path, seen=None):
    """The package's own headers and .pxd files that `path` (.pyx, .pxd or .h)
    pulls in, directly or through each other: a module's `depends`, so that an
    edited header rebuilds the modules that use it and no other."""
    seen = set() if seen is None else seen
    own = os.path.splitext(path)[0] + ".pxd"
    if path.endswith(".pyx") and os.path.exists(own) and own not in seen:
        seen.add(own)
        local_deps(own, seen)
    with open(path) as f:
        text = f.read()
    names = re.findall(r'^\s*cdef\s+extern\s+from\s+"([^"]+)"', text, re.M)
    names += re.findall(r'^\s*#\s*include\s+"([^"]+)"', text, re.M)
    names += [m + ".pxd" for m in re.findall(r"^\s*from\s+nndfast\.(\w+)\s+cimport", text, re.M)]
    for name in names:
        dep = os.path.join("nndfast", name)
        if os.path.exists(dep) and dep not in seen:
            seen.add(dep)
            local_deps(dep, seen)
    return seen


def extensions():
    compile_args, link_args = build_flags()
    exts = []
    for pyx in sorted(glob.glob(os.path.join("nndfast", "_*.pyx"))):
        name = "nndfast." + os.path.splitext(os.path.basename(pyx))[0]
        exts.append(Extension(
            name, [pyx],
            # the kernels live in headers and cimported .pxd files: an edit
            # there must rebuild in place
            depends=sorted(local_deps(pyx)),
            include_dirs=[np.get_include(), "nndfast"],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
            extra_compile_args=compile_args,
            extra_link_args=link_args,
        ))
    # freethreading_compatible: the modules keep no unguarded shared Python
    # state (a network's Workspace has its own lock), so importing them on a
    # free-threaded CPython leaves the GIL off.
    return cythonize(exts, compiler_directives={"language_level": 3,
                                                "freethreading_compatible": True},
                     quiet=True)


setup(ext_modules=extensions())
