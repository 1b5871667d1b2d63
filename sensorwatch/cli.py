"""``sensorwatch``: one command with subcommands drives everything locally.

    sensorwatch services up|down|status
    sensorwatch produce simulate|skab ...
    sensorwatch ingest [--trigger availableNow|processingTime]
    sensorwatch landed                 counts per landing partition and quarantine reason
    sensorwatch features [--from T --to T]   landing -> sensor_features (incremental, or a backfill)
    sensorwatch runs [--last N]        the latest job runs (job_runs)
    sensorwatch train [--from T --to T] [--assets A ...]   features -> registered model (+ gate)
    sensorwatch model list|promote V|rollback|challenger V|compare   the registry, champion and challenger
    sensorwatch predict [--at T | --from T --to T]   landing -> anomaly_scores/anomaly_events (+ monitoring)
    sensorwatch anomalies [--top N]                     the most severe anomaly events (v_anomaly_events)
    sensorwatch alerts [--last N]                       the alerts topic's newest messages (Kafka, JSON lines)
    sensorwatch label EVENT_ID --as confirmed|false_alarm|maintenance|unsure [--note TEXT]
    sensorwatch maintenance ASSET --from T --to T [--note TEXT]   no alerts for its events in that window
    sensorwatch console [--screenshot PNG] [--query SQL]   the Crate console, checked in Chromium as the BI login
    sensorwatch retention [--days N]          drop day partitions older than sql.retention_days
    sensorwatch thresholds recalibrate [--budget B] | apply VERSION | list   thresholds from operators' labels
    sensorwatch plot [--asset A] [--from T --to T] [--out PNG]   an asset's signals, scores, detected vs true anomalies
    sensorwatch bi setup [--role NAME]                  the BI views and a read-only login for BI tools
    sensorwatch dashboard up [--asset A] [--screenshot PNG] | down   Apache Superset with the operators' dashboard
    sensorwatch evaluate skab [--data DIR] [--out DIR]     the SKAB benchmark with the production code
    sensorwatch evaluate experiments [--kinds K ...] [--per-kind N]   the same on simulated SKAB-shaped experiments
    sensorwatch schema ddl --dialect cratedb|hive | alert-json-schema
    sensorwatch package [--out DIR] [--for yarn]   the job environment + jobs for spark-submit on YARN
    sensorwatch submit JOB [ARGS ...]                      print the spark-submit command of a job
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from pathlib import Path

from schemas import SQL_TABLES
from schemas.errors import OperationFailed, SensorwatchError, UsageError
from schemas.time import TimeRange, parse_time
from sensorwatch import logs
from sensorwatch.config import Settings, load_settings
from sensorwatch.connectors.sql import SqlStore
from sensorwatch.connectors.sql import statements as q

log = logging.getLogger("sensorwatch")

# The one place where errors become exit codes (first match wins).
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (UsageError, 2),  # bad arguments or configuration: nothing ran
    (SensorwatchError, 1),  # a service unreachable, an operation failed, data unusable
    (FileNotFoundError, 1),  # a path given or configured does not exist
)


def exit_code(exc: BaseException) -> int | None:
    """The exit code of an error the CLI reports in one line; None: a bug (traceback)."""
    return next((code for kind, code in EXIT_CODES if isinstance(exc, kind)), None)


def _range(args: argparse.Namespace) -> TimeRange | None:
    """``--from/--to``: both (ISO 8601, UTC, ordered) or neither."""
    return TimeRange.optional(args.start, args.end)


def cmd_services(settings: Settings, args: argparse.Namespace) -> int:
    from sensorwatch import services

    if args.action == "up":
        for name, where in services.up(settings, args.only, args.with_).items():
            print(f"{name:9s} up    {where}")
    elif args.action == "env":
        for name, value in services.cluster_environ(settings).items():
            print(f"export {name}={shlex.quote(value)}")
    elif args.action == "down":
        for name, was_running in services.down(settings, args.only).items():
            print(f"{name:9s} {'stopped' if was_running else 'was not running'}")
    else:
        states = services.status(settings)
        for name, ok in states.items():
            print(f"{name:9s} {'up' if ok else 'off (optional: --with ' + name + ')' if ok is None else 'DOWN'}")
        return 0 if all(ok is not False for ok in states.values()) else 1
    return 0


def cmd_produce(settings: Settings, args: argparse.Namespace) -> int:
    from sensorwatch.sources import produce, simulator, skab

    if args.source == "simulate":
        report = produce.simulate_to_kafka(
            settings, assets=args.assets, seconds=args.seconds, start=parse_time(args.start) if args.start else None,
            seed=args.seed, anomalies_per_asset=args.anomalies, bad_events=args.bad_events,
            warmup_s=simulator.WARMUP_S if args.anomaly_free_s is None else args.anomaly_free_s,
            ground_truth=Path(args.ground_truth) if args.ground_truth else None, speedup=args.speedup)
    else:
        report = produce.replay_skab_to_kafka(
            settings, data_dir=Path(args.data) if args.data else skab.default_data_dir(), files=args.files,
            speedup=args.speedup,
            start=parse_time(args.start) if args.start else None,
            ground_truth=Path(args.ground_truth) if args.ground_truth else None)
    print(json.dumps(report, default=str))
    return 0


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    from sensorwatch.ingest import run_ingest
    from sensorwatch.spark import get_spark

    if args.trigger:
        settings = settings.with_overrides(ingest={"trigger": args.trigger})
    summary = run_ingest(get_spark(settings, "sensorwatch-ingest"), settings, timeout_s=args.timeout)
    print(json.dumps(summary.to_json(), default=str), flush=True)
    return 0


def cmd_landed(settings: Settings, args: argparse.Namespace) -> int:
    from sensorwatch.ingest import landed_summary
    from sensorwatch.spark import get_spark

    summary = landed_summary(get_spark(settings, "sensorwatch-landed"), settings)
    print("landing zone (valid events) per partition:")
    for row in summary["landing"]:
        print(f"  date={row['date']}/hour={row['hour']:02d}  {row['events']:>9,d} events  {row['assets']:>4d} assets")
    print(f"  total {summary['landing_total']:,d}")
    print("quarantine per reason:")
    for row in summary["quarantine"]:
        print(f"  {row['events']:>9,d}  {row['reason']}")
    print(f"  total {summary['quarantine_total']:,d}")
    return 0


def cmd_features(settings: Settings, args: argparse.Namespace) -> int:
    from sensorwatch.features_job import run_features
    from sensorwatch.spark import get_spark

    span = _range(args)
    summary = run_features(get_spark(settings, "sensorwatch-features"), settings, span)
    print(json.dumps(summary.to_json(), default=str))
    return 0


def cmd_runs(settings: Settings, args: argparse.Namespace) -> int:
    from sensorwatch.runs import recent_runs

    print(f"{'started (UTC)':19s}  {'job':9s} {'status':9s} {'rows in':>9s} {'rows out':>9s} {'rejected':>8s} "
          f"{'late':>6s} {'seconds':>8s}  range / error")
    for r in recent_runs(SqlStore(settings), args.last):
        span = f"{r['range_start']:%Y-%m-%d %H:%M:%S} .. {r['range_end']:%H:%M:%S}" if r["range_start"] else ""
        print(f"{r['started_at']:%Y-%m-%d %H:%M:%S}  {r['job']:9s} {r['status']:9s} {_n(r['rows_in']):>9s} "
              f"{_n(r['rows_out']):>9s} {_n(r['rows_rejected']):>8s} {_n(r['late_rows']):>6s} "
              f"{_n(r['duration_s']):>8s}  {r['error'] or span}")
    return 0


def cmd_train(settings: Settings, args: argparse.Namespace) -> int:
    from sensorwatch.train_job import run_train

    span = _range(args)
    print(json.dumps(run_train(settings, span, args.assets, args.challenger).to_json(), default=str))
    return 0


def cmd_predict(settings: Settings, args: argparse.Namespace) -> int:
    from sensorwatch.predict_job import run_predict
    from sensorwatch.spark import get_spark

    span, at = _range(args), parse_time(args.at) if args.at else None
    if at and span:
        raise UsageError("give --at, or --from and --to, not both")
    if args.continuous:
        from sensorwatch.continuous import run_continuous

        if at or span:
            raise UsageError("--continuous scores up to now, cycle after cycle: no --at or --from/--to")
        spark = get_spark(settings, "sensorwatch-predict", model_runtime=True)
        cycles = run_continuous(spark, settings, timeout_s=args.timeout)
        print(json.dumps({"cycles": len(cycles), "rows_out": sum(c.rows_out or 0 for c in cycles)}))
        return 0
    spark = get_spark(settings, "sensorwatch-predict", model_runtime=True)
    summary = run_predict(spark, settings, at, span)  # warnings: logged
    print(json.dumps(summary.to_json(), default=str))
    return 0


def cmd_anomalies(settings: Settings, args: argparse.Namespace) -> int:
    store = SqlStore(settings).with_views()
    rows = store.query(q.top_events(store.target, args.top))
    print(f"{'asset':24s} {'onset (UTC)':19s} {'duration':>9s} {'severity':>8s} {'peak':>7s}  model  sensors")
    for asset, start, duration, severity, peak, sensors, is_open, version in rows:
        print(f"{asset[:24]:24s} {start:%Y-%m-%d %H:%M:%S} {duration:>8.0f}s {severity:>8.2f} {peak:>7.2f}  "
              f"v{version:<4d}  {', '.join(sensors or [])}{'  (open)' if is_open else ''}")
    if not rows:
        print("(no anomaly events yet: run `sensorwatch predict`)")
    return 0


def cmd_alerts(settings: Settings, args: argparse.Namespace) -> int:
    from sensorwatch.alerts import read_alerts

    if settings.alerts is None:
        raise UsageError("no alerts section in the configuration: the prediction job publishes no alerts")
    messages = read_alerts(settings)
    for key, value in messages[-args.last:] if args.last else []:
        print(json.dumps({"key": key, "value": value}))
    print(f"({len(messages)} message(s) on {settings.alerts.topic}; showing the last {min(args.last, len(messages))})",
          file=sys.stderr)
    return 0


def cmd_label(settings: Settings, args: argparse.Namespace) -> int:
    from sensorwatch.feedback import label_event

    row = label_event(SqlStore(settings).with_views(), args.event, args.label, _author(args), args.note)
    print(json.dumps(row, default=str))
    return 0


def cmd_maintenance(settings: Settings, args: argparse.Namespace) -> int:
    from sensorwatch.feedback import add_maintenance

    span = _range(args)
    if span is None:
        raise UsageError("maintenance needs --from and --to")
    row = add_maintenance(SqlStore(settings).with_views(), args.asset, span, _author(args), args.note)
    print(json.dumps(row, default=str))
    return 0


def cmd_retention(settings: Settings, args: argparse.Namespace) -> int:
    from sensorwatch.retention import drop_old_partitions

    days = args.days if args.days is not None else settings.sql.retention_days
    if days is not None and days < 1:
        raise UsageError(f"retention --days must be at least 1, not {days}")
    if days is None:
        print("retention: sql.retention_days is not set (every day is kept); give --days N")
        return 0
    dropped = drop_old_partitions(SqlStore(settings), days)
    for table, gone in dropped.items():
        print(f"{table}: dropped {len(gone)} day partition(s), {gone[0]} to {gone[-1]}")
    print(f"retention: days before the last {days} dropped" if dropped else
          f"retention: nothing older than {days} days")
    return 0


def cmd_thresholds(settings: Settings, args: argparse.Namespace) -> int:
    from models import registry
    from sensorwatch import thresholds

    store = SqlStore(settings).with_views()
    if args.action == "recalibrate":
        proposal = thresholds.recalibrate_thresholds(store, settings, args.budget)
        for line in proposal.report or ["(no labelled confirmed or false_alarm events of the champion yet: "
                                        "sensorwatch label EVENT_ID --as ...)"]:
            print(line)
        print(f"proposed threshold version {proposal.version}: `sensorwatch thresholds apply {proposal.version}`"
              if proposal.version else "nothing to change")
    elif args.action == "apply":
        if args.version is None:
            raise UsageError("thresholds apply needs the VERSION to apply")
        applied = thresholds.apply_version(store, settings, args.version)
        print(f"threshold version {args.version} active for {len(applied)} asset(s): used from the next prediction run")
    else:
        model = registry.load(settings.model)
        for row in store.query(q.threshold_rows(store.target, model.name, model.version)):
            print("\t".join("" if v is None else str(v) for v in row))
    return 0


def _author(args: argparse.Namespace) -> str:
    import getpass

    return args.author or getpass.getuser()


def cmd_plot(settings: Settings, args: argparse.Namespace) -> int:
    from sensorwatch.report import plot_asset

    span = _range(args)
    out = Path(args.out) if args.out else settings.home / "plots" / f"{args.asset or 'top-asset'}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    path, summary = plot_asset(settings, out, args.asset, span, store=SqlStore(settings).with_views())
    print(f"wrote {path}: {json.dumps(summary)}")
    return 0


def cmd_bi(settings: Settings, args: argparse.Namespace) -> int:
    import os

    store = SqlStore(settings)
    store.create_tables(SQL_TABLES)
    for statement in store.create_views():
        print(statement.text().splitlines()[0].removesuffix(" AS"))
    password = os.environ.get("SENSORWATCH_BI_PASSWORD")
    for statement in store.create_read_only_login(args.role, password):
        print(statement.text().replace(password or "\0", "***"))
    print(f"BI login '{args.role}': read-only on schema '{settings.sql.schema_}' "
          f"(CrateDB at {settings.sql.host}:{settings.sql.port}, PostgreSQL protocol)")
    return 0


def cmd_console(settings: Settings, args: argparse.Namespace) -> int:
    from sensorwatch import console
    from sensorwatch.dashboard import bi_password_file

    print(f"Crate console: {console.url(settings)} (as {q.BI_ROLE}: password in $SENSORWATCH_BI_PASSWORD or "
          f"{bi_password_file(settings)})")
    if args.screenshot:
        query = args.query or console.fleet_query(settings)
        seen = console.check(settings, query, Path(args.screenshot))
        print(json.dumps({"screenshot": seen["screenshot"], "user": seen["user"], "headers": seen["headers"],
                          "rows": len(seen["rows"]), "error": seen["error"]}))
        if seen["error"] or not seen["headers"]:
            raise OperationFailed(f"the console's query did not answer: {seen['error'] or 'no result table'}")
    return 0


def cmd_dashboard(settings: Settings, args: argparse.Namespace) -> int:
    from sensorwatch import dashboard, services

    if args.action == "down":
        services.down(settings, ["superset"])
        print("Superset stopped")
        return 0
    board = dashboard.provision(settings, args.asset)
    print(f"dashboard: {board.url} ({len(board.charts)} charts; score chart: {board.asset or 'no events yet'}; "
          f"user {services.superset.ADMIN}, password in {services.superset.home(settings) / 'admin_password'})")
    if args.screenshot:
        seen = dashboard.check(settings, board, Path(args.screenshot))
        names = {str(i): name for name, i in board.charts.items()}
        print(json.dumps({"screenshot": seen["screenshot"], "errors": seen["errors"],
                          "rows": {names.get(k, k): v for k, v in seen["rows"].items()}}))
        if seen["errors"] or len(seen["rows"]) < len(board.charts):
            raise OperationFailed(f"the dashboard's charts did not all load: {seen}")
    return 0


def cmd_model(settings: Settings, args: argparse.Namespace) -> int:
    from models import registry

    conf = settings.model
    if args.action == "list":
        for v in registry.versions(conf):
            mark = "champion" if v["champion"] else "challenger" if v["challenger"] else ""
            print(f"v{v['version']:<4d} {mark:10s} {v['created'][:19]}  holdout_error={v.get('holdout_error', '-')}  "
                  f"{v.get('gate', '')}")
    elif args.action == "compare":
        return _compare(settings)
    elif args.action == "rollback":
        print(f"{conf.name}: '{registry.ALIAS}' rolled back to v{registry.rollback(conf)}")
    elif args.action == "challenger" and args.clear:
        cleared = registry.clear_challenger(conf)
        print(f"{conf.name}: no challenger" + (f" (v{cleared} is no longer scored beside the champion)"
                                               if cleared else ""))
    elif args.version is None:
        raise UsageError(f"model {args.action}: give the VERSION" + (" (or --clear)" * (args.action == "challenger")))
    elif args.action == "promote":
        registry.promote(conf, args.version)
        print(f"{conf.name} v{args.version} is now '{registry.ALIAS}'")
    else:
        registry.set_challenger(conf, args.version)
        print(f"{conf.name} v{args.version} is now '{registry.CHALLENGER}': scored beside the champion from the next "
              "prediction run (compare: sensorwatch model compare; promote: sensorwatch model promote)")
    return 0


def _compare(settings: Settings) -> int:
    """``model compare``: the comparison view, one line per asset and version pair, and totals."""
    store = SqlStore(settings).with_views()
    rows = store.query(q.model_comparison(store.target))
    if not rows:
        print("(nothing to compare: set a challenger (sensorwatch model challenger VERSION) and let predict run)")
        return 0
    print(f"{'asset':24s} {'champion':>8s} {'challenger':>10s} {'intervals':>9s} {'agreement':>9s} "
          f"{'events':>6s} {'theirs':>6s} {'matched':>7s} {'missed':>6s} {'extra':>5s}")
    for asset, champion, challenger, intervals, agreement, ours, theirs, matched, missed, extra in rows:
        print(f"{asset[:24]:24s} {'v' + str(champion):>8s} {'v' + str(challenger):>10s} {intervals:>9d} "
              f"{agreement:>9.3f} {ours:>6d} {theirs:>6d} {matched:>7d} {missed:>6d} {extra:>5d}")
    by_pair: dict[tuple[int, int], list[tuple]] = {}
    for row in rows:
        by_pair.setdefault((row[1], row[2]), []).append(row)
    for (champion, challenger), group in by_pair.items():
        intervals = sum(r[3] for r in group)
        agreeing = sum(r[3] * r[4] for r in group)
        totals = [sum(r[i] for r in group) for i in range(5, 10)]
        print(f"v{challenger} against v{champion}: {len(group)} asset(s), {intervals} intervals, agreement "
              f"{agreeing / intervals:.3f}; champion events {totals[0]}, challenger events {totals[1]}: "
              f"matched {totals[2]}, missed {totals[3]}, extra {totals[4]}")
    return 0


def cmd_evaluate(settings: Settings, args: argparse.Namespace) -> int:
    from sensorwatch import skab_eval
    from sensorwatch.sources import skab

    out = Path(args.out or f"var/evaluation/{args.benchmark}")
    if args.benchmark == "experiments":  # simulated SKAB-shaped experiments, written first
        from sensorwatch.sources import experiments

        if args.data:
            raise UsageError("evaluate experiments writes its own data (under --out): drop --data")
        if args.per_kind < 1:
            raise UsageError(f"--per-kind must be at least 1, got {args.per_kind}")
        data = out / "data"
        kinds = tuple(args.kinds or experiments.KINDS)
        unknown = [k for k in kinds if k not in experiments.KINDS]
        if unknown:
            raise UsageError(f"unknown experiment kind(s) {', '.join(unknown)}; known: {', '.join(experiments.KINDS)}")
        experiments.write_experiments(data, kinds, args.per_kind, args.seed)
    else:
        data = Path(args.data) if args.data else skab.default_data_dir()
    summary = skab_eval.evaluate(data, settings.features.spec(), settings.model.spec(), out, args.files)
    print(skab_eval.table(summary))
    print(f"plots and summary.json in {out}")
    print(json.dumps({**{k: summary["pooled"][k]
                         for k in ("f1", "far", "mar", "files", "nab_standard", "event_precision", "event_recall")},
                      "worst_folder": summary["worst_folder"]}))
    return 0


def _n(value) -> str:
    return "" if value is None else f"{value:,}" if isinstance(value, int) else f"{value:.1f}"


def cmd_history(settings: Settings, args: argparse.Namespace) -> int:
    """The landing zone's tables on the HiveServer2 endpoint (``history`` in the profile)."""
    from sensorwatch.connectors import history

    if args.action == "sync":
        tables = history.ensure_tables(settings)
        print(f"{', '.join(tables)} in database '{settings.historical.database}' at "
              f"{settings.historical.host}:{settings.historical.port}: created if missing, partitions registered")
        return 0
    if not args.sql:
        raise UsageError("history query: give the SQL to run")
    for row in history.query(settings, args.sql, database=settings.historical.database):
        print("\t".join("" if v is None else str(v) for v in row))
    return 0


def cmd_schema(settings: Settings, args: argparse.Namespace) -> int:
    from schemas import ANOMALY_ALERTS, LAKE_TABLES, ddl, json_schema
    from schemas.views import VIEWS, view_sql

    if args.action == "alert-json-schema":  # the alerts' messages on Kafka
        print(json.dumps(json_schema(ANOMALY_ALERTS), indent=1))
        return 0
    if args.dialect is None:
        raise UsageError("schema ddl needs --dialect cratedb|hive")
    if args.dialect == "hive":
        locations = {"landing_events": settings.storage.landing, "quarantine_events": settings.storage.quarantine}
        print(";\n\n".join(ddl(t, "hive", location=locations[t.name]) for t in LAKE_TABLES) + ";")
        print("\n-- then, and after new partitions land (Impala: ALTER TABLE ... RECOVER PARTITIONS):")
        print("\n".join(f"MSCK REPAIR TABLE `{t.name}`;" for t in LAKE_TABLES))
    else:
        sql = settings.sql
        statements = [ddl(t, args.dialect, shards=sql.shards, replicas=sql.replicas, schema=sql.schema_)
                      for t in SQL_TABLES] + [view_sql(v, args.dialect, sql.schema_) for v in VIEWS]
        print(";\n\n".join(statements) + ";")
    return 0


def cmd_package(settings: Settings, args: argparse.Namespace) -> int:
    from sensorwatch.package import build, instructions, upload

    package = build(Path(args.out), python_prefix=args.python_prefix, compress_level=args.compress_level)
    target = load_settings(args.target)
    print(instructions(package, target))
    uploaded = upload(package, target) if args.upload else {}
    print(json.dumps({"package": str(package.root), "archive_mib": round(package.size_mb), **package.seconds,
                      **{f"upload_{k}": v for k, v in uploaded.items()}}))
    return 0


def cmd_submit(settings: Settings, args: argparse.Namespace) -> int:
    from sensorwatch.submit import submission

    sub = submission(settings, args.job, args.job_args)
    if not args.run:
        print(sub.shell())
        return 0
    done = sub.run()
    sys.stderr.write(done.stderr[-4000:] if done.returncode else "")
    print(json.dumps({"job": done.job, "returncode": done.returncode, "application_id": done.application_id,
                      "seconds": done.seconds}))
    return done.returncode


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sensorwatch", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", help="conf profile (default: $SENSORWATCH_PROFILE or local)")
    # ... also accepted after the subcommand (spark-submit entry points pass it there)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--profile", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, **kw) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], **kw)

    p = add("services", help="start/stop/probe the embedded Kafka, HDFS, CrateDB (and YARN, HiveServer2, Superset)")
    p.add_argument("action", choices=["up", "down", "status", "env"],
                   help="env: the exports the yarn-local profile needs (eval \"$(sensorwatch services env)\")")
    p.add_argument("--only", nargs="+", choices=["kafka", "hdfs", "cratedb", "yarn", "hiveserver2", "superset"])
    p.add_argument("--with", dest="with_", nargs="+", choices=["yarn", "hiveserver2", "superset"], default=[],
                   help="also start these optional services (YARN: ResourceManager + NodeManager; hiveserver2: "
                        "Spark's Thrift Server over the landing zone; superset: the BI tool, see `dashboard up`)")
    p.set_defaults(func=cmd_services)

    p = add("produce", help="produce sensor events into Kafka")
    psub = p.add_subparsers(dest="source", required=True)
    s = psub.add_parser("simulate", help="N simulated pumps x 8 sensors with injected anomalies")
    s.add_argument("--assets", type=int, default=20)
    s.add_argument("--seconds", type=int, default=3600, help="seconds of 1 Hz data per asset")
    s.add_argument("--start", help="ISO time of the first reading (default: now - seconds)")
    s.add_argument("--seed", type=int, default=7)
    s.add_argument("--anomalies", type=int, default=3, help="anomalies injected per asset")
    s.add_argument("--anomaly-free-s", type=int, metavar="N",
                   help="no anomalies in the first N seconds of each asset: a clean period to train on "
                        "(default: the simulator's 10-minute warm-up)")
    s.add_argument("--bad-events", type=int, default=0, help="malformed events mixed in (for quarantine)")
    s.add_argument("--speedup", type=float, default=0.0,
                   help="x real time; 0 = as fast as possible (1 with --start now: a live fleet)")
    s.add_argument("--ground-truth", help="where to write the ground truth (default: var/ground_truth/...)")
    s = psub.add_parser("skab", help="replay SKAB CSV files, one asset per file")
    s.add_argument("--data", help="SKAB-format folder (default: $SENSORWATCH_SKAB_DIR or ../shared/data/skab)")
    s.add_argument("--files", nargs="*", help="CSV files relative to --data (default: all labelled files)")
    s.add_argument("--speedup", type=float, default=0.0, help="x real time; 0 = as fast as possible")
    s.add_argument("--start", help="shift each file to start at this ISO time (default: keep SKAB's times)")
    s.add_argument("--ground-truth")
    p.set_defaults(func=cmd_produce)

    p = add("ingest", help="Kafka -> validated Parquet on HDFS (+ quarantine)")
    p.add_argument("--trigger", choices=["availableNow", "processingTime"])
    p.add_argument("--timeout", type=float, default=None, help="stop a processingTime stream after N seconds")
    p.set_defaults(func=cmd_ingest)

    p = add("landed", help="what landed: events per partition, quarantine per reason")
    p.set_defaults(func=cmd_landed)

    p = add("features", help="landing events -> sensor_features in the SQL store (upsert)")
    p.add_argument("--from", dest="start", help="backfill from this ISO time (inclusive)")
    p.add_argument("--to", dest="end", help="backfill up to this ISO time (exclusive)")
    p.set_defaults(func=cmd_features)

    p = add("runs", help="the latest job runs recorded in the SQL store")
    p.add_argument("--last", type=int, default=10)
    p.set_defaults(func=cmd_runs)

    p = add("train", help="sensor_features -> a new registered model version; champion if not worse")
    p.add_argument("--from", dest="start", help="ISO time (default: the newest model.train_hours of features)")
    p.add_argument("--to", dest="end", help="ISO time, exclusive")
    p.add_argument("--assets", nargs="+", help="only these assets (default: all in the range)")
    p.add_argument("--challenger", action="store_true",
                   help="register the new version as the challenger (scored beside the champion) instead of "
                        "promoting it")
    p.set_defaults(func=cmd_train)

    p = add("model", help="the model registry: list versions, promote one, roll back the champion, set a challenger "
                          "(scored beside the champion), compare it with the champion")
    p.add_argument("action", choices=["list", "promote", "rollback", "challenger", "compare"])
    p.add_argument("version", nargs="?", type=int)
    p.add_argument("--clear", action="store_true", help="with challenger: stop scoring the challenger")
    p.set_defaults(func=cmd_model)

    p = add("dashboard", help="Apache Superset on 127.0.0.1 with the operators' dashboard (conf/superset)")
    p.add_argument("action", choices=["up", "down"])
    p.add_argument("--asset", help="the asset of the score chart (default: that of the most severe event)")
    p.add_argument("--screenshot", help="PNG: open the dashboard in headless Chromium, check every chart got rows")
    p.set_defaults(func=cmd_dashboard)

    p = add("console", help="the Crate console (CrateDB's Admin UI): its URL; --screenshot runs a query in it")
    p.add_argument("--query", help="SQL to run in the console's editor (default: the fleet from v_asset_health)")
    p.add_argument("--screenshot", help="PNG: open the console in headless Chromium as the BI login, run the query")
    p.set_defaults(func=cmd_console)

    p = add("predict", help="score the newest intervals: anomaly_scores, anomaly_events, monitoring (SQL store)")
    p.add_argument("--at", help="ISO time: score the predict.interval_s before it (default: now)")
    p.add_argument("--from", dest="start", help="backfill: score every interval from this ISO time ...")
    p.add_argument("--to", dest="end", help="... up to this one (exclusive)")
    p.add_argument("--continuous", action="store_true",
                   help="one long-running job: a cycle every predict.interval_s (Structured Streaming trigger)")
    p.add_argument("--timeout", type=float, help="with --continuous: stop after N seconds (default: never)")
    p.set_defaults(func=cmd_predict)

    p = add("anomalies", help="the most severe anomaly events, from the SQL store")
    p.add_argument("--top", type=int, default=10)
    p.set_defaults(func=cmd_anomalies)

    p = add("alerts", help="the newest messages of the alerts topic (Kafka), one JSON object per line")
    p.add_argument("--last", type=int, default=10)
    p.set_defaults(func=cmd_alerts)

    p = add("label", help="label an anomaly event: confirmed, false_alarm, maintenance or unsure")
    p.add_argument("event", help="the event id (asset|onset), as the alerts' key")
    p.add_argument("--as", dest="label", required=True)
    p.add_argument("--note")
    p.add_argument("--author", help="default: the login name")
    p.set_defaults(func=cmd_label)

    p = add("retention", help="drop the large tables' day partitions older than sql.retention_days (or --days)")
    p.add_argument("--days", type=int, help="keep this many days instead of sql.retention_days")
    p.set_defaults(func=cmd_retention)

    p = add("maintenance", help="a maintenance window of an asset: its events there are not alerted")
    p.add_argument("asset")
    p.add_argument("--from", dest="start", required=True)
    p.add_argument("--to", dest="end", required=True)
    p.add_argument("--note")
    p.add_argument("--author", help="default: the login name")
    p.set_defaults(func=cmd_maintenance)

    p = add("thresholds", help="per-asset thresholds from operators' labels: propose, apply, list")
    p.add_argument("action", choices=["recalibrate", "apply", "list"])
    p.add_argument("version", nargs="?", type=int, help="for apply: the version")
    p.add_argument("--budget", type=float, default=0.2,
                   help="recalibrate: the share of false alarms allowed among what is alerted (default 0.2)")
    p.set_defaults(func=cmd_thresholds)

    p = add("plot", help="PNG of an asset: signals, score vs threshold, detected vs true anomalies (from SQL)")
    p.add_argument("--asset", help="default: the asset of the most severe anomaly event")
    p.add_argument("--from", dest="start", help="ISO time (default: all the asset's scored intervals)")
    p.add_argument("--to", dest="end", help="ISO time, exclusive")
    p.add_argument("--out", help="PNG path (default: var/plots/ASSET.png)")
    p.set_defaults(func=cmd_plot)

    p = add("bi", help="the BI layer: views and a read-only login (password: $SENSORWATCH_BI_PASSWORD)")
    p.add_argument("action", choices=["setup"])
    p.add_argument("--role", default=q.BI_ROLE)
    p.set_defaults(func=cmd_bi)

    p = add("evaluate", help="the SKAB outlier-detection benchmark with the production model code")
    p.add_argument("benchmark", choices=["skab", "experiments"],
                   help="skab: SKAB's files; experiments: simulated SKAB-shaped experiments, one folder per kind")
    p.add_argument("--data", help="SKAB-format folder (default: $SENSORWATCH_SKAB_DIR or ../shared/data/skab)")
    p.add_argument("--files", nargs="*", help="CSV files relative to --data (default: all)")
    p.add_argument("--out", help="plots and summary.json (default: var/evaluation/<benchmark>)")
    p.add_argument("--kinds", nargs="*", help="experiments: the kinds (default: all)")
    p.add_argument("--per-kind", type=int, default=3, help="experiments: files per kind")
    p.add_argument("--seed", type=int, default=0, help="experiments: which draw of each kind")
    p.set_defaults(func=cmd_evaluate)

    p = add("history", help="the landing zone as Hive/Impala tables over HiveServer2: sync them, or query")
    p.add_argument("action", choices=["sync", "query"],
                   help="sync: CREATE EXTERNAL TABLE if missing + register every landed partition")
    p.add_argument("sql", nargs="?", help="for query: one SQL statement")
    p.set_defaults(func=cmd_history)

    p = add("schema", help="print DDL generated from schemas/, or the alerts' JSON Schema")
    p.add_argument("action", choices=["ddl", "alert-json-schema"])
    p.add_argument("--dialect", choices=["cratedb", "hive"])
    p.set_defaults(func=cmd_schema)

    p = add("package", help="build the job environment (venv-pack) + jobs for spark-submit; print the commands")
    p.add_argument("--out", default="dist", help="where the package goes (default: dist/)")
    p.add_argument("--python-prefix", help="where Python lives on the cluster nodes (default: as here)")
    p.add_argument("--compress-level", type=int, default=1, choices=range(10), metavar="0-9")
    p.add_argument("--for", dest="target", default="yarn", help="the profile the printed commands use (default: yarn)")
    p.add_argument("--upload", action="store_true",
                   help="put the environment and Spark's jars where that profile's spark.archive and "
                        "spark.yarn.archive point (WebHDFS)")
    p.set_defaults(func=cmd_package)

    p = add("submit", help="print (or --run) the spark-submit command of a job under the profile")
    from sensorwatch.submit import JOBS

    p.add_argument("--run", action="store_true", help="run it (spark-submit of this environment) and wait")
    p.add_argument("job", choices=list(JOBS))
    p.add_argument("job_args", nargs=argparse.REMAINDER, help="the job's own options")
    p.set_defaults(func=cmd_submit)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Every command and job goes through here: logging configured once, errors mapped
    to exit codes in one place (``EXIT_CODES``)."""
    args = build_parser().parse_args(argv)
    logs.configure()
    try:
        settings = load_settings(args.profile)
        if settings.services:  # the embedded services' log directory; on a cluster the container logs keep it
            logs.native_output(settings.home / "log")
        return args.func(settings, args)
    except Exception as exc:  # one clear line for the errors we explain
        code = exit_code(exc)
        if code is None:
            raise
        print(f"sensorwatch: {type(exc).__name__}: {exc}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
