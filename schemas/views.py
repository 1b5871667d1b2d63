"""The BI layer: SQL views over the result tables, declared once, rendered per dialect.

Each view is a query template: ``{anomaly_scores}`` etc. become the dialect's quoted,
schema-qualified table names, ``{hour(col)}`` the dialect's UTC hour truncation (the one
function whose argument order differs: PostgreSQL ``date_trunc('hour', ts, 'UTC')``,
CrateDB ``date_trunc('hour', 'UTC', ts)``). Everything else is SQL both understand.
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


VIEWS: tuple[View, ...] = (
    View("v_anomaly_events", "Anomaly events with their severity (peak score / threshold) and main sensor.",
         "SELECT asset_id, event_start, event_end, duration_s, is_open, confirmed_at, intervals,\n"
         "  peak_score, threshold, peak_score / threshold AS severity, peak_at,\n"
         "  sensors[1] AS main_sensor, sensors, sensor_shares, model_name, model_version, run_id\n"
         "FROM {anomaly_events}"),
    View("v_asset_health", "Latest state per asset: newest scored interval, status and its event counts.",
         "SELECT s.asset_id, s.interval_start AS last_interval, s.score AS last_score, s.threshold,\n"
         "  CASE WHEN s.is_anomaly THEN 'anomaly' WHEN s.exceeds THEN 'watch' ELSE 'ok' END AS status,\n"
         "  s.top_sensors, s.model_version, coalesce(e.events, 0) AS events, "
         "coalesce(e.open_events, 0) AS open_events,\n"
         "  e.last_event_start\n"
         "FROM {anomaly_scores} s\n"
         "JOIN (SELECT asset_id, max(interval_start) AS last_interval FROM {anomaly_scores} GROUP BY asset_id) l\n"
         "  ON s.asset_id = l.asset_id AND s.interval_start = l.last_interval\n"
         "LEFT JOIN (SELECT asset_id, count(*) AS events, sum(CASE WHEN is_open THEN 1 ELSE 0 END) AS open_events,\n"
         "    max(event_start) AS last_event_start FROM {anomaly_events} GROUP BY asset_id) e\n"
         "  ON s.asset_id = e.asset_id"),
    View("v_features_hourly", "Per asset and UTC hour: intervals, events and each sensor's mean, min and max.",
         _features_hourly()),
    View("v_alert_feedback", "Per asset and model version: events, alerts, the operators' labels (newest per "
         "event), alert precision, events per day, mean time to confirmation.", _alert_feedback()),
)

_HOUR = {"postgresql": "date_trunc('hour', {0}, 'UTC')", "cratedb": "date_trunc('hour', 'UTC', {0})"}


def view_sql(view: View, dialect: str, schema: str | None = None) -> str:
    """CREATE OR REPLACE VIEW in ``dialect`` (postgresql or cratedb)."""
    if dialect not in _HOUR:
        raise ValueError(f"views exist for postgresql and cratedb, not {dialect!r}")
    query = re.sub(r"\{hour\((\w+)\)\}", lambda m: _HOUR[dialect].format(m.group(1)), view.query)
    for table in SQL_TABLES:
        query = query.replace("{" + table.name + "}", qualified(table.name, dialect, schema))
    return f"CREATE OR REPLACE VIEW {qualified(view.name, dialect, schema)} AS\n{query}"
