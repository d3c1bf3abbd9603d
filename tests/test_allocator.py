"""minitx.allocator: freed memory stays mapped, so the next training step reuses it
instead of faulting fresh pages in."""
import os
import subprocess
import sys
import textwrap

import pytest

import minitx

# Ten 16 MiB arrays touched and freed, as a step's activations are, five rounds over.
# Prints whether the settings took, the page faults of rounds 2 to 4 per 4 KiB page
# touched, and how many MiB of resident memory the free after round 5 gave back.
_ROUNDS = textwrap.dedent("""
    import os, resource
    import numpy as np
    import minitx
    def rss_mib():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    def step():
        return [np.ones(4 << 20, np.float32) for _ in range(10)]
    step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(3):
        step()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    arrays = step()
    held = rss_mib()
    del arrays
    print(minitx.runtime.malloc_tuned, (after - before) / (3 * 10 * (16 << 20) // 4096), held - rss_mib())
""")


def _run(**env):
    out = subprocess.run([sys.executable, "-c", _ROUNDS], capture_output=True, text=True,
                         check=True, env={**os.environ, **env})
    tuned, faults, returned = out.stdout.split()
    return tuned == "True", float(faults), float(returned)


glibc = pytest.mark.skipif(not minitx.runtime.malloc_tuned, reason="mallopt is glibc's")


@glibc
def test_freed_memory_stays_mapped_and_is_reused():
    tuned, faults, returned = _run()
    assert tuned
    assert returned < 16, f"{returned:.0f} MiB of the 160 MiB freed went back to the kernel"
    assert faults < 0.02, f"{faults:.2f} page faults per page touched after the first round"


@glibc
def test_minitx_malloc_default_leaves_glibc_alone():
    # glibc's own policy trims the 160 MiB freed at the top of the heap.
    tuned, _, returned = _run(MINITX_MALLOC="default")
    assert not tuned
    assert returned > 100, f"only {returned:.0f} MiB of the 160 MiB freed went back"
