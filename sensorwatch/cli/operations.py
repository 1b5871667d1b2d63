"""The operators' commands: anomaly events and alerts, labels and maintenance windows,
threshold versions, an asset's plot, the dashboard and the console, retention."""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path

from schemas.errors import OperationFailed, UsageError
from schemas.time import TimeRange
from sensorwatch.cli.command import CommandGroup, arg
from sensorwatch.config import Settings
from sensorwatch.connectors.sql import SqlStore
from sensorwatch.connectors.sql import statements as q

COMMANDS = CommandGroup()
COMMANDS.group("thresholds", "per-asset thresholds from operators' labels: propose, apply, list")
COMMANDS.group("dashboard", "Apache Superset on 127.0.0.1 with the operators' dashboard (conf/superset)")

NOTE = arg("--note")
AUTHOR = arg("--author", help="default: the login name")


@COMMANDS.command("anomalies", "the most severe anomaly events, from the SQL store (v_anomaly_events)",
                  arg("--top", type=int, default=10))
def anomalies(settings: Settings, *, top: int) -> int:
    store = SqlStore(settings).with_views()
    rows = store.query(q.top_events(store.target, top))
    print(f"{'asset':24s} {'onset (UTC)':19s} {'duration':>9s} {'severity':>8s} {'peak':>7s}  model  "
          f"{'kind':19s} sensors")
    for e in rows:
        kind = e.kind + (f"/{e.instrument_check}" if e.instrument_check else "")
        print(f"{e.asset_id[:24]:24s} {e.event_start:%Y-%m-%d %H:%M:%S} {e.duration_s:>8.0f}s {e.severity:>8.2f} "
              f"{e.peak_score:>7.2f}  v{e.model_version:<4d} {kind:19s} {', '.join(e.sensors or [])}"
              f"{'  (open)' if e.is_open else ''}")
    if not rows:
        print("(no anomaly events yet: run `sensorwatch predict`)")
    return 0


@COMMANDS.command(
    "truth", "the anomaly events against the simulator's ground truth, per kind: injected, found, right kind, "
    "false events (a table, then one JSON line)",
    arg("--truth-dir", help="the producers' ground truth files (default: var/ground_truth)"))
def truth(settings: Settings, *, truth_dir: str | None) -> int:
    from sensorwatch.operations.truth_check import check, table

    card = check(SqlStore(settings).with_views(), Path(truth_dir) if truth_dir else settings.home / "ground_truth")
    print(table(card))
    print(json.dumps({**card.totals(), "per_kind": card.per_kind}))
    return 0


@COMMANDS.command("alerts", "the newest messages of the alerts topic (Kafka), one JSON object per line",
                  arg("--last", type=int, default=10))
def alerts(settings: Settings, *, last: int) -> int:
    from sensorwatch.operations.alerts import read_alerts

    if settings.alerts is None:
        raise UsageError("no alerts section in the configuration: the prediction job publishes no alerts")
    messages = read_alerts(settings)
    for key, value in messages[-last:] if last else []:
        print(json.dumps({"key": key, "value": value}))
    print(f"({len(messages)} message(s) on {settings.alerts.topic}; showing the last {min(last, len(messages))})",
          file=sys.stderr)
    return 0


@COMMANDS.command(
    "label", "label an anomaly event: confirmed, false_alarm, maintenance or unsure",
    arg("event", help="the event id (asset|onset), as the alerts' key"),
    arg("--as", dest="label", required=True),
    NOTE, AUTHOR)
def label(settings: Settings, *, event: str, label: str, note: str | None, author: str | None) -> int:
    from sensorwatch.operations.feedback import label_event

    row = label_event(SqlStore(settings).with_views(), event, label, author or getpass.getuser(), note)
    print(json.dumps(row, default=str))
    return 0


@COMMANDS.command(
    "maintenance", "a maintenance window of an asset: its events there are not alerted",
    arg("asset"),
    arg("--from", dest="start", required=True),
    arg("--to", dest="end", required=True),
    NOTE, AUTHOR)
def maintenance(settings: Settings, *, asset: str, start: str, end: str, note: str | None,
                author: str | None) -> int:
    from sensorwatch.operations.feedback import add_maintenance

    window = TimeRange.parse(start, end)  # checked before the store is touched
    row = add_maintenance(SqlStore(settings).with_views(), asset, window, author or getpass.getuser(), note)
    print(json.dumps(row, default=str))
    return 0


@COMMANDS.command(
    "thresholds recalibrate", "propose a threshold version from the labelled events of the champion",
    arg("--budget", type=float, default=0.2,
        help="the share of false alarms allowed among what is alerted (default 0.2)"))
def thresholds_recalibrate(settings: Settings, *, budget: float) -> int:
    from sensorwatch.operations.threshold_versions import recalibrate_thresholds

    proposal = recalibrate_thresholds(SqlStore(settings).with_views(), settings, budget)
    for line in proposal.report or ["(no labelled confirmed or false_alarm events of the champion yet: "
                                    "sensorwatch label EVENT_ID --as ...)"]:
        print(line)
    print(f"proposed threshold version {proposal.version}: `sensorwatch thresholds apply {proposal.version}`"
          if proposal.version else "nothing to change")
    return 0


@COMMANDS.command("thresholds apply", "make a proposed threshold version the active one",
                  arg("version", type=int, help="the threshold version"))
def thresholds_apply(settings: Settings, *, version: int) -> int:
    from sensorwatch.operations.threshold_versions import apply_version

    applied = apply_version(SqlStore(settings).with_views(), settings, version)
    print(f"threshold version {version} active for {len(applied)} asset(s): used from the next prediction run")
    return 0


@COMMANDS.command("thresholds list", "every threshold version of the champion, per asset")
def thresholds_list(settings: Settings) -> int:
    from models import registry

    model = registry.load(settings.model)
    store = SqlStore(settings).with_views()
    for row in store.query(q.threshold_rows(store.target, model.name, model.version)):
        print("\t".join("" if v is None else str(v) for v in row))
    return 0


@COMMANDS.command(
    "plot", "PNG of an asset: signals, score vs threshold, detected vs true anomalies (from SQL)",
    arg("--asset", help="default: the asset of the most severe anomaly event"),
    arg("--from", dest="start", help="ISO time (default: all the asset's scored intervals)"),
    arg("--to", dest="end", help="ISO time, exclusive"),
    arg("--out", help="PNG path (default: var/plots/ASSET.png)"))
def plot(settings: Settings, *, asset: str | None, start: str | None, end: str | None, out: str | None) -> int:
    from sensorwatch.operations.asset_plot import plot_asset

    span = TimeRange.optional(start, end)
    png = Path(out) if out else settings.home / "plots" / f"{asset or 'top-asset'}.png"
    png.parent.mkdir(parents=True, exist_ok=True)
    path, summary = plot_asset(settings, png, asset, span, store=SqlStore(settings).with_views())
    print(f"wrote {path}: {json.dumps(summary)}")
    return 0


@COMMANDS.command(
    "dashboard up", "start Superset and provision the dashboard",
    arg("--asset", help="the asset of the score chart (default: that of the most severe event)"),
    arg("--screenshot", help="PNG: open the dashboard in headless Chromium, check every chart got rows"))
def dashboard_up(settings: Settings, *, asset: str | None, screenshot: str | None) -> int:
    from sensorwatch import services
    from sensorwatch.operations import dashboard

    board = dashboard.provision(settings, asset)
    print(f"dashboard: {board.url} ({len(board.charts)} charts; score chart: {board.asset or 'no events yet'}; "
          f"user {services.superset.ADMIN}, password in {services.superset.home(settings) / 'admin_password'})")
    if screenshot:
        seen = dashboard.check(settings, board, Path(screenshot))
        names = {str(i): name for name, i in board.charts.items()}
        print(json.dumps({"screenshot": seen["screenshot"], "errors": seen["errors"],
                          "rows": {names.get(k, k): v for k, v in seen["rows"].items()}}))
        if seen["errors"] or len(seen["rows"]) < len(board.charts):
            raise OperationFailed(f"the dashboard's charts did not all load: {seen}")
    return 0


@COMMANDS.command("dashboard down", "stop Superset")
def dashboard_down(settings: Settings) -> int:
    from sensorwatch import services

    services.down(settings, ["superset"])
    print("Superset stopped")
    return 0


@COMMANDS.command(
    "console", "the Crate console (CrateDB's Admin UI): its URL; --screenshot runs a query in it",
    arg("--query", help="SQL to run in the console's editor (default: the fleet from v_asset_health)"),
    arg("--screenshot", help="PNG: open the console in headless Chromium as the BI login, run the query"))
def console(settings: Settings, *, query: str | None, screenshot: str | None) -> int:
    from sensorwatch.operations import console
    from sensorwatch.operations.dashboard import bi_password_file

    print(f"Crate console: {console.url(settings)} (as {q.BI_ROLE}: password in $SENSORWATCH_BI_PASSWORD or "
          f"{bi_password_file(settings)})")
    if screenshot:
        seen = console.check(settings, query or console.fleet_query(settings), Path(screenshot))
        print(json.dumps({"screenshot": seen["screenshot"], "user": seen["user"], "headers": seen["headers"],
                          "rows": len(seen["rows"]), "error": seen["error"]}))
        if seen["error"] or not seen["headers"]:
            raise OperationFailed(f"the console's query did not answer: {seen['error'] or 'no result table'}")
    return 0


@COMMANDS.command("retention", "drop the large tables' day partitions older than sql.retention_days (or --days)",
                  arg("--days", type=int, help="keep this many days instead of sql.retention_days"))
def retention(settings: Settings, *, days: int | None) -> int:
    from sensorwatch.operations.retention import drop_old_partitions

    keep = days if days is not None else settings.sql.retention_days
    if keep is None:
        print("retention: sql.retention_days is not set (every day is kept); give --days N")
        return 0
    if keep < 1:
        raise UsageError(f"retention --days must be at least 1, not {keep}")
    dropped = drop_old_partitions(SqlStore(settings), keep)
    for table, gone in dropped.items():
        print(f"{table}: dropped {len(gone)} day partition(s), {gone[0]} to {gone[-1]}")
    print(f"retention: days before the last {keep} dropped" if dropped else
          f"retention: nothing older than {keep} days")
    return 0
