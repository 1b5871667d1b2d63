"""The BI layer: SQL views over the result tables, declared once, rendered per dialect.

Each view is a query template: ``{sensor_features}`` etc. become the quoted,
schema-qualified table names, ``{hour(col)}`` the UTC hour truncation (CrateDB's
``date_trunc('hour', 'UTC', ts)``). A prediction run's rows (scores, events, the
challenger's) are read only once the run is committed (``COMMITTED``): a BI query never
sees a half-written run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from schemas.core import qualified
from schemas.features import column
from schemas.records import SENSOR_NAMES, SQL_TABLES


@dataclass(frozen=True)
class View:
    name: str
    doc: str
    query: str


def _features_hourly() -> str:
    per_sensor = []
    for s in SENSOR_NAMES:
        per_sensor += [f'avg("{column(s, "mean")}") AS "{column(s, "mean")}"',
                       f'min("{column(s, "min")}") AS "{column(s, "min")}"',
                       f'max("{column(s, "max")}") AS "{column(s, "max")}"']
    sensors = ",\n  ".join(per_sensor)
    return ("SELECT asset_id, {hour(interval_start)} AS hour, count(*) AS intervals, sum(event_count) AS events,\n"
            f"  {sensors}\nFROM {{sensor_features}}\nGROUP BY asset_id, {{hour(interval_start)}}")


def _alert_feedback() -> str:
    """Per asset and model version: events, alerts, the operators' newest label of each,
    alert precision (confirmed / (confirmed + false alarms)), events per day, time to confirm."""
    labels = ", ".join(f"sum(CASE WHEN f.label = '{label}' THEN 1 ELSE 0 END) AS {name}" for label, name in (
        ("confirmed", "confirmed"), ("false_alarm", "false_alarms"), ("maintenance", "maintenance"),
        ("unsure", "unsure")))
    return (
        "SELECT e.asset_id, e.model_version, count(*) AS events,\n"
        "  sum(CASE WHEN a.asset_id IS NOT NULL THEN 1 ELSE 0 END) AS alerted,\n"
        f"  {labels},\n"
        "  sum(CASE WHEN f.label IS NULL THEN 1 ELSE 0 END) AS unlabelled,\n"
        "  CAST(sum(CASE WHEN f.label = 'confirmed' THEN 1 ELSE 0 END) AS DOUBLE PRECISION)\n"
        "    / nullif(sum(CASE WHEN f.label IN ('confirmed', 'false_alarm') THEN 1 ELSE 0 END), 0)\n"
        "    AS alert_precision,\n"
        "  CAST(count(*) AS DOUBLE PRECISION) / greatest(1.0, (extract(epoch FROM max(e.event_end))\n"
        "    - extract(epoch FROM min(e.event_start))) / 86400.0) AS events_per_day,\n"
        "  avg(CASE WHEN f.label = 'confirmed' THEN extract(epoch FROM f.labelled_at)\n"
        "    - extract(epoch FROM e.event_start) END) AS mean_time_to_confirm_s\n"
        "FROM {anomaly_events} e\n"
        "LEFT JOIN {anomaly_alerts} a ON a.asset_id = e.asset_id AND a.event_start = e.event_start\n"
        "LEFT JOIN (SELECT asset_id, event_start, label, labelled_at FROM (SELECT asset_id, event_start, label,\n"
        "    labelled_at, row_number() OVER (PARTITION BY event_id ORDER BY labelled_at DESC) AS newest\n"
        "    FROM {anomaly_feedback}) labelled WHERE newest = 1) f\n"
        "  ON f.asset_id = e.asset_id AND f.event_start = e.event_start\n"
        "GROUP BY e.asset_id, e.model_version")


LIMIT_SHOWN = 0.025  # a forecast's 95 % interval crosses the limit: half its outside mass is 2.5 %


def _limits() -> str:
    """Per asset, over its newest short and long forecasts: the earliest period whose 95 %
    interval crosses an operating limit, the highest probability of being beyond one, and
    the sensors concerned."""
    return ("(SELECT f.asset_id, min(f.target_start) AS limit_at, max(f.p_beyond_limit) AS limit_probability,\n"
            "    array_unique(array_agg(f.sensor)) AS limit_sensors\n"
            "  FROM {sensor_forecasts} f JOIN (SELECT asset_id, horizon, max(issued_at) AS issued\n"
            "    FROM {sensor_forecasts} WHERE steps_ahead > 0 GROUP BY asset_id, horizon) n\n"
            "    ON f.asset_id = n.asset_id AND f.horizon = n.horizon AND f.issued_at = n.issued\n"
            f"  WHERE f.steps_ahead > 0 AND f.p_beyond_limit >= {LIMIT_SHOWN}\n"
            "  GROUP BY f.asset_id)")


def _model_comparison() -> str:
    """Per asset, champion version and challenger version, over the intervals both scored:
    how often they agree on ``is_anomaly``, and the events of each in that span: matched
    (a challenger event overlaps the champion's), missed (a champion event none overlaps)
    and extra (a challenger event no champion event overlaps)."""
    pairs = ("(SELECT s.asset_id, s.model_version AS champion_version, x.model_version AS challenger_version,\n"
             "    count(*) AS intervals, min(s.interval_start) AS first_interval,\n"
             "    max(s.interval_start) AS last_interval,\n"
             "    sum(CASE WHEN s.is_anomaly = x.is_anomaly THEN 1 ELSE 0 END) AS agreeing,\n"
             "    sum(CASE WHEN s.is_anomaly THEN 1 ELSE 0 END) AS champion_anomalies,\n"
             "    sum(CASE WHEN x.is_anomaly THEN 1 ELSE 0 END) AS challenger_anomalies\n"
             "  FROM {anomaly_scores} s JOIN {challenger_scores} x\n"
             "    ON x.asset_id = s.asset_id AND x.interval_start = s.interval_start\n"
             "  GROUP BY s.asset_id, s.model_version, x.model_version)")

    def overlapped(own: str, own_version: str, other: str, other_version: str) -> str:
        """Per pair: ``own``'s events starting in the compared span, and how many of them an
        event of ``other`` overlaps."""
        return (f"(SELECT asset_id, champion_version, challenger_version, count(*) AS events,\n"
                f"    sum(overlapped) AS overlapped FROM (\n"
                f"  SELECT p.asset_id, p.champion_version, p.challenger_version, e.event_start,\n"
                f"    max(CASE WHEN o.asset_id IS NULL THEN 0 ELSE 1 END) AS overlapped\n"
                f"  FROM {pairs} p\n"
                f"  JOIN {{{own}}} e ON e.asset_id = p.asset_id AND e.model_version = p.{own_version}\n"
                f"    AND e.event_start >= p.first_interval AND e.event_start <= p.last_interval\n"
                f"  LEFT JOIN {{{other}}} o ON o.asset_id = p.asset_id AND o.model_version = p.{other_version}\n"
                f"    AND o.event_start < e.event_end AND e.event_start < o.event_end\n"
                f"  GROUP BY p.asset_id, p.champion_version, p.challenger_version, e.event_start) per_event\n"
                f"  GROUP BY asset_id, champion_version, challenger_version)")

    same = ("{0}.asset_id = p.asset_id AND {0}.champion_version = p.champion_version "
            "AND {0}.challenger_version = p.challenger_version")
    return (
        "SELECT p.asset_id, p.champion_version, p.challenger_version, p.intervals, p.first_interval,\n"
        "  p.last_interval, CAST(p.agreeing AS DOUBLE PRECISION) / p.intervals AS agreement,\n"
        "  p.champion_anomalies, p.challenger_anomalies,\n"
        "  coalesce(c.events, 0) AS champion_events, coalesce(x.events, 0) AS challenger_events,\n"
        "  coalesce(c.overlapped, 0) AS matched_events,\n"
        "  coalesce(c.events, 0) - coalesce(c.overlapped, 0) AS missed_events,\n"
        "  coalesce(x.events, 0) - coalesce(x.overlapped, 0) AS extra_events\n"
        f"FROM {pairs} p\n"
        f"LEFT JOIN {overlapped('anomaly_events', 'champion_version', 'challenger_events', 'challenger_version')} c\n"
        f"  ON {same.format('c')}\n"
        f"LEFT JOIN {overlapped('challenger_events', 'challenger_version', 'anomaly_events', 'champion_version')} x\n"
        f"  ON {same.format('x')}")


VIEWS: tuple[View, ...] = (
    View("v_anomaly_events", "Anomaly events with their kind (process: the model's; instrument: a sensor's fault, "
         "with the check), severity (peak score / threshold) and main sensor.",
         "SELECT asset_id, event_start, event_end, duration_s, is_open, confirmed_at, intervals,\n"
         "  coalesce(kind, 'process') AS kind, instrument_check,\n"
         "  peak_score, threshold, peak_score / threshold AS severity, peak_at,\n"
         "  sensors[1] AS main_sensor, sensors, sensor_shares, model_name, model_version, run_id\n"
         "FROM {anomaly_events}"),
    View("v_asset_health", "Latest state per asset: newest scored interval, status, the instrument condition "
         "it is in, its event counts (open ones per kind), and where its newest forecasts pass an operating limit: "
         "the earliest period whose 95 % interval crosses one, the highest probability of being beyond it, the "
         "sensors.",
         "SELECT s.asset_id, s.interval_start AS last_interval, s.score AS last_score, s.threshold,\n"
         "  CASE WHEN s.is_anomaly THEN 'anomaly' WHEN s.exceeds THEN 'watch' ELSE 'ok' END AS status,\n"
         "  s.instrument_check, s.instrument_sensor,\n"
         "  s.top_sensors, s.model_version, coalesce(e.events, 0) AS events, "
         "coalesce(e.open_events, 0) AS open_events,\n"
         "  coalesce(e.open_instrument_events, 0) AS open_instrument_events, e.last_event_start,\n"
         "  p.limit_at, p.limit_probability, p.limit_sensors\n"
         "FROM {anomaly_scores} s\n"
         "JOIN (SELECT asset_id, max(interval_start) AS last_interval FROM {anomaly_scores} GROUP BY asset_id) l\n"
         "  ON s.asset_id = l.asset_id AND s.interval_start = l.last_interval\n"
         "LEFT JOIN (SELECT asset_id, count(*) AS events, sum(CASE WHEN is_open THEN 1 ELSE 0 END) AS open_events,\n"
         "    sum(CASE WHEN is_open AND kind = 'instrument' THEN 1 ELSE 0 END) AS open_instrument_events,\n"
         "    max(event_start) AS last_event_start FROM {anomaly_events} GROUP BY asset_id) e\n"
         "  ON s.asset_id = e.asset_id\n"
         f"LEFT JOIN {_limits()} p ON s.asset_id = p.asset_id"),
    View("v_asset_scores", "Per asset and scored interval: score, threshold, above it, confirmed anomaly, main sensor.",
         "SELECT asset_id, interval_start, score, threshold, exceeds, is_anomaly, top_sensors[1] AS main_sensor,\n"
         "  instrument_check, instrument_sensor, model_version, threshold_version\nFROM {anomaly_scores}"),
    View("v_forecast_vs_actual", "Each forecast (short: one-minute means, long: hourly) with its 80 % and 95 % "
         "intervals (and the factors they were recalibrated by) and, once the period has passed, its actual mean; "
         "steps_ahead says how far ahead it was made.",
         "SELECT f.asset_id, f.sensor, f.horizon, f.issued_at, f.target_start, f.steps_ahead, f.forecast,\n"
         "  f.lo80, f.hi80, f.lo95, f.hi95, f.scale80, f.scale95, a.actual, f.limit_low, f.limit_high,\n"
         "  f.p_beyond_limit, f.method\n"
         "FROM {sensor_forecasts} f\n"
         "LEFT JOIN {sensor_forecasts} a ON a.asset_id = f.asset_id AND a.sensor = f.sensor AND a.horizon = f.horizon\n"
         "  AND a.target_start = f.target_start AND a.steps_ahead = 0\n"
         "WHERE f.steps_ahead > 0"),
    View("v_features_hourly", "Per asset and UTC hour: intervals, events and each sensor's mean, min and max.",
         _features_hourly()),
    View("v_alert_feedback", "Per asset and model version: events, alerts, the operators' labels (newest per "
         "event), alert precision, events per day, mean time to confirmation.", _alert_feedback()),
    View("v_model_comparison", "Champion vs challenger per asset over the intervals both scored: agreement on "
         "is_anomaly, and matched, missed and extra events.", _model_comparison()),
)

_HOUR = {"cratedb": "date_trunc('hour', 'UTC', {0})"}


# The tables a prediction run writes before its commit marker, its prediction_runs row:
# the views read only the rows of runs that have one (CrateDB has no transactions).
COMMITTED = ("anomaly_scores", "anomaly_events", "challenger_scores", "challenger_events")
_NOT_AN_ALIAS = {"GROUP", "WHERE", "ORDER", "JOIN", "LEFT", "ON", "UNION"}


def _committed(match: re.Match[str], dialect: str, schema: str | None) -> str:
    """``{anomaly_scores}`` -> the rows of committed runs, under the table's name unless
    the template gives an alias."""
    name, following = match.group(1), match.group(2)
    rows = (f"(SELECT * FROM {qualified(name, dialect, schema)} WHERE run_id IN "
            f"(SELECT run_id FROM {qualified('prediction_runs', dialect, schema)}))")
    aliased = following is not None and following.upper() not in _NOT_AN_ALIAS
    return rows if aliased else f"{rows} AS {name}"


def view_sql(view: View, dialect: str, schema: str | None = None) -> str:
    """CREATE OR REPLACE VIEW in ``dialect`` (cratedb: the SQL store's)."""
    if dialect not in _HOUR:
        raise ValueError(f"views exist for cratedb, not {dialect!r}")
    query = re.sub(r"\{hour\((\w+)\)\}", lambda m: _HOUR[dialect].format(m.group(1)), view.query)
    query = re.sub(r"\{(" + "|".join(COMMITTED) + r")\}(?=\s*(\w+)?)",
                   lambda m: _committed(m, dialect, schema), query)
    for table in SQL_TABLES:
        query = query.replace("{" + table.name + "}", qualified(table.name, dialect, schema))
    return f"CREATE OR REPLACE VIEW {qualified(view.name, dialect, schema)} AS\n{query}"
