"""What the PBS stand-in (fake_pbs.py) keeps: a state folder with job files
written atomically, JSON-lines records of every call, and job ids from a counter under a lock file
(Snakemake may submit from several threads)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


class Records:
    def __init__(self, state: Path, first_id: int):
        self.state, self.first_id = state, first_id

    def append(self, name: str, record: dict) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        with open(self.state / name, "a") as f:
            f.write(json.dumps(record) + "\n")

    def next_id(self) -> int:
        self.state.mkdir(parents=True, exist_ok=True)
        counter, lock = self.state / "counter", self.state / "counter.lock"
        while True:
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL)
                break
            except FileExistsError:
                time.sleep(0.01)
        try:
            n = int(counter.read_text()) + 1 if counter.exists() else self.first_id
            counter.write_text(str(n))
            return n
        finally:
            os.close(fd)
            os.unlink(lock)
