"""The stack's commands: the embedded services, the BI layer, historical SQL, the DDL and
JSON Schema from ``schemas/``, the packed environment and spark-submit."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

from schemas import SQL_TABLES
from sensorwatch.cli.command import CommandGroup, arg
from sensorwatch.config import Settings, load_settings
from sensorwatch.connectors.sql import SqlStore
from sensorwatch.connectors.sql import statements as q
from sensorwatch.runtime.submit import JOBS

COMMANDS = CommandGroup()
COMMANDS.group("services", "start/stop/probe the embedded Kafka, HDFS, CrateDB (and YARN, HiveServer2, Superset)")
COMMANDS.group("bi", "the BI layer: views and a read-only login (password: $SENSORWATCH_BI_PASSWORD)")
COMMANDS.group("history", "the landing zone as Hive/Impala tables over HiveServer2: sync them, or query")
COMMANDS.group("schema", "print DDL generated from schemas/, or the alerts' JSON Schema")

SERVICES = ["kafka", "hdfs", "cratedb", "yarn", "hiveserver2", "superset"]
OPTIONAL = ["yarn", "hiveserver2", "superset"]
ONLY = arg("--only", nargs="+", choices=SERVICES, help="only these services")


@COMMANDS.command(
    "services up", "start the embedded services (idempotent)", ONLY,
    arg("--with", dest="with_", nargs="+", choices=OPTIONAL, default=[],
        help="also start these optional services (YARN: ResourceManager + NodeManager; hiveserver2: Spark's Thrift "
             "Server over the landing zone; superset: the BI tool, see `dashboard up`)"))
def services_up(settings: Settings, *, only: list[str] | None, with_: list[str]) -> int:
    from sensorwatch import services

    for name, where in services.up(settings, only, with_).items():
        print(f"{name:9s} up    {where}")
    return 0


@COMMANDS.command("services down", "stop the embedded services", ONLY)
def services_down(settings: Settings, *, only: list[str] | None) -> int:
    from sensorwatch import services

    for name, was_running in services.down(settings, only).items():
        print(f"{name:9s} {'stopped' if was_running else 'was not running'}")
    return 0


@COMMANDS.command("services status", "probe each service; exit 1 if a required one is down")
def services_status(settings: Settings) -> int:
    from sensorwatch import services

    states = services.status(settings)
    for name, ok in states.items():
        print(f"{name:9s} {'up' if ok else 'off (optional: --with ' + name + ')' if ok is None else 'DOWN'}")
    return 0 if all(ok is not False for ok in states.values()) else 1


@COMMANDS.command("services env", "the exports the yarn-local profile needs: eval \"$(sensorwatch services env)\"")
def services_env(settings: Settings) -> int:
    from sensorwatch import services

    for name, value in services.cluster_environ(settings).items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


@COMMANDS.command("bi setup", "create the BI views and a read-only login for BI tools",
                  arg("--role", default=q.BI_ROLE))
def bi_setup(settings: Settings, *, role: str) -> int:
    store = SqlStore(settings)
    store.create_tables(SQL_TABLES)
    for statement in store.create_views():
        print(statement.text().splitlines()[0].removesuffix(" AS"))
    password = os.environ.get("SENSORWATCH_BI_PASSWORD")
    for statement in store.create_read_only_login(role, password):
        print(statement.text().replace(password or "\0", "***"))
    print(f"BI login '{role}': read-only on schema '{settings.sql.schema_}' "
          f"(CrateDB at {settings.sql.host}:{settings.sql.port}, PostgreSQL protocol)")
    return 0


@COMMANDS.command("history sync", "CREATE EXTERNAL TABLE if missing + register every landed partition")
def history_sync(settings: Settings) -> int:
    from sensorwatch.connectors import history

    tables = history.ensure_tables(settings)
    print(f"{', '.join(tables)} in database '{settings.historical.database}' at "
          f"{settings.historical.host}:{settings.historical.port}: created if missing, partitions registered")
    return 0


@COMMANDS.command("history query", "run one SQL statement on the HiveServer2 endpoint; rows tab-separated",
                  arg("sql", help="one SQL statement"))
def history_query(settings: Settings, *, sql: str) -> int:
    from sensorwatch.connectors import history

    for row in history.query(settings, sql, database=settings.historical.database):
        print("\t".join("" if v is None else str(v) for v in row))
    return 0


@COMMANDS.command("schema ddl", "the tables' and views' DDL for a dialect",
                  arg("--dialect", choices=["cratedb", "hive"], required=True))
def schema_ddl(settings: Settings, *, dialect: str) -> int:
    from schemas import LAKE_TABLES, ddl
    from schemas.views import VIEWS, view_sql

    if dialect == "hive":
        locations = {"landing_events": settings.storage.landing, "quarantine_events": settings.storage.quarantine}
        print(";\n\n".join(ddl(t, "hive", location=locations[t.name]) for t in LAKE_TABLES) + ";")
        print("\n-- then, and after new partitions land (Impala: ALTER TABLE ... RECOVER PARTITIONS):")
        print("\n".join(f"MSCK REPAIR TABLE `{t.name}`;" for t in LAKE_TABLES))
        return 0
    sql = settings.sql
    statements = [ddl(t, dialect, shards=sql.shards, replicas=sql.replicas, schema=sql.schema_) for t in SQL_TABLES]
    print(";\n\n".join(statements + [view_sql(v, dialect, sql.schema_) for v in VIEWS]) + ";")
    return 0


@COMMANDS.command("schema alert-json-schema", "the JSON Schema of the alerts' messages on Kafka")
def schema_alert_json_schema(settings: Settings) -> int:
    from schemas import ANOMALY_ALERTS, json_schema

    print(json.dumps(json_schema(ANOMALY_ALERTS), indent=1))
    return 0


@COMMANDS.command(
    "package", "build the job environment (venv-pack) + jobs for spark-submit; print the commands",
    arg("--out", default="dist", help="where the package goes (default: dist/)"),
    arg("--python-prefix", help="where Python lives on the cluster nodes (default: as here)"),
    arg("--compress-level", type=int, default=1, choices=range(10), metavar="0-9"),
    arg("--for", dest="target", default="yarn", help="the profile the printed commands use (default: yarn)"),
    arg("--upload", action="store_true",
        help="put the environment and Spark's jars where that profile's spark.archive and spark.yarn.archive "
             "point (WebHDFS)"))
def package(settings: Settings, *, out: str, python_prefix: str | None, compress_level: int, target: str,
            upload: bool) -> int:
    from sensorwatch.runtime import package as packing

    built = packing.build(Path(out), python_prefix=python_prefix, compress_level=compress_level)
    cluster = load_settings(target)
    print(packing.instructions(built, cluster))
    uploaded = packing.upload(built, cluster) if upload else {}
    print(json.dumps({"package": str(built.root), "archive_mib": round(built.size_mb), **built.seconds,
                      **{f"upload_{k}": v for k, v in uploaded.items()}}))
    return 0


@COMMANDS.command(
    "submit", "print (or --run) the spark-submit command of a job under the profile",
    arg("--run", action="store_true", help="run it (spark-submit of this environment) and wait"),
    arg("job", choices=list(JOBS)),
    arg("job_args", nargs=argparse.REMAINDER, help="the job's own options"))
def submit(settings: Settings, *, run: bool, job: str, job_args: list[str]) -> int:
    from sensorwatch.runtime.submit import submission

    sub = submission(settings, job, job_args)
    if not run:
        print(sub.shell())
        return 0
    done = sub.run()
    sys.stderr.write(done.stderr[-4000:] if done.returncode else "")
    print(json.dumps({"job": done.job, "returncode": done.returncode, "application_id": done.application_id,
                      "seconds": done.seconds}))
    return done.returncode
