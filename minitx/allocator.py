"""Keep freed memory for reuse: glibc malloc settings (minitx/runtime.py applies them).

A training step allocates and frees the same large arrays every step:
activations, gradients and temporaries, hundreds of MB at the GPT benchmark
size. glibc's default policy returns those pages to the kernel after every step:
- it serves a large block with fresh mmap'd pages and unmaps them on free (the
  threshold moves between 128 KiB and 32 MiB);
- it trims the top of the heap once more than twice that threshold is free.

The next step then faults every page in again, and the kernel zeroes each one.

The settings: blocks up to MMAP_THRESHOLD come from the heap, and up to
TRIM_THRESHOLD of free memory at the top of the heap stays mapped. Setting them
also turns off glibc's moving thresholds. The cost is that the process keeps the
memory of its largest step resident between steps, as PyTorch's caching
allocator does on a GPU. Peak memory is unchanged. The page faults and step
times measured with and without are in docs/architecture.md (Memory).

MINITX_MALLOC=default leaves glibc as it is. Other C libraries (macOS, musl)
are left alone.
"""
import ctypes
import os
import platform

MMAP_THRESHOLD = 64 << 20   # bytes; a larger block is still mmap'd and unmapped on free
TRIM_THRESHOLD = 256 << 20  # bytes of free heap top kept mapped

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers, from malloc.h


def tune():
    """Apply the settings above; True when glibc took them."""
    if os.environ.get("MINITX_MALLOC", "").lower() == "default":
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))

