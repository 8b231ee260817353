"""What every benchmark shares: a figure (ours against a baseline, with its budget), the run's
context (quick or full, the PostgreSQL URL, a scratch directory, cached seeds), timing and
memory helpers, and a description of the machine."""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: Where the PostgreSQL figures run. The benchmark empties this database: give it its own.
PG_ENV = "LEADBOT_BENCH_DATABASE_URL"


@dataclass
class Figure:
    """One measured figure. ``higher_is_better`` for rates (events per second)."""

    name: str
    unit: str
    ours: float
    baseline: float | None
    budget: str
    within: bool | None  # None: no budget, reported only
    higher_is_better: bool = False
    notes: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.ours / self.baseline

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "ours": self.ours,
            "baseline": self.baseline,
            "ratio": self.ratio,
            "budget": self.budget,
            "within_budget": self.within,
            "notes": self.notes,
        }


@dataclass
class Skipped:
    """A benchmark that could not run here, and why (printed, and saved in the results)."""

    name: str
    reason: str


@dataclass
class Context:
    quick: bool
    scratch: Path
    pg_url: str | None = os.environ.get(PG_ENV)
    cache: dict[str, Any] = field(default_factory=dict)

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def cached(self, key: str, build: Callable[[], Any]) -> Any:
        """Build once per run (a seeded database, a served process) and reuse."""
        if key not in self.cache:
            self.cache[key] = build()
        return self.cache[key]


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (0..100), nearest rank, of at least one value."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return statistics.median(values)


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def timings(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MiB; Linux only."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc status")


def machine(pg_url: str | None) -> dict[str, Any]:
    memory = None
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        first = meminfo.read_text().splitlines()[0].split()
        memory = round(int(first[1]) / 1024 / 1024, 1)
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "memory_gib": memory,
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": None,
    }
    if pg_url:
        from sqlalchemy import create_engine, text

        engine = create_engine(pg_url)
        try:
            with engine.connect() as connection:
                info["postgresql"] = connection.execute(text("SHOW server_version")).scalar()
        finally:
            engine.dispose()
    return info


def _cpu_model() -> str | None:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return None
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return None
