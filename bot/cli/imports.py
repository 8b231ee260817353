"""``leadbot import FILE.csv``: bulk upsert of leads."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.cli.common import (
    UsageError,
    database_url,
    readable,
    workspace,
)
from bot.runtime import utcnow
from core.db import Database


def cmd_import(args: argparse.Namespace) -> int:
    from core.services.imports import ImportError_, import_csv

    path = Path(args.file)
    readable(path)
    config = workspace()
    from core.migrate import upgrade

    url = database_url()
    upgrade(url)
    db = Database(url)
    try:
        with _progress(enabled=sys.stdout.isatty()) as progress:
            report = import_csv(
                db,
                path,
                config=config,
                now=utcnow(),
                dry_run=args.dry_run,
                progress=progress,
                encoding=args.encoding,
            )
    except ImportError_ as exc:
        raise UsageError(f"{path}: {exc}") from exc
    finally:
        db.dispose()
    print(f"read as {report.encoding} ({report.encoding_source})")
    if args.dry_run:
        print("dry run: nothing was written to the database")
    if report.merged:
        print(f"{report.merged} row(s) repeated an earlier e-mail and were merged into it")
    if report.unchanged:
        print(f"{report.unchanged} lead(s) already up to date")
    if report.rejects_path:
        print(f"rejected rows and reasons: {report.rejects_path}")
    print(report.summary())
    return 0


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    if not enabled:
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("importing", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    importer = commands.add_parser("import", help="bulk upsert of leads from a CSV file")
    importer.add_argument("file", help="CSV file with a header row and an e-mail column")
    importer.add_argument(
        "--dry-run", action="store_true", help="validate and report, write nothing"
    )
    importer.add_argument(
        "--encoding",
        metavar="NAME",
        help="the file's encoding, like utf-8, cp1252 or latin-1 (default: detected)",
    )
    importer.set_defaults(func=cmd_import)
