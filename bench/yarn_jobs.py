"""The four jobs on the same data, spark-submitted in local mode and on the embedded YARN
(cluster mode, from the package), side by side. A benchmark, not a test.

    .venv/bin/python bench/yarn_jobs.py [--assets 2] [--seconds 1200]

Needs `sensorwatch services up --with yarn` and the package uploaded
(`sensorwatch package --for yarn-local --upload`; `--package DIR` names the built package).
Per job: the spark-submit wall time, and on YARN the application's own time (the
ResourceManager's elapsedTime) and the difference (the client's submit overhead).
The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sensorwatch import services
from sensorwatch.config import load_settings
from sensorwatch.connectors.sql import SqlStore
from sensorwatch.runtime.submit import submission
from sensorwatch.services import yarn
from sensorwatch.sources.produce import simulate_to_kafka

START = datetime(2026, 3, 1, 10, 30, tzinfo=UTC)


def run_jobs(profile: str, env: dict[str, str], end: datetime, package: Path | None, local) -> dict:
    out = {}
    with mock.patch.dict(os.environ, env):
        settings = load_settings(profile)
        for job, args in (("ingest", ["--trigger", "availableNow"]), ("features", []), ("train", []),
                          ("predict", ["--from", (end - timedelta(minutes=5)).isoformat(), "--to", end.isoformat()])):
            kw = {"jobs_dir": package / "jobs", "conf_file": package / "conf" / f"{profile}.yaml"} if package else {}
            done = submission(settings, job, args, **kw).run(timeout_s=1200)
            if done.returncode:
                raise SystemExit(f"{profile} {job} failed:\n{done.stderr[-3000:]}")
            row = {"wall_s": done.seconds}
            if done.application_id:
                app = yarn.application(local, done.application_id)
                row.update(app_s=round(app["elapsedTime"] / 1000, 1), application_id=done.application_id,
                           final_status=app["finalStatus"])
                row["submit_overhead_s"] = round(row["wall_s"] - row["app_s"], 1)
            out[job] = row
            print(profile, job, json.dumps(row), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=1200)
    parser.add_argument("--package", default="dist/sensorwatch-0.1.0")
    args = parser.parse_args()
    local = load_settings("local", environ={})
    services.up(local, with_=["yarn"])
    tag = f"b_{uuid.uuid4().hex[:8]}"
    end = START + timedelta(seconds=args.seconds)
    simulate_to_kafka(local.with_overrides(kafka={"topic": tag, "partitions": 2}), assets=args.assets,
                      seconds=args.seconds, start=START, anomalies_per_asset=1, warmup_s=300)
    results, schemas = {}, []
    for profile in ("local", "yarn-local"):
        schema = f"{tag}_{profile.replace('-', '_')}"
        schemas.append(schema)
        env = {"SENSORWATCH__KAFKA__TOPIC": tag, "SENSORWATCH__KAFKA__PARTITIONS": "2",
               "SENSORWATCH__SQL__SCHEMA": schema, "SENSORWATCH__MODEL__NAME": schema,
               "SENSORWATCH__MODEL__DETECTOR__EPOCHS": "5"}
        if profile == "local":
            env.update(SENSORWATCH__STORAGE__ROOT=f"{local.storage.root}/bench/{tag}",
                       SENSORWATCH__MODEL__TRACKING_URI=str(local.home / "bench-mlflow" / tag))
            results[profile] = run_jobs(profile, env, end, None, local)
        else:
            env.update(services.cluster_environ(local), SENSORWATCH__STORAGE__ROOT=f"hdfs:///data/bench/{tag}",
                       SENSORWATCH__HISTORY__REGISTER_PARTITIONS="false",
                       SENSORWATCH__MODEL__TRACKING_URI=str(local.home / "bench-mlflow" / f"{tag}-yarn"))
            results[profile] = run_jobs(profile, env, end, Path(args.package), local)
    for schema in schemas:
        SqlStore(local.with_overrides(sql={"schema": schema})).drop_schema()
    print(json.dumps({"assets": args.assets, "seconds": args.seconds, **results}))


if __name__ == "__main__":
    main()
