"""Every statement the project runs on the SQL store, built in one place (pure: no I/O).

Identifiers go through ``psycopg.sql`` (quoted, never pasted into the text), values are
always parameters (``%s``), and a list of values is one array parameter (``= ANY(%s)``),
so an asset id or a label carrying SQL never reaches the statement text. Table DDL comes
from ``schemas.ddl`` (the one source of every table). Each function returns a
``Statement``: the composed SQL and its parameters; ``SqlStore`` runs it.

The store is CrateDB (over its PostgreSQL wire protocol): no transactions, so every write
below is idempotent (upserts by key, deletes by key, IF [NOT] EXISTS), and a read that
follows a write needs ``REFRESH TABLE``. The tests run every statement on a real CrateDB.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql

from models.forecasting import TINY
from schemas import (
    FORECAST_CALIBRATION,
    JOB_RUNS,
    SENSOR_FEATURES,
    SENSOR_FORECASTS,
    SENSOR_NAMES,
    Table,
    ddl,
    sql_type,
)
from schemas.features import column
from schemas.records import (
    ANOMALY_ALERTS,
    ANOMALY_EVENTS,
    ANOMALY_FEEDBACK,
    ANOMALY_SCORES,
    CHALLENGER_EVENTS,
    CHALLENGER_SCORES,
    LIMIT_ALERTS,
    MAINTENANCE_WINDOWS,
    THRESHOLD_VERSIONS,
)
from schemas.time import interval_floor
from schemas.views import COMMITTED

Composable = sql.Composable
DIALECT = "cratedb"  # schemas.ddl's name for the store's SQL


@dataclass(frozen=True)
class Statement:
    """One statement and its parameters."""

    sql: Composable
    params: tuple[Any, ...] = ()

    def text(self) -> str:
        """The statement as sent (placeholders ``%s`` left for the driver)."""
        return self.sql.as_string()


@dataclass(frozen=True)
class Target:
    """Where statements go: the schema, and CrateDB's table settings."""

    schema: str
    shards: int | None = None
    replicas: str | None = None

    def table(self, table: Table | str) -> sql.Identifier:
        return sql.Identifier(self.schema, table if isinstance(table, str) else table.name)


def columns(names: Iterable[str]) -> Composable:
    """``"a", "b", ...``."""
    return sql.SQL(", ").join(sql.Identifier(c) for c in names)


# -- tables ---------------------------------------------------------------------------
def create_table(t: Target, table: Table) -> Statement:
    return Statement(sql.SQL(ddl(table, DIALECT, shards=t.shards, replicas=t.replicas, schema=t.schema)))


def existing_columns(t: Target, table: Table) -> Statement:
    return Statement(sql.SQL("SELECT column_name FROM information_schema.columns "
                             "WHERE table_schema = %s AND table_name = %s"), (t.schema, table.name))


def add_column(t: Target, table: Table, column: str) -> Statement:
    """A column declared after the table was created (new fields are nullable)."""
    kind = next(f.kind for f in table.all_fields if f.name == column)
    return Statement(sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
        t.table(table), sql.Identifier(column), sql.SQL(sql_type(kind, DIALECT))))


def refresh_interval(t: Target, table: Table) -> Statement:
    """The table's periodic refresh as stored (ms; no row: no such table)."""
    return Statement(sql.SQL("SELECT settings['refresh_interval'] FROM information_schema.tables "
                             "WHERE table_schema = %s AND table_name = %s"), (t.schema, table.name))


def set_refresh_interval(t: Target, table: Table, ms: int) -> Statement:
    """A table made before its declared refresh interval: set (every partition, and those to come)."""
    return Statement(sql.SQL("ALTER TABLE {} SET (refresh_interval = {})").format(t.table(table), sql.Literal(ms)))


def drop_table(t: Target, table: Table) -> Statement:
    return Statement(sql.SQL("DROP TABLE IF EXISTS {}").format(t.table(table)))


def relations(t: Target) -> Statement:
    """The tables and views of the schema: (name, 'BASE TABLE' | 'VIEW')."""
    return Statement(sql.SQL("SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = %s"),
                     (t.schema,))


def drop_relation(t: Target, name: str, kind: str) -> Statement:
    return Statement(sql.SQL("DROP {} IF EXISTS {}").format(sql.SQL("VIEW" if kind == "VIEW" else "TABLE"),
                                                            t.table(name)))


def refresh(t: Target, table: Table | str) -> Statement:
    """CrateDB makes recent writes visible to queries only after a refresh (or its
    refresh interval, a second)."""
    return Statement(sql.SQL("REFRESH TABLE {}").format(t.table(table)))


# -- writes ---------------------------------------------------------------------------
def upsert_from(t: Target, table: Table, source: Composable) -> Composable:
    """Insert the table's columns from ``source`` (VALUES or a SELECT), updating existing
    rows on a key conflict: CrateDB's merge. In the tables a prediction run commits
    (``schemas.views.COMMITTED``) a row rewritten with the same values keeps the ``run_id``
    that wrote them: a replay does not hide committed rows from the views while it runs."""
    keys = set(table.primary_key)
    values = [c for c in table.column_names if c not in keys and c != "run_id"]
    updates: list[Composable] = [sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c)) for c in values]
    if "run_id" in table.column_names and table.name in COMMITTED:
        # Bare names are the stored row's values (CrateDB evaluates SET against the old row).
        same = sql.SQL(" AND ").join(sql.SQL("({0} = excluded.{0} OR ({0} IS NULL AND excluded.{0} IS NULL))")
                                     .format(sql.Identifier(c)) for c in values)
        updates.append(sql.SQL('"run_id" = CASE WHEN {} THEN "run_id" ELSE excluded."run_id" END').format(same))
    elif "run_id" in table.column_names and "run_id" not in keys:
        updates.append(sql.SQL('"run_id" = excluded."run_id"'))
    return sql.SQL("INSERT INTO {} ({}) {} ON CONFLICT ({}) DO UPDATE SET {}").format(
        t.table(table), columns(table.column_names), source, columns(table.primary_key), sql.SQL(", ").join(updates))


def upsert_values(t: Target, table: Table, placeholder: Composable | None = None) -> Statement:
    """One row by the table's primary key (run with one parameter row per record).
    ``placeholder``: psycopg's ``%s`` by default; ``sql.SQL("?")`` for CrateDB's HTTP endpoint."""
    mark = placeholder if placeholder is not None else sql.Placeholder()
    return Statement(upsert_from(t, table, sql.SQL("VALUES ({})").format(
        sql.SQL(", ").join(mark for _ in table.column_names))))


def delete_by_key(t: Target, table: Table) -> Statement:
    """Delete one row by its full primary key (run with one parameter row per key)."""
    return Statement(sql.SQL("DELETE FROM {} WHERE {}").format(
        t.table(table), sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(c))
                                              for c in table.primary_key)))


def partition_days(t: Target, table: Table) -> Statement:
    """The days of a day-partitioned table's partitions (epoch milliseconds)."""
    return Statement(sql.SQL("SELECT \"values\"['day'] AS day_ms FROM information_schema.table_partitions "
                             "WHERE table_schema = %s AND table_name = %s"), (t.schema, table.name))


def drop_days_before(t: Target, table: Table, cutoff: datetime) -> Statement:
    """Delete by the partition column only: CrateDB drops the whole partitions."""
    return Statement(sql.SQL('DELETE FROM {} WHERE "day" < %s').format(t.table(table)), (cutoff,))


# -- job runs -------------------------------------------------------------------------
def last_watermark(t: Target, job: str) -> Statement:
    return Statement(sql.SQL("SELECT watermark, details FROM {} WHERE job = %s AND status = ANY(%s) "
                             "AND watermark IS NOT NULL ORDER BY watermark DESC LIMIT 1").format(t.table(JOB_RUNS)),
                     (job, ["succeeded", "noop"]))


def recent_runs(t: Target, last: int) -> Statement:
    return Statement(sql.SQL("SELECT {} FROM {} ORDER BY started_at DESC LIMIT %s").format(
        columns(JOB_RUNS.column_names), t.table(JOB_RUNS)), (last,))


# -- features -------------------------------------------------------------------------
def newest_per_asset(t: Target, table: Table, time_column: str) -> Statement:
    """``(asset_id, max(time_column))`` for each asset of ``table``."""
    return Statement(sql.SQL("SELECT asset_id, max({}) AS newest FROM {} GROUP BY asset_id").format(
        sql.Identifier(time_column), t.table(table)))


def newest_feature_time(t: Target) -> Statement:
    return Statement(sql.SQL("SELECT max(interval_start) AS newest FROM {}").format(t.table(SENSOR_FEATURES)))


def rows_between(t: Target, table: Table | str, names: Sequence[str], start: datetime | None, end: datetime | None,
                 assets: Sequence[str] | None = None, time_column: str = "interval_start",
                 inclusive_end: bool = False) -> Statement:
    """``names`` of ``table`` with ``time_column`` in [start, end) (``inclusive_end``:
    [start, end]; no bound where None), for ``assets`` (all when None), by asset and time."""
    where: list[Composable] = []
    params: list[Any] = []
    if assets is not None:
        where.append(sql.SQL("asset_id = ANY(%s)"))
        params.append(list(assets))
    if start is not None:
        where.append(sql.SQL("{} >= %s").format(sql.Identifier(time_column)))
        params.append(start)
    if end is not None:
        where.append(sql.SQL("{} {} %s").format(sql.Identifier(time_column), sql.SQL("<=" if inclusive_end else "<")))
        params.append(end)
    condition = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL("")
    return Statement(sql.SQL("SELECT {} FROM {}{} ORDER BY asset_id, {}").format(
        columns(names), t.table(table), condition, sql.Identifier(time_column)), tuple(params))


# -- anomaly events -------------------------------------------------------------------
@dataclass(frozen=True)
class ScoreTables:
    """Where one model's scores and events are: the champion's tables, or the challenger
    tables with the rows of one version (``model_version``)."""

    scores: Table
    events: Table
    model_version: int | None = None

    @classmethod
    def challenger(cls, version: int) -> ScoreTables:
        return cls(CHALLENGER_SCORES, CHALLENGER_EVENTS, version)

    def where(self) -> tuple[Composable, tuple[Any, ...]]:
        """`` AND model_version = %s`` for a challenger version, nothing for the champion."""
        if self.model_version is None:
            return sql.SQL(""), ()
        return sql.SQL(" AND model_version = %s"), (self.model_version,)


CHAMPION = ScoreTables(ANOMALY_SCORES, ANOMALY_EVENTS)


def events_touching(t: Target, assets: Sequence[str], lo: datetime, hi: datetime,
                    tables: ScoreTables = CHAMPION) -> Statement:
    """Per asset, the span of its stored events that reach into [lo, hi]."""
    version, params = tables.where()
    return Statement(sql.SQL("SELECT asset_id, min(event_start) AS first_start, max(event_end) AS last_end FROM {} "
                             "WHERE asset_id = ANY(%s) AND event_end >= %s AND event_start <= %s{} "
                             "GROUP BY asset_id").format(
        t.table(tables.events), version), (list(assets), lo, hi, *params))


EXCEEDING_COLUMNS = ("asset_id", "interval_start", "score", "threshold", "exceeds", "is_anomaly", "top_sensors",
                     "top_contributions", "model_name", "model_version", "run_id")


def exceeding_scores(t: Target, assets: Sequence[str], start: datetime, end: datetime,
                     tables: ScoreTables = CHAMPION) -> Statement:
    """The score rows above the threshold in [start, end)."""
    return _score_rows(t, EXCEEDING_COLUMNS, "exceeds", assets, start, end, tables)


CONDITION_COLUMNS = ("asset_id", "interval_start", "score", "threshold", "instrument_check", "instrument_sensor",
                     "instrument_since", "model_name", "model_version", "run_id")


def instrument_conditions(t: Target, assets: Sequence[str], start: datetime, end: datetime,
                          tables: ScoreTables = CHAMPION) -> Statement:
    """The score rows in an instrument condition in [start, end)."""
    return _score_rows(t, CONDITION_COLUMNS, "instrument_check IS NOT NULL", assets, start, end, tables)


def _score_rows(t: Target, names: Sequence[str], condition: str, assets: Sequence[str], start: datetime,
                end: datetime, tables: ScoreTables) -> Statement:
    """``names`` of the score rows of ``assets`` in [start, end) that meet ``condition`` (SQL, a constant)."""
    version, params = tables.where()
    return Statement(sql.SQL(
        "SELECT {names} FROM {table} WHERE asset_id = ANY(%s) AND interval_start >= %s AND interval_start < %s"
        "{version} AND {condition}").format(names=columns(names), table=t.table(tables.scores), version=version,
                                            condition=sql.SQL(condition)),
        (list(assets), start, end, *params))


def exceedances(t: Target, assets: Sequence[str], start: datetime, end: datetime,
                tables: ScoreTables = CHAMPION) -> Statement:
    """Every score row's key and ``exceeds`` in [start, end): where a run of exceeding rows
    starts (a narrow read; CrateDB's window function over the same rows costs ~7x more)."""
    version, params = tables.where()
    return Statement(sql.SQL(
        "SELECT asset_id, interval_start, exceeds FROM {table} WHERE asset_id = ANY(%s) AND interval_start >= %s "
        "AND interval_start < %s{version}").format(table=t.table(tables.scores), version=version),
        (list(assets), start, end, *params))


def newest_score(t: Target, assets: Sequence[str], tables: ScoreTables = CHAMPION,
                 since: datetime | None = None) -> Statement:
    """Per asset, its newest score row's interval; with ``since``, among the rows from then
    on only (their day partitions alone read; none: every row the table keeps)."""
    version, params = tables.where()
    bound, since_params = (sql.SQL(" AND interval_start >= %s AND \"day\" >= %s"),
                           (since, interval_floor(since, 86_400))) if since is not None else (sql.SQL(""), ())
    return Statement(sql.SQL("SELECT asset_id, max(interval_start) AS newest FROM {} WHERE asset_id = ANY(%s){}{} "
                             "GROUP BY asset_id").format(t.table(tables.scores), bound, version),
                     (list(assets), *since_params, *params))


def event_keys_starting(t: Target, assets: Sequence[str], start: datetime, end: datetime,
                        tables: ScoreTables = CHAMPION) -> Statement:
    """The primary keys of the stored events of ``assets`` starting in [start, end) (the
    asset and the onset first)."""
    version, params = tables.where()
    return Statement(sql.SQL("SELECT {} FROM {} WHERE asset_id = ANY(%s) "
                             "AND event_start >= %s AND event_start < %s{}").format(
        columns(tables.events.primary_key), t.table(tables.events), version), (list(assets), start, end, *params))


def _in_span(table: Table) -> Composable:
    """A score row's interval in [%s, %s), or an event row reaching into it."""
    if "interval_start" in table.column_names:
        return sql.SQL("interval_start >= %s AND interval_start < %s")
    return sql.SQL("event_end >= %s AND event_start < %s")


def run_ids_in_span(t: Target, table: Table, start: datetime, end: datetime) -> Statement:
    """The runs that last wrote ``table``'s rows in the span."""
    return Statement(sql.SQL("SELECT DISTINCT run_id FROM {} WHERE {}").format(t.table(table), _in_span(table)),
                     (start, end))


def committed_runs(t: Target, run_ids: Sequence[str]) -> Statement:
    """Those of ``run_ids`` that committed (have a prediction_runs row)."""
    return Statement(sql.SQL("SELECT run_id FROM {} WHERE run_id = ANY(%s)").format(t.table("prediction_runs")),
                     (list(run_ids),))


def runs_started_before(t: Target, run_ids: Sequence[str], when: datetime) -> Statement:
    """Those of ``run_ids`` whose job_runs record started before ``when``."""
    return Statement(sql.SQL("SELECT run_id FROM {} WHERE run_id = ANY(%s) AND started_at < %s").format(
        t.table(JOB_RUNS)), (list(run_ids), when))


def take_over_rows(t: Target, table: Table, start: datetime, end: datetime, run_ids: Sequence[str],
                   run_id: str) -> Statement:
    """``table``'s rows in the span last written by one of ``run_ids``, now ``run_id``'s."""
    return Statement(sql.SQL("UPDATE {} SET run_id = %s WHERE {} AND run_id = ANY(%s)").format(
        t.table(table), _in_span(table)), (run_id, start, end, list(run_ids)))


def top_events(t: Target, top: int) -> Statement:
    """The most severe anomaly events (the BI view)."""
    return Statement(sql.SQL("SELECT asset_id, event_start, duration_s, severity, peak_score, sensors, is_open, "
                             "kind, instrument_check, model_version FROM {} ORDER BY severity DESC, event_start "
                             "LIMIT %s").format(t.table("v_anomaly_events")), (top,))


def hourly_means(t: Target, start: datetime, end: datetime) -> Statement:
    """Per asset and UTC hour in [start, end): each sensor's mean (of its interval means)."""
    means = sql.SQL(", ").join(sql.SQL("avg({0}) AS {0}").format(sql.Identifier(column(s, "mean")))
                               for s in SENSOR_NAMES)
    return Statement(sql.SQL("SELECT asset_id, date_trunc('hour', 'UTC', interval_start) AS hour, {} FROM {} "
                             "WHERE interval_start >= %s AND interval_start < %s GROUP BY 1, 2 ORDER BY 1, 2").format(
        means, t.table(SENSOR_FEATURES)), (start, end))


def forecast_calibration(t: Target, horizon: str, start: datetime, end: datetime, minimum: int) -> Statement:
    """Per asset and sensor: ``horizon``'s forecasts issued in [start, end) whose periods had
    ended by ``end`` (their actual is stored, known at ``end``), how many, and the 80 % and
    95 % percentiles of their reach: |actual - forecast| over the unscaled half-width on
    that side (``models.forecasting.reach`` and ``calibrated_scale``, in the store); groups
    with fewer than ``minimum`` matured forecasts are left out (scale 1)."""
    def reach(level: str) -> Composable:
        scale = sql.SQL("greatest(coalesce(f.scale{0}, 1.0), {1})").format(sql.SQL(level), sql.SQL(repr(TINY)))
        return sql.SQL(
            "CASE WHEN a.actual >= f.forecast "
            "THEN (a.actual - f.forecast) / greatest((f.hi{0} - f.forecast) / {2}, {1}) "
            "ELSE (f.forecast - a.actual) / greatest((f.forecast - f.lo{0}) / {2}, {1}) END"
        ).format(sql.SQL(level), sql.SQL(repr(TINY)), scale)
    return Statement(sql.SQL(
        "SELECT f.asset_id, f.sensor, f.horizon, count(*) AS matured, "
        "percentile({r80}, 0.8) AS scale80, percentile({r95}, 0.95) AS scale95 "
        "FROM {t} f JOIN {t} a ON a.asset_id = f.asset_id AND a.sensor = f.sensor AND a.horizon = f.horizon "
        "AND a.target_start = f.target_start AND a.steps_ahead = 0 "
        "WHERE f.horizon = %s AND f.steps_ahead > 0 AND f.issued_at >= %s AND f.issued_at < %s "
        "AND a.issued_at <= %s AND f.forecast IS NOT NULL AND a.actual IS NOT NULL "
        "GROUP BY f.asset_id, f.sensor, f.horizon HAVING count(*) >= %s").format(
        r80=reach("80"), r95=reach("95"), t=t.table(SENSOR_FORECASTS)), (horizon, start, end, end, minimum))


def calibrations_for(t: Target, horizon: str, first: datetime, last: datetime) -> Statement:
    """``horizon``'s recalibrations that forecasts issued between two times may use: those
    computed in (``first``, ``last``] and the newest at or before ``first``."""
    table = t.table(FORECAST_CALIBRATION)
    return Statement(sql.SQL(
        "SELECT asset_id, sensor, calibrated_at, scale80, scale95 FROM {0} WHERE horizon = %s "
        "AND calibrated_at <= %s AND calibrated_at >= (SELECT coalesce(max(calibrated_at), %s) FROM {0} "
        "WHERE horizon = %s AND calibrated_at <= %s) ORDER BY calibrated_at").format(table),
        (horizon, last, first, horizon, first))


def top_events_of(t: Target, asset: str, top: int) -> Statement:
    """An asset's most severe anomaly events (the BI view): their sensors."""
    return Statement(sql.SQL("SELECT event_start, severity, sensors FROM {} WHERE asset_id = %s "
                             "ORDER BY severity DESC, event_start LIMIT %s").format(t.table("v_anomaly_events")),
                     (asset, top))


def short_horizon(t: Target) -> Statement:
    """How many periods ahead the short forecasts reach (null: none yet)."""
    return Statement(sql.SQL("SELECT max(steps_ahead) AS steps FROM {} WHERE horizon = 'short'").format(
        t.table(SENSOR_FORECASTS)))


def scored_spans(t: Target, assets: Sequence[str]) -> Statement:
    """Per asset, its first and last scored interval (committed runs)."""
    return Statement(sql.SQL("SELECT asset_id, min(interval_start) AS first_start, max(interval_start) AS last_start "
                             "FROM {} WHERE asset_id = ANY(%s) GROUP BY asset_id").format(t.table("v_asset_scores")),
                     (list(assets),))


def events_of(t: Target, assets: Sequence[str]) -> Statement:
    """The events of ``assets`` with their kind (committed runs)."""
    return Statement(sql.SQL("SELECT asset_id, event_start, event_end, kind, instrument_check, sensors FROM {} "
                             "WHERE asset_id = ANY(%s) ORDER BY asset_id, event_start").format(
        t.table("v_anomaly_events")), (list(assets),))


def fleet_health(t: Target) -> Statement:
    """The fleet's state, one row per asset (the BI view; what the demo runs in the console)."""
    return Statement(sql.SQL("SELECT asset_id, status, last_score, threshold, open_events FROM {} "
                             "ORDER BY asset_id").format(t.table("v_asset_health")))


COMPARISON_COLUMNS = ("asset_id", "champion_version", "challenger_version", "intervals", "agreement",
                      "champion_events", "challenger_events", "matched_events", "missed_events", "extra_events")


def model_comparison(t: Target) -> Statement:
    """Champion vs challenger per asset (the BI view), by version pair and asset."""
    return Statement(sql.SQL("SELECT {} FROM {} ORDER BY champion_version, challenger_version, asset_id").format(
        columns(COMPARISON_COLUMNS), t.table("v_model_comparison")))


def events_overlapping(t: Target, asset: str, first: datetime, last: datetime) -> Statement:
    return Statement(sql.SQL("SELECT event_start, event_end FROM {} WHERE asset_id = %s AND event_end > %s "
                             "AND event_start <= %s ORDER BY 1").format(t.table(ANOMALY_EVENTS)), (asset, first, last))


# -- alerts --------------------------------------------------------------------------
ALERT_EVENT_COLUMNS = ("asset_id", "event_start", "event_end", "confirmed_at", "is_open", "peak_score", "peak_at",
                       "threshold", "sensors", "sensor_shares", "kind", "instrument_check", "model_name",
                       "model_version")


def alert_candidates(t: Target) -> Statement:
    """Events whose alert may be due: never alerted, alerted while open, or changed since
    (``ALERT_EVENT_COLUMNS``, then the last alert's status, severity level and kind, or
    nulls), by asset and onset (alerts go out in that order)."""
    names = sql.SQL(", ").join(sql.SQL("e.") + sql.Identifier(c) for c in ALERT_EVENT_COLUMNS)
    return Statement(sql.SQL(
        "SELECT {names}, a.status, a.severity_level, a.kind FROM {events} e LEFT JOIN {alerts} a "
        "ON a.asset_id = e.asset_id AND a.event_start = e.event_start "
        "WHERE a.asset_id IS NULL OR a.status = 'open' OR e.is_open OR a.event_end <> e.event_end "
        "OR a.peak_score <> e.peak_score OR coalesce(a.kind, 'process') <> coalesce(e.kind, 'process') "
        "ORDER BY e.asset_id, e.event_start").format(
        names=names, events=t.table(ANOMALY_EVENTS), alerts=t.table(ANOMALY_ALERTS)))


def limit_candidates(t: Target, shown: float) -> Statement:
    """Per asset and sensor with operating limits, over its newest short and long forecasts:
    the earliest period whose 95 % interval crosses a limit (p >= ``shown``), the highest
    probability of being beyond one, the limits, the newest issue time; then the status of
    the predicted_limit alert last published (or null)."""
    return Statement(sql.SQL(
        "SELECT c.asset_id, c.sensor, c.limit_at, c.probability, c.limit_low, c.limit_high, c.issued_at, "
        "a.status AS last_status FROM (SELECT f.asset_id, f.sensor, "
        "min(CASE WHEN f.p_beyond_limit >= %s THEN f.target_start END) AS limit_at, "
        "max(f.p_beyond_limit) AS probability, max(f.limit_low) AS limit_low, max(f.limit_high) AS limit_high, "
        "max(f.issued_at) AS issued_at FROM {forecasts} f JOIN (SELECT asset_id, horizon, max(issued_at) AS issued "
        "FROM {forecasts} WHERE steps_ahead > 0 GROUP BY asset_id, horizon) n "
        "ON f.asset_id = n.asset_id AND f.horizon = n.horizon AND f.issued_at = n.issued "
        "WHERE f.steps_ahead > 0 AND f.p_beyond_limit IS NOT NULL GROUP BY f.asset_id, f.sensor) c "
        "LEFT JOIN {alerts} a ON a.asset_id = c.asset_id AND a.sensor = c.sensor "
        "ORDER BY c.asset_id, c.sensor").format(forecasts=t.table(SENSOR_FORECASTS), alerts=t.table(LIMIT_ALERTS)),
        (shown,))


def event_exists(t: Target, asset_id: str, event_start: datetime) -> Statement:
    return Statement(sql.SQL("SELECT 1 FROM {} WHERE asset_id = %s AND event_start = %s").format(
        t.table(ANOMALY_EVENTS)), (asset_id, event_start))


def maintenance_of(t: Target, assets: Sequence[str]) -> Statement:
    """The maintenance windows (asset_id, window_start, window_end) of ``assets``."""
    return Statement(sql.SQL("SELECT asset_id, window_start, window_end FROM {} WHERE asset_id = ANY(%s)").format(
        t.table(MAINTENANCE_WINDOWS)), (list(assets),))


def labelled_events(t: Target, model_name: str, model_version: int) -> Statement:
    """The events a model version made that operators labelled confirmed or false_alarm
    (newest label per event): asset_id, event_start, event_end, label."""
    return Statement(sql.SQL(
        "SELECT e.asset_id, e.event_start, e.event_end, f.label FROM {events} e JOIN (SELECT asset_id, event_start, "
        "label FROM (SELECT asset_id, event_start, label, row_number() OVER (PARTITION BY event_id ORDER BY "
        "labelled_at DESC) AS newest FROM {feedback}) labelled WHERE newest = 1) f "
        "ON f.asset_id = e.asset_id AND f.event_start = e.event_start "
        "WHERE e.model_name = %s AND e.model_version = %s AND f.label IN ('confirmed', 'false_alarm') "
        "ORDER BY e.asset_id, e.event_start").format(events=t.table(ANOMALY_EVENTS),
                                                     feedback=t.table(ANOMALY_FEEDBACK)), (model_name, model_version))


def threshold_rows(t: Target, model_name: str, model_version: int) -> Statement:
    """Every threshold version row of a model version (``THRESHOLD_VERSIONS`` columns)."""
    return Statement(sql.SQL("SELECT {} FROM {} WHERE model_name = %s AND model_version = %s "
                             "ORDER BY version, asset_id").format(columns(THRESHOLD_VERSIONS.column_names),
                                                                  t.table(THRESHOLD_VERSIONS)),
                     (model_name, model_version))


def orphan_alerts(t: Target) -> Statement:
    """The keys (event_id, asset_id, event_start, day) of alerts whose event no longer exists
    (late events rewrote it)."""
    return Statement(sql.SQL(
        'SELECT a.event_id, a.asset_id, a.event_start, a."day" FROM {alerts} a LEFT JOIN {events} e '
        "ON e.asset_id = a.asset_id AND e.event_start = a.event_start WHERE e.asset_id IS NULL").format(
        alerts=t.table(ANOMALY_ALERTS), events=t.table(ANOMALY_EVENTS)))


# -- the BI layer ---------------------------------------------------------------------
def create_views(t: Target) -> list[Statement]:
    """CREATE OR REPLACE each BI view (``schemas.views``)."""
    from schemas.views import VIEWS, view_sql

    return [Statement(sql.SQL(view_sql(v, DIALECT, t.schema))) for v in VIEWS]


def login_exists(t: Target, role: str) -> Statement:
    return Statement(sql.SQL("SELECT 1 FROM sys.users WHERE name = %s"), (role,))


BI_ROLE = "sensorwatch_bi"  # the BI login's default name (sensorwatch bi setup, the Superset dashboard)


def read_only_login(t: Target, role: str, password: str | None, exists: bool) -> list[Statement]:
    """Give ``role`` (a login) read access to every table and view of the schema, and the
    right to write rows of ``anomaly_feedback`` (labels from a BI tool), nothing else: DQL on
    the schema, DML on that table (CrateDB's privileges are per class: DML there also allows
    UPDATE and DELETE of labels). A password given for an existing login replaces its
    password. DDL takes no parameters: the password is a quoted literal."""
    who, schema = sql.Identifier(role), sql.Identifier(t.schema)
    secret = sql.Literal(password) if password else None
    create = [] if exists else [sql.SQL("CREATE USER {}").format(who)
                                + (sql.SQL(" WITH (password = {})").format(secret) if secret else sql.SQL(""))]
    if exists and secret:  # a password given again is the login's password from now on
        create = [sql.SQL("ALTER USER {} SET (password = {})").format(who, secret)]
    grants = [sql.SQL("GRANT DQL ON SCHEMA {} TO {}").format(schema, who),
              sql.SQL("GRANT DML ON TABLE {} TO {}").format(t.table(ANOMALY_FEEDBACK), who)]
    return [Statement(s) for s in (*create, *grants)]
