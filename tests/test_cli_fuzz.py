"""Fuzz of the CLI's arguments (hypothesis): for every subcommand, any mix of its own
options and hostile values (bad and reversed times, extreme numbers, unicode, SQL and path
metacharacters) is either refused by argparse with a usage message (exit 2) or reaches
the command's own checks, which refuse with one ``UsageError`` line (exit 2) -- never a
traceback. Commands that need no service (``schema``, ``submit`` without ``--run``) run in
full; the others up to their argument checks (``--from/--to``, ``--at``), which come
before any service is touched."""

import argparse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.errors import SensorwatchError
from schemas.time import TimeRange, parse_time
from sensorwatch.cli import build_parser, exit_code, main

PARSER = build_parser()
SUBCOMMANDS = {name: sub for action in PARSER._actions if isinstance(action, argparse._SubParsersAction)
               for name, sub in action.choices.items()}
VALUES = ["2026-12-02T10:00:00Z", "2026-12-02T09:00:00Z", "2026-13-45T99:99:99", "yesterday", "", " ", "0", "-1",
          "1e309", "nan", "99999999999999999999", "2026-12-02", "2026-12-02T10:00:00+14:00", "💥", "pump-0001",
          "'; DROP TABLE anomaly_events; --", "../../etc/passwd", "$(id)", "--", "-", "x" * 5000]


def _options(sub: argparse.ArgumentParser) -> list[str]:
    return [s for a in sub._actions for s in a.option_strings if s not in ("-h", "--help", "--run")]


@st.composite
def argv(draw) -> list[str]:
    name = draw(st.sampled_from(sorted(SUBCOMMANDS)))
    pool = _options(SUBCOMMANDS[name]) + VALUES + [str(c) for a in SUBCOMMANDS[name]._actions if a.choices
                                                   for c in a.choices]
    return [name, *draw(st.lists(st.sampled_from(pool), max_size=6))]


SAFE = {"schema", "submit"}


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(args=argv())
def test_any_arguments_are_a_usage_error_or_reach_the_commands_checks(args, capsys):
    try:
        parsed = PARSER.parse_args(args)
    except SystemExit as exc:  # argparse: a usage message on stderr
        assert exc.code == 2 and "usage:" in capsys.readouterr().err
        return
    if parsed.command in SAFE:
        code = main(args)
        assert code in (0, 1, 2)
        return
    try:
        if hasattr(parsed, "end"):
            TimeRange.optional(parsed.start, parsed.end)
        elif getattr(parsed, "start", None):  # produce --start
            parse_time(parsed.start)
        if getattr(parsed, "at", None):
            parse_time(parsed.at)
    except SensorwatchError as exc:
        assert exit_code(exc) == 2 and "\n" not in str(exc)


@pytest.mark.parametrize("args", [["predict", "--from", "2026-12-02T10:00:00Z", "--to", "2026-12-02T09:00:00Z"],
                                  ["plot", "--from", "x", "--to", "y"],
                                  ["maintenance", "p", "--from", "nan", "--to", "2026-12-02T10:00:00Z"],
                                  # the simulator refuses before Kafka is touched (was a ValueError traceback)
                                  ["produce", "simulate", "--seconds", "240", "--anomalies", "1"]])
def test_examples_the_fuzz_covers_exit_2_with_one_line(args, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("sensorwatch: ") and "Traceback" not in err
