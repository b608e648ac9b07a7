"""What the build produced: OpenMP status and the files shipped with the package."""
import importlib.machinery
import importlib.resources
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

import nndfast
from _child import python

OPENMP_TEST = r"""
#include <omp.h>
int main(void) { int n = 0;
#pragma omp parallel reduction(+:n)
n += 1;
return n > 0 ? 0 : 1; }
"""


def _compiler_has_openmp():
    """True if this machine's C compiler builds and runs an OpenMP program
    (the same probe setup.py uses); None if there is no compiler to ask."""
    cc = os.environ.get("CC", "cc").split()
    if shutil.which(cc[0]) is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = os.path.join(tmp, "t.c"), os.path.join(tmp, "t")
        with open(src, "w") as f:
            f.write(OPENMP_TEST)
        try:
            r = subprocess.run(cc + ["-fopenmp", src, "-o", exe], capture_output=True,
                               timeout=60)
            return r.returncode == 0 and subprocess.run([exe], timeout=60).returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False


def test_openmp_enabled_is_a_bool():
    assert isinstance(nndfast.openmp_enabled(), bool)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="probe uses cc -fopenmp")
def test_openmp_enabled_when_the_compiler_has_it():
    if os.environ.get("NNDFAST_NO_OPENMP"):
        pytest.skip("NNDFAST_NO_OPENMP is set: a serial build was asked for")
    has = _compiler_has_openmp()
    if has is None:
        pytest.skip("no C compiler here to tell whether OpenMP was available")
    if has:
        assert nndfast.openmp_enabled() is True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_openmp_runtime_loaded_when_enabled():
    # One way only: a serial nndfast may share a process with another
    # library (an MKL numpy, say) that loads an OpenMP runtime.
    if not nndfast.openmp_enabled():
        pytest.skip("serial build")
    with open("/proc/self/maps") as f:
        maps = f.read()
    assert any(lib in maps for lib in ("libgomp", "libomp", "libiomp"))


def _package_files():
    return {p.name for p in importlib.resources.files("nndfast").iterdir()}


def _extension_modules(names):
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    return {name.split(".", 1)[0] for name in names if name.endswith(suffixes)}


def test_package_ships_headers_pxd_and_marker():
    names = _package_files()
    for required in ("_fastmath.h", "_fastmath.pxd", "_network.pxd", "py.typed",
                     "reference.py", "network.py"):
        assert required in names, f"{required} is not installed with nndfast"


def test_every_extension_module_has_a_stub():
    names = _package_files()
    mods = _extension_modules(names)
    assert {"_network", "_openmp"} <= mods, f"extensions found: {sorted(mods)}"
    missing = sorted(m for m in mods if f"{m}.pyi" not in names)
    assert not missing, f"extension modules without a .pyi stub: {missing}"


def test_every_stub_is_read_from_the_package():
    root = importlib.resources.files("nndfast")
    for name in _package_files():
        if name.endswith((".pyi", ".pxd", ".h")):
            assert root.joinpath(name).read_text().strip(), f"{name} is empty"


def _unbuilt_copy(dest):
    """Copy the package under test to dest/nndfast without its extension
    modules, keeping (or, from a wheel, stubbing) each one's .pyx: a source
    folder whose kernels were never built."""
    src = os.path.dirname(os.path.abspath(nndfast.__file__))
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    pkg = os.path.join(dest, "nndfast")
    shutil.copytree(src, pkg, ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"))
    kernels = _extension_modules(os.listdir(src))
    assert kernels, f"no extension modules beside {nndfast.__file__}"
    for name in kernels:
        pyx = os.path.join(pkg, name + ".pyx")
        if not os.path.exists(pyx):
            with open(pyx, "w") as f:
                f.write("# stands for the kernel's source in a checkout\n")
    assert not [n for n in os.listdir(pkg) if n.endswith(suffixes)]
    return sorted(kernels)


def test_unbuilt_source_tree_gives_one_clear_import_error(tmp_path):
    kernels = _unbuilt_copy(str(tmp_path))
    # cwd = tmp_path, so `-c` finds the unbuilt copy first, as from a checkout's root
    proc = python("-c", "import nndfast", cwd=str(tmp_path), capture_output=True, text=True,
                  timeout=60)
    assert proc.returncode == 1
    err = proc.stderr
    # one exception, not chained to another (no "During handling of ...")
    assert err.count("Traceback (most recent call last)") == 1, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("ImportError: nndfast was imported from its source folder"), err
    assert "circular" not in err and "partially initialized" not in err, err
    assert "`pip install .`" in last and "`python setup.py build_ext --inplace`" in last
    assert ", ".join(kernels) in last


def test_installed_or_built_package_passes_the_check():
    # the package under test has its kernels: the same check in a child imports fine
    proc = python("-c", "import nndfast, sys; sys.stdout.write(nndfast.__file__)",
                  capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert os.path.samefile(proc.stdout, nndfast.__file__)


# A C program that dlopens a shared object built from the installed kernel
# headers and runs their dispatched sigmoid: how CPython loads an extension.
_MUSL_LIB = r"""
#include <math.h>
#include "_network.h"
#include "_grid.h"
int nnd_check(void) {
    double z[64], out[64], worst = 0;
    for (int i = 0; i < 64; i++) z[i] = -40.0 + 80.0 * i / 63.0;
    nnd_sigmoid_vec(z, out, 64);
    for (int i = 0; i < 64; i++) {
        double r = 1.0 / (1.0 + exp(-z[i])), e = fabs(out[i] - r) / r;
        if (e > worst) worst = e;
    }
    return worst < 1e-12 ? 0 : 1;
}
"""
_MUSL_HOST = r"""
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv) {
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) { printf("dlopen: %s\n", dlerror()); return 2; }
    return ((int (*)(void)) dlsym(h, "nnd_check"))();
}
"""


@pytest.mark.skipif(shutil.which("musl-gcc") is None,
                    reason="no musl-gcc (Debian: apt-get install musl-tools)")
def test_kernel_headers_load_under_musl(tmp_path):
    # musl has no ifunc: a target_clones build compiles but fails at load with
    # "unsupported relocation type 37", which is what broke musllinux wheels.
    headers = os.path.dirname(os.path.abspath(nndfast.__file__))
    (tmp_path / "lib.c").write_text(_MUSL_LIB)
    (tmp_path / "host.c").write_text(_MUSL_HOST)
    lib, host = str(tmp_path / "libk.so"), str(tmp_path / "host")
    # a sanitizer run preloads glibc's libasan, which a musl program cannot load
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    for cmd in (["musl-gcc", "-O3", "-fPIC", "-shared", "-fopenmp-simd", "-fno-math-errno",
                 "-Wno-unused-function", "-I", headers, str(tmp_path / "lib.c"), "-o", lib,
                 "-lm"],
                ["musl-gcc", str(tmp_path / "host.c"), "-o", host]):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
        assert r.returncode == 0, r.stderr
    r = subprocess.run([host, lib], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stdout + r.stderr


def _elf_section_names(path):
    """Section names of a 64-bit little-endian ELF file (enough for x86-64 and aarch64)."""
    import struct
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    def header(i):
        return struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
    strtab = header(shstrndx)
    names = []
    for i in range(shnum):
        off = strtab[4] + header(i)[0]
        names.append(data[off:data.index(b"\0", off)].decode())
    return names


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ELF sections")
def test_extension_modules_carry_no_debug_info():
    # setup.py links with -Wl,--strip-debug (not in the sanitizer build, which
    # keeps -g for its reports): the DWARF from Python's -g made wheels ~4x larger.
    with open("/proc/self/maps") as f:
        if "libasan" in f.read():
            pytest.skip("an AddressSanitizer run: the sanitizer build keeps its debug info")
    pkg = os.path.dirname(os.path.abspath(nndfast.__file__))
    sos = [os.path.join(pkg, n) for n in os.listdir(pkg)
           if n.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))]
    assert sos
    for so in sos:
        names = _elf_section_names(so)
        if names is None:
            pytest.skip(f"{so} is not a 64-bit little-endian ELF file")
        assert not [n for n in names if n.startswith(".debug_")], (so, names)


def test_distribution_declares_its_licences():
    from importlib import metadata
    try:
        meta = metadata.metadata("nndfast")
        files = metadata.files("nndfast") or []
    except metadata.PackageNotFoundError:
        pytest.skip("nndfast runs from a source folder, not an installed distribution")
    if not any(str(f).endswith(".dist-info/METADATA") for f in files):
        # e.g. the nndfast.egg-info a build leaves in a checkout
        pytest.skip("nndfast's metadata here is not an installed wheel's")
    assert meta["License-Expression"] == "MIT"
    declared = set(meta.get_all("License-File") or [])
    assert {"LICENSE", "licenses/LICENSE_libgomp.txt", "licenses/LICENSE_libomp.txt",
            "licenses/LICENSE_vcomp140.txt"} <= declared, declared
    shipped = {str(f).replace("\\", "/") for f in files}
    for name in declared:
        assert any(s.endswith("licenses/" + name) for s in shipped), (name, sorted(shipped))
