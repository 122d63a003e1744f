"""Progress lines for long steps: readable in a Snakemake log file, a tqdm-like bar only on a TTY."""

from __future__ import annotations

import sys
import time


def format_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h:d}:{m:02d}:{s:02d}" if h else f"{m:d}:{s:02d}"


class Progress:
    """``with Progress(total, "crop") as p: ... p.update()`` prints ``crop: 40/100 (40%) 12.3 it/s ETA 0:05``
    at most every ``interval`` seconds (and at the end) to stderr."""

    def __init__(self, total: int, desc: str, unit: str = "it", interval: float = 5.0, stream=None):
        self.total, self.desc, self.unit, self.interval = total, desc, unit, interval
        self.stream = stream or sys.stderr
        self.n = 0
        self.start = self.last = time.perf_counter()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self._print(final=True)

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.perf_counter()
        if now - self.last >= self.interval:
            self.last = now
            self._print()

    def _print(self, final: bool = False) -> None:
        elapsed = time.perf_counter() - self.start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        tail = (
            f"done in {format_seconds(elapsed)}"
            if final
            else (f"ETA {format_seconds((self.total - self.n) / rate)}" if rate > 0 and self.total else "")
        )
        end = "\r" if self.stream.isatty() and not final else "\n"
        print(
            f"{self.desc}: {self.n}/{self.total}{pct} {rate:.1f} {self.unit}/s {tail}",
            end=end,
            file=self.stream,
            flush=True,
        )
