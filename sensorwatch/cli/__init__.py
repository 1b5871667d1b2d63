"""``sensorwatch``: one command with subcommands drives everything (``sensorwatch --help``).

The commands are declared by group, each beside its handler:

    pipeline.py    produce, ingest, landed, features, train, predict, runs
    modeling.py    model list|promote|rollback|challenger|compare, evaluate skab|experiments
    operations.py  anomalies, alerts, label, maintenance, thresholds, plot, dashboard, console, retention
    stack.py       services, bi, history, schema, package, submit

``main`` is the one entry point of every command and job (``jobs/`` call it): logging
configured once, the profile loaded, errors mapped to exit codes in one place.
"""

from __future__ import annotations

import argparse
import sys

from schemas.errors import SensorwatchError, UsageError
from sensorwatch import logs
from sensorwatch.cli import modeling, operations, pipeline, stack
from sensorwatch.cli.command import Command, OneOf, Option
from sensorwatch.config import load_settings

GROUPS = (pipeline.COMMANDS, modeling.COMMANDS, operations.COMMANDS, stack.COMMANDS)

# The one place where errors become exit codes (first match wins).
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (UsageError, 2),  # bad arguments or configuration: nothing ran
    (SensorwatchError, 1),  # a service unreachable, an operation failed, data unusable
    (FileNotFoundError, 1),  # a path given or configured does not exist
)
# What the parser adds to the parsed arguments besides the handler's own options.
NOT_OPTIONS = frozenset({"func", "command", "action", "profile"})


def exit_code(exc: BaseException) -> int | None:
    """The exit code of an error the CLI reports in one line; None: a bug (traceback)."""
    return next((code for kind, code in EXIT_CODES if isinstance(exc, kind)), None)


def _add_options(parser: argparse.ArgumentParser, options: tuple[Option | OneOf, ...]) -> None:
    for option in options:
        if isinstance(option, OneOf):
            exclusive = parser.add_mutually_exclusive_group(required=option.required)
            for member in option.options:
                exclusive.add_argument(*member.flags, **member.kwargs)
        else:
            parser.add_argument(*option.flags, **option.kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sensorwatch", description="Sensor anomaly pipeline: Kafka -> HDFS -> "
                                     "features -> LSTM -> anomalies in CrateDB. `sensorwatch COMMAND --help`.")
    parser.add_argument("--profile", help="conf profile (default: $SENSORWATCH_PROFILE or local)")
    # ... also accepted after the subcommand (spark-submit entry points pass it there)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--profile", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    nested: dict[str, argparse._SubParsersAction] = {}
    group_help = {name: text for group in GROUPS for name, text in group.groups.items()}

    def leaf(command: Command) -> argparse.ArgumentParser:
        group, _, action = command.name.partition(" ")
        if not action:
            return sub.add_parser(group, parents=[common], help=command.help, description=command.help)
        if group not in nested:
            parent = sub.add_parser(group, parents=[common], help=group_help[group], description=group_help[group])
            nested[group] = parent.add_subparsers(dest="action", required=True, metavar="ACTION")
        return nested[group].add_parser(action, parents=[common], help=command.help, description=command.help)

    for group in GROUPS:
        for command in group.commands:
            p = leaf(command)
            _add_options(p, command.options)
            p.set_defaults(func=command.handler)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Every command and job goes through here: logging configured once, errors mapped
    to exit codes in one place (``EXIT_CODES``); a usage error is exit 2 (argparse's)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse printed the usage (or the help)
        return exc.code if isinstance(exc.code, int) else 2
    logs.configure()
    try:
        settings = load_settings(args.profile)
        if settings.services:  # the embedded services' log directory; on a cluster the container logs keep it
            logs.native_output(settings.home / "log")
        options = {k: v for k, v in vars(args).items() if k not in NOT_OPTIONS}
        return args.func(settings, **options)
    except Exception as exc:  # one clear line for the errors we explain
        code = exit_code(exc)
        if code is None:
            raise
        print(f"sensorwatch: {type(exc).__name__}: {exc}", file=sys.stderr)
        return code
