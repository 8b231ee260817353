"""Benchmarks: each figure is ours against a baseline doing the bare minimum of the same work,
measured in the same run, with its budget.

    python benchmarks/run.py              # every figure (under 15 minutes on 2 cores)
    python benchmarks/run.py stale lookup # some
    python benchmarks/run.py --quick      # every figure at a small size (CI; asserts nothing)

Prints one table and writes benchmarks/results/latest.json (the machine and every figure).
PostgreSQL figures run on the database at LEADBOT_BENCH_DATABASE_URL, which they empty; without
it they are skipped with the reason printed.

A benchmark is a function ``(Context) -> list[Figure | Skipped]`` registered in ``BENCHMARKS``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import figures, learning
from benchmarks.common import ROOT, Context, Figure, Skipped, machine

Benchmark = Callable[[Context], list[Figure | Skipped]]

#: Name -> benchmark, in the order a full run takes them (the million-lead seed is shared).
BENCHMARKS: dict[str, Benchmark] = {
    "scoring": figures.bench_scoring,
    "speed": figures.bench_speed_to_lead,
    "ack": figures.bench_ack,
    "intake": figures.bench_intake,
    "stale": figures.bench_stale_scan,
    "lookup": figures.bench_lookup,
    "drain": figures.bench_outbox_drain,
    "learning": learning.bench_learning,
}
RESULTS = ROOT / "benchmarks" / "results" / "latest.json"


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"


def table(rows: list[Figure | Skipped]) -> str:
    header = ("figure", "ours", "baseline", "ratio", "budget", "within?")
    lines = []
    for row in rows:
        if isinstance(row, Skipped):
            lines.append((row.name, "skipped", "", "", row.reason, ""))
            continue
        within = {True: "yes", False: "NO", None: "-"}[row.within]
        lines.append(
            (
                row.name,
                f"{_number(row.ours)} {row.unit}",
                f"{_number(row.baseline)} {row.unit}" if row.baseline is not None else "-",
                f"{row.ratio:.2f}" if row.ratio is not None else "-",
                row.budget,
                within,
            )
        )
    widths = [max(len(str(r[i])) for r in [header, *lines]) for i in range(len(header))]
    out = [" | ".join(str(v).ljust(w) for v, w in zip(header, widths, strict=True))]
    out.append("-+-".join("-" * w for w in widths))
    out += [" | ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)) for r in lines]
    return "\n".join(out)


def save(context: Context, rows: list[Figure | Skipped], quick: bool, elapsed: float) -> None:
    """Write latest.json. A run of some benchmarks replaces only their figures, so the file
    always holds the latest measurement of each."""
    names = {r.name for r in rows}
    kept: list[dict[str, object]] = []
    if RESULTS.exists():
        try:
            previous = json.loads(RESULTS.read_text())
            if previous.get("quick") == quick:
                kept = [f for f in previous.get("figures", []) if f["name"] not in names]
        except (ValueError, KeyError, TypeError):
            kept = []
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "quick": quick,
                "seconds": round(elapsed, 1),
                "machine": machine(context.pg_url),
                "figures": kept + [r.as_dict() for r in rows if isinstance(r, Figure)],
                "skipped": [
                    {"name": r.name, "reason": r.reason} for r in rows if isinstance(r, Skipped)
                ],
            },
            indent=2,
        )
        + "\n"
    )


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    names = [arg for arg in argv if arg != "--quick"]
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)}")
        return 2
    started = time.monotonic()
    rows: list[Figure | Skipped] = []
    with tempfile.TemporaryDirectory(prefix="leadbot-bench-") as scratch:
        context = Context(quick=quick, scratch=Path(scratch))
        try:
            for name in names or list(BENCHMARKS):
                began = time.monotonic()
                print(f"running {name}...", flush=True)
                found = BENCHMARKS[name](context) or []
                rows += found
                for row in found:
                    if isinstance(row, Skipped):
                        print(f"  skipped {row.name}: {row.reason}", flush=True)
                print(f"  {name} took {time.monotonic() - began:.0f} s", flush=True)
                save(context, rows, quick, time.monotonic() - started)  # a cut-short run keeps it
        finally:
            for closer in reversed(context.cache.get("closers", [])):
                closer()
    elapsed = time.monotonic() - started
    print()
    print(table(rows))
    print(f"\n{'quick' if quick else 'full'} run: {elapsed:.0f} s")
    save(context, rows, quick, elapsed)
    print(f"saved {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
