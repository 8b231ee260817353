"""``leadbot scoring backtest|train|models|use``: the learned score."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bot.cli.common import (
    UsageError,
    database_url,
    packaged_config,
    readable,
    settings,
    workspace,
)
from bot.runtime import utcnow
from core.config import WorkspaceConfig
from core.db import Database


def _scoring_workspace() -> tuple[WorkspaceConfig, str | None]:
    """The workspace config, or, when none exists at all, the packaged example (a backtest
    needs only the rules, and must work on a laptop with nothing but a history file)."""
    import os

    path = settings().config_path
    if not os.environ.get("LEADBOT_CONFIG") and not Path(path).is_file():
        return workspace(str(packaged_config())), (
            f"no workspace config at {path}: the rules are those of the example config"
        )
    return workspace(path), None


def _backtest_options(args: argparse.Namespace) -> Any:
    from core.learning.backtest import Options

    return Options(
        target=args.target,
        positive=args.positive,
        time=args.time,
        exclude=args.exclude or (),
        keep=args.keep or (),
    )


def cmd_scoring_backtest(args: argparse.Namespace) -> int:
    import json

    from core.services.learning import backtest_file

    path = Path(args.file)
    readable(path)
    config, note = _scoring_workspace()
    report, _ = backtest_file(path, _backtest_options(args), config)
    if note:
        report["warnings"].append(note)
    if args.json:
        print(json.dumps(report))
        return 0
    from bot.cli.scoring_text import backtest_lines

    for line in backtest_lines(path.name, report):
        print(line)
    return 0


def cmd_scoring_train(args: argparse.Namespace) -> int:
    from core.services import learning

    if args.csv and not args.target:
        raise UsageError("--csv needs --target COLUMN (the outcome column)")
    if args.target and not args.csv:
        raise UsageError(
            "--target goes with --csv FILE; without a file the outcomes come from the database"
        )
    if args.csv:
        readable(Path(args.csv))
    config = workspace()

    def train(session: Any) -> list[str]:
        if args.csv:
            version, _ = learning.train_from_file(
                session, Path(args.csv), _backtest_options(args), config, utcnow()
            )
        else:
            version = learning.train_from_database(session, config, utcnow())
        return list(model_lines(version))

    return _print_models(train)


def cmd_scoring_models(args: argparse.Namespace) -> int:
    from core.services import learning

    def listed(session: Any) -> list[str]:
        return [line for version in learning.list_models(session) for line in model_lines(version)]

    return _print_models(
        listed, empty="no model versions yet (train one with `leadbot scoring train`)"
    )


def cmd_scoring_use(args: argparse.Namespace) -> int:
    from core.services import learning

    return _print_models(
        lambda session: list(model_lines(learning.use_model(session, args.version, utcnow())))
    )


def _print_models(work: Callable[[Any], list[str]], *, empty: str | None = None) -> int:
    """Run ``work`` in one transaction on the migrated database and print the lines it returns
    (``empty`` when there are none); a refusal of the learning side is one line, exit 2."""
    from core.migrate import upgrade

    url = database_url()
    upgrade(url)
    db = Database(url)
    try:
        with db.transaction() as session:
            lines = work(session)
    finally:
        db.dispose()
    if not lines and empty:
        print(empty)
    for line in lines:
        print(line)
    return 0


def model_lines(version: Any) -> Iterator[str]:
    from bot.cli.scoring_text import version_lines

    return version_lines(version)


def _history_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("--target", required=required, help="the outcome column")
    parser.add_argument("--positive", help="the outcome value that counts as good")
    parser.add_argument("--time", help="split by this column: its latest 30%% are the test set")
    # extend + "+": `--exclude A B` and `--exclude A --exclude B` both work.
    parser.add_argument(
        "--exclude", action="extend", nargs="+", metavar="COL", help="leave columns out"
    )
    parser.add_argument(
        "--keep",
        action="extend",
        nargs="+",
        metavar="COL",
        help="use columns the leak guard would drop",
    )


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    scoring = commands.add_parser("scoring", help="learned scoring: backtest, train, versions")
    scoring_actions = scoring.add_subparsers(dest="action", metavar="ACTION", required=True)
    backtest = scoring_actions.add_parser(
        "backtest", help="measure the learned model and the rules on a history file"
    )
    backtest.add_argument("file", help="CSV history, one row a lead, with an outcome column")
    _history_options(backtest, required=True)
    backtest.add_argument("--json", action="store_true", help="print one JSON object")
    backtest.set_defaults(func=cmd_scoring_backtest)
    train = scoring_actions.add_parser(
        "train", help="train a new active model version from the database's outcomes (or a file)"
    )
    train.add_argument("--csv", metavar="FILE", help="train from this history file instead")
    _history_options(train, required=False)
    train.set_defaults(func=cmd_scoring_train)
    scoring_actions.add_parser("models", help="list model versions").set_defaults(
        func=cmd_scoring_models
    )
    use = scoring_actions.add_parser("use", help="make model version N the active one")
    use.add_argument("version", type=int, metavar="N")
    use.set_defaults(func=cmd_scoring_use)
