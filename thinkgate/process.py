"""Process-wide tuning, which only entry points apply (the `thinkgate` command line does, unless told not to
with `--no-tune-memory`); the library never changes process-wide state on its own."""

from __future__ import annotations


def keep_freed_memory() -> bool:
    """Ask glibc's allocator to keep freed memory for reuse (Linux only; True when it took).

    Batched decoding on CPU allocates and frees large tensors (attention scores, the growing KV cache)
    every step. By default glibc serves big blocks with fresh mmaps and hands freed memory back to the OS,
    so each step page-faults its memory in again: on this project's 2-core machine `thinkgate bench
    --strategies think --suites under --fresh` took 72 s that way and 44 s with the thresholds below. The usual
    fix is to preload jemalloc or tcmalloc; this is the in-process equivalent for glibc. It raises the mmap
    threshold to glibc's maximum (32 MiB) and keeps up to 512 MiB of freed heap before trimming. Other
    allocators ignore it (mallopt is glibc's)."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, 32 << 20)) and bool(mallopt(m_trim_threshold, 512 << 20))

