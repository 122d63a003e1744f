"""Timing several variants of one operation so that their ratio means something on a shared machine.

The variants are interleaved (A B C A B C ..., never all of A then all of B): a change of load while
they run then slows every variant alike instead of whichever ran at that moment. Each variant gets
its untimed warm-up calls first (allocator, oneDNN/cuDNN kernel choice, lazy initialisation).
Used by `cyclegan.fast: auto` (cycleaug.cyclegan.autotune) and by every timing benchmark in bench/.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence


def cpu_model() -> str:
    """The CPU's model name (what a timing was measured on)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def interleaved(
    fns: Mapping[str, Callable[[], object]],
    warmup: int,
    iters: int,
    sync: Callable[[], None] | None = None,
) -> dict[str, list[float]]:
    """Seconds of each of ``iters`` calls of every function, in rounds that call each once in turn."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    if sync:
        sync()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(iters):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            if sync:
                sync()
            times[name].append(time.perf_counter() - t)
    return times


def summary(times: Sequence[float]) -> dict:
    """min / median / max (and mean) of a list of seconds, with the list itself."""
    return {
        "times_s": [round(t, 6) for t in times],
        "min_s": min(times),
        "median_s": statistics.median(times),
        "max_s": max(times),
        "mean_s": statistics.fmean(times),
    }
