"""The project's contracts that need no service: time ranges, statements, errors, logging."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, timezone

import pytest

from schemas import ANOMALY_EVENTS, SENSOR_FEATURES
from schemas.errors import DataError, SensorwatchError, Unavailable, UsageError
from schemas.time import TimeRange, interval_ceil, interval_floor, naive_utc, parse_time, utc
from sensorwatch import logs
from sensorwatch.cli import exit_code, main
from sensorwatch.config import ConfigError
from sensorwatch.connectors.sql import SqlUnavailable, SqlWriteFailed
from sensorwatch.connectors.sql import statements as q
from sensorwatch.pipeline.featurization import run_features
from sensorwatch.pipeline.training import NoTrainingData

T = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
HOSTILE = "pump'); DROP TABLE sensor_features; --"


def test_times_are_parsed_once_as_utc():
    assert parse_time("2026-05-01T08:00:00Z") == T
    assert parse_time("2026-05-01T10:00:00+02:00") == T  # an offset is converted
    assert parse_time("2026-05-01T08:00:00") == T  # no zone means UTC
    assert utc(datetime(2026, 5, 1, 8)) == T and utc(T.astimezone(timezone(timedelta(hours=-5)))) == T
    with pytest.raises(UsageError, match="not an ISO 8601 time: 'yesterday'"):
        parse_time("yesterday")
    import pandas as pd

    assert naive_utc(pd.Series([T, "2026-05-01T10:00:00+02:00"])).tolist() == [pd.Timestamp("2026-05-01 08:00")] * 2


def test_a_time_range_is_ordered_half_open_and_snaps_to_the_grid():
    span = TimeRange.parse("2026-05-01T08:00:07Z", "2026-05-01T08:01:01Z")
    assert span.seconds == 54 and str(span).startswith("[2026-05-01T08:00:07+00:00")
    assert span.on_grid(10) == TimeRange(T, T + timedelta(seconds=70))
    assert interval_floor(T + timedelta(seconds=9), 10) == T and interval_ceil(T, 10) == T
    assert TimeRange.optional(None, None) is None
    with pytest.raises(UsageError, match="is not before"):
        TimeRange(T, T)
    with pytest.raises(UsageError, match="give both --from and --to"):
        TimeRange.optional("2026-05-01T08:00:00Z", None)


@pytest.mark.parametrize("command", ["features", "train", "plot", "predict"])
def test_every_command_with_a_range_refuses_the_same_bad_input(command, capsys):
    for args, says in ((["--from", "2026-01-02", "--to", "2026-01-01"], "is not before"),
                       (["--from", "2026-01-02"], "give both --from and --to"),
                       (["--from", "yesterday", "--to", "2026-01-01"], "not an ISO 8601 time")):
        assert main([command, *args]) == 2
        assert says in capsys.readouterr().err


def test_statements_carry_values_as_parameters_never_as_text():
    target = q.Target("doc")
    statement = q.rows_between(target, SENSOR_FEATURES, ["asset_id", "interval_start"], T, T + timedelta(hours=1),
                               [HOSTILE])
    assert HOSTILE not in statement.text() and statement.params[0] == [HOSTILE]
    assert "asset_id = ANY(%s)" in statement.text()
    # identifiers are quoted by psycopg.sql, whatever they hold
    odd = q.Target('we"ird')
    assert q.drop_table(odd, ANOMALY_EVENTS).text() == 'DROP TABLE IF EXISTS "we""ird"."anomaly_events"'


def test_a_password_in_ddl_is_a_quoted_literal():
    statements = q.read_only_login(q.Target("s"), "bi", "pa'ss", exists=False)
    assert statements[0].text() == "CREATE USER \"bi\" WITH (password = 'pa''ss')"


def test_every_error_kind_has_one_exit_code():
    assert issubclass(ConfigError, UsageError) and issubclass(NoTrainingData, DataError)
    assert issubclass(SqlUnavailable, Unavailable) and issubclass(SqlWriteFailed, SensorwatchError)
    assert exit_code(ConfigError("x")) == 2 and exit_code(UsageError("x")) == 2
    assert exit_code(SqlUnavailable("x")) == 1 and exit_code(NoTrainingData("x")) == 1
    assert exit_code(FileNotFoundError("x")) == 1
    assert exit_code(KeyError("x")) is None  # a bug: the traceback is kept


def test_a_job_function_takes_a_time_range_not_loose_datetimes():
    import inspect

    assert list(inspect.signature(run_features).parameters) == ["spark", "settings", "span"]


def test_logging_is_configured_once_and_a_warning_comes_out_once(capfd):
    logs.configure()
    logs.configure()  # a second call adds no second handler
    logging.getLogger("sensorwatch.pipeline.prediction").warning("stale model: v1")
    logging.getLogger("sensorwatch.x").info("progress")
    logging.getLogger("py4j").info("library chatter stays below WARNING")
    err = capfd.readouterr().err
    assert err.count("stale model: v1") == 1 and "WARNING sensorwatch.pipeline.prediction" in err
    assert "progress" in err and "library chatter" not in err
