"""What a benchmark ran on: CPU, cores, load, memory, numpy and its BLAS, thread settings.

Best effort everywhere: a field that cannot be read says so instead of failing.
"""

from __future__ import annotations

import ctypes
import os
import platform
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 ** 2
    except OSError:
        pass
    return None


def _numpy_openblas() -> Any:
    """numpy's OpenBLAS library (ctypes handle) and its symbol prefix, or None."""
    import numpy  # noqa: F401  (loads the library)

    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    libs = sorted({line.split()[-1] for line in maps.splitlines()
                   if "openblas" in line.lower() and line.split()[-1].startswith("/")})
    for lib in libs:
        if "numpy" not in lib and "scipy_openblas" not in lib:
            continue  # e.g. the system OpenBLAS that dlib links
        try:
            handle = ctypes.CDLL(lib)
        except OSError:
            continue
        for prefix, suffix in (("scipy_openblas_", "64_"), ("openblas_", "64_"),
                               ("openblas_", "")):
            if hasattr(handle, f"{prefix}get_num_threads{suffix}"):
                return handle, prefix, suffix
    return None


def openblas_threads() -> int | None:
    """The thread count numpy's OpenBLAS uses now (asked through its C API)."""
    lib = _numpy_openblas()
    if lib is None:
        return None
    handle, prefix, suffix = lib
    return int(getattr(handle, f"{prefix}get_num_threads{suffix}")())


def set_openblas_threads(n: int) -> bool:
    """Change numpy's OpenBLAS thread count in this process (what threadpoolctl does);
    False if that is not possible here."""
    lib = _numpy_openblas()
    if lib is None:
        return False
    handle, prefix, suffix = lib
    getattr(handle, f"{prefix}set_num_threads{suffix}")(ctypes.c_int(n))
    return openblas_threads() == n


def openblas_core() -> str:
    lib = _numpy_openblas()
    if lib is None:
        return "unknown"
    handle, prefix, suffix = lib
    fn = getattr(handle, f"{prefix}get_corename{suffix}", None)
    if fn is None:
        return "unknown"
    fn.restype = ctypes.c_char_p
    return str(fn().decode())


def blas_config() -> str:
    import numpy as np

    try:
        config: Any = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        build = blas.get("openblas configuration", "")
        return f"{blas.get('name')} {blas.get('version')} ({build})"
    except Exception as exc:  # numpy versions differ in what they report
        return f"unknown ({type(exc).__name__})"


def describe() -> list[str]:
    import numpy as np

    env = {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                      "MKL_NUM_THREADS") if k in os.environ}
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "unknown"
    mem = memory_gb()
    return [
        f"CPU: {cpu_model()}; {os.cpu_count()} logical cores ({usable} usable); "
        f"memory {mem:.1f} GB" if mem else f"CPU: {cpu_model()}; {os.cpu_count()} cores",
        f"load average (1/5/15 min) at start: {load} (other jobs share this machine)",
        f"python {platform.python_version()}, numpy {np.__version__}, BLAS {blas_config()}",
        f"thread settings in the environment: {env or 'none'}; numpy's OpenBLAS: "
        f"{openblas_threads() or 'unknown'} threads, kernels for {openblas_core()}",
    ]
