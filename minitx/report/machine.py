"""The machine a run trained on, as its report shows it: CPU model and flags, cores,
Python, NumPy and its BLAS, Numba, minitx.

A run folder keeps the machines in machine.json, a list of {"from_step": S, ...}: one
entry, or one more each time the run is resumed on a different machine or software.
"""
import functools
import json
import os
import platform

MACHINE = "machine.json"
FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")   # the SIMD extensions that decide GEMM speed


@functools.lru_cache(maxsize=1)
def describe():
    """{name: text} of this machine and the software that runs minitx (computed once)."""
    import numba
    import numpy as np

    from .. import __version__
    blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    return {"cpu": _cpuinfo("model name") or platform.processor() or platform.machine(),
            "cpu flags": " ".join(f for f in FLAGS if f in (_cpuinfo("flags") or "").split()) or "-",
            "cores": str(os.cpu_count()),
            "system": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(),
            "numpy": np.__version__,
            "blas": " ".join(str(blas[k]) for k in ("name", "version") if blas.get(k)) or "unknown",
            "numba": numba.__version__,
            "minitx": __version__}


def recorded(run_dir):
    """The machines of machine.json in `run_dir` ([] when it is missing or unreadable)."""
    try:
        with open(os.path.join(run_dir, MACHINE), encoding="utf-8") as f:
            machines = json.load(f)
    except (OSError, ValueError):
        return []
    return [m for m in machines if isinstance(m, dict)] if isinstance(machines, list) else []


def with_this_machine(machines, step):
    """`machines` with this one added from `step`, unless it is the last one already."""
    here = describe()
    if machines and {k: v for k, v in machines[-1].items() if k != "from_step"} == here:
        return machines
    return machines + [{"from_step": step, **here}]


def _cpuinfo(field):
    """The first value of `field` in /proc/cpuinfo (Linux); None elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None
