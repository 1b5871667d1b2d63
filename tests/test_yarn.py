"""Every job spark-submitted to a real YARN (ResourceManager + NodeManager of Hadoop 3.5.0,
`services up --with yarn`) in cluster mode, from the package, under the `yarn-local` profile:
the `yarn` profile a user edits, with the embedded endpoints (SASL_SSL Kafka, HDFS, the SQL
store) and `hdfs:///` paths resolved by the client configuration. The packed environment is
the Python of the driver and the executors; Spark's jars come from `spark.yarn.archive`.
Then the landing zone's history over the HiveServer2 protocol (Spark's Thrift Server,
`--with hiveserver2`), queried with impyla and beeline as an Impala / Hive user would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import pytest

from sensorwatch import services
from sensorwatch.config import load_settings
from sensorwatch.connectors import history
from sensorwatch.connectors.sql import SqlStore
from sensorwatch.runtime.package import upload
from sensorwatch.runtime.submit import submission
from sensorwatch.services import yarn
from sensorwatch.sources.produce import simulate_to_kafka
from tests.conftest import doc_sql_blocks, unique

pytestmark = pytest.mark.slow
ASSETS, SECONDS, BAD = 2, 1200, 4


@pytest.fixture(scope="module")
def cluster(live_services):
    """YARN and the Thrift Server up (stopped at the end by the session if started here)."""
    services.up(live_services, ["yarn", "hiveserver2"])
    return live_services


@pytest.fixture(scope="module")
def on_yarn(cluster, built_package, tmp_path_factory):
    """The environment a user exports before submitting (`services env` + their overrides),
    the yarn-local settings it gives, and the package uploaded where they point."""
    name = unique("y").replace("-", "_")
    env = {**services.cluster_environ(cluster),
           "SENSORWATCH__KAFKA__TOPIC": name, "SENSORWATCH__KAFKA__PARTITIONS": "2",
           "SENSORWATCH__STORAGE__ROOT": f"hdfs:///data/tests/{name}",
           "SENSORWATCH__SQL__SCHEMA": name, "SENSORWATCH__HISTORY__DATABASE": name,
           "SENSORWATCH__MODEL__NAME": name,
           "SENSORWATCH__MODEL__TRACKING_URI": str(tmp_path_factory.mktemp("mlflow")),
           "SENSORWATCH__MODEL__DETECTOR__EPOCHS": "5"}
    with mock.patch.dict(os.environ, env):
        settings = load_settings("yarn-local")
        store = SqlStore(settings)
        seconds = upload(built_package, settings, log=lambda _: None)
        history.ensure_tables(settings)  # the DDL schemas/ generates, executed for real
        yield settings, built_package, seconds
        store.drop_schema()


def submit(cluster, on_yarn, job: str, *args: str):
    """spark-submit one job as `sensorwatch package` prints it; the application's report."""
    settings, package, _ = on_yarn
    sub = submission(settings, job, list(args), jobs_dir=package.jobs_dir,
                     conf_file=package.conf_dir / "yarn-local.yaml")
    assert sub.master == "yarn" and sub.deploy_mode == "cluster"
    assert sub.conf["spark.pyspark.python"] == "./environment/bin/python"
    done = sub.run(timeout_s=900)
    assert done.application_id, done.stderr[-3000:]
    report = yarn.application(cluster, done.application_id)
    logs = container_logs(cluster, done.application_id)
    return done, report, logs


@pytest.fixture(scope="module")
def produced(cluster, on_yarn, tmp_path_factory):
    settings, _, _ = on_yarn
    local = cluster.with_overrides(kafka={"topic": settings.kafka.topic, "partitions": 2})
    # a fixed start inside the range of docs/bi.md's per-hour example
    return simulate_to_kafka(local, assets=ASSETS, seconds=SECONDS, start=datetime(2026, 3, 1, 10, 30, tzinfo=UTC),
                             anomalies_per_asset=1, warmup_s=300,
                             bad_events=BAD, ground_truth=tmp_path_factory.mktemp("truth") / "truth.json")


@pytest.fixture(scope="module")
def ingested(cluster, on_yarn, produced):
    done, report, logs = submit(cluster, on_yarn, "ingest", "--trigger", "availableNow")
    assert done.returncode == 0 and (report["state"], report["finalStatus"]) == ("FINISHED", "SUCCEEDED"), \
        report["diagnostics"]
    return done, logs


def landing_uri(cluster, settings, *parts: str) -> str:
    """The yarn-local root (hdfs:///...) as the tests' own Spark session reads it."""
    return f"hdfs://127.0.0.1:19000{settings.storage.path(*parts).removeprefix('hdfs://')}"


def test_ingest_on_yarn_lands_every_event_once_with_the_packed_python(cluster, on_yarn, produced, ingested, spark):
    settings, _, uploaded = on_yarn
    done, logs = ingested
    assert set(uploaded) == {"sensorwatch-env.tar.gz", "spark-jars-4.2.0.zip"}
    driver = next(text for name, text in logs.items() if name.endswith("000001/stdout"))
    assert "ingest batch" in driver  # the job's own output, in the NodeManager's log dir
    # Spark's jars came from spark.yarn.archive: the submit uploaded no zip of PySpark's jars/
    uploads = [line for line in done.stderr.splitlines() if "Uploading resource" in line]
    assert uploads and not [line for line in uploads if "__spark_libs__" in line or "sensorwatch-env" in line]
    landed = spark.read.parquet(landing_uri(cluster, settings, "landing", "events"))
    assert landed.count() == produced["valid_events"] == ASSETS * SECONDS
    assert spark.read.parquet(landing_uri(cluster, settings, "quarantine", "events")).count() == BAD


def test_history_sql_sees_every_partition_as_it_landed(cluster, on_yarn, ingested, spark):
    """Ingest registered its partitions (ALTER TABLE ADD PARTITION after the batch) with the
    HiveServer2 endpoint: counts per partition through impyla equal the landing zone's."""
    settings, _, _ = on_yarn
    db = settings.history.database
    landed = spark.read.parquet(landing_uri(cluster, settings, "landing", "events"))
    expected = sorted((str(r["date"]), r["hour"], r["count"]) for r in landed.groupBy("date", "hour").count().collect())
    got = history.query(settings, "SELECT `date`, `hour`, count(*) FROM landing_events GROUP BY `date`, `hour` "
                                  "ORDER BY `date`, `hour`", database=db)
    assert sorted(got) == expected and expected
    reasons = history.query(settings, "SELECT reason FROM quarantine_events", database=db)
    assert len(reasons) == BAD and all(r[0] for r in reasons)  # every bad event, each with its reason
    # partition pruning: a query on one hour reads that partition only
    date, hour = expected[0][0], expected[0][1]
    plan = "\n".join(r[0] for r in history.query(
        settings, f"EXPLAIN SELECT count(*) FROM landing_events WHERE `date` = '{date}' AND `hour` = {hour}",
        database=db))
    assert "InMemoryFileIndex(1 paths)" in plan, plan  # one partition directory listed, of those the table has
    assert re.search(rf"PartitionFilters: \[.*\(date#\d+ = {date}\), \(hour#\d+ = {hour}\)\]", plan), plan
    # every historical example of docs/bi.md, as a BI user sends it
    examples = doc_sql_blocks("history")
    assert len(examples) == 3
    per_hour = history.query(settings, examples[0], database=db)
    assert sum(row[3] for row in per_hour) == sum(n for _, _, n in expected)
    for example in examples[1:]:
        assert history.query(settings, example, database=db)
    # beeline, the Hive CLI over JDBC, as shipped with PySpark
    beeline = Path(sys.executable).parent / "beeline"
    out = subprocess.run([str(beeline), "-u", f"jdbc:hive2://127.0.0.1:{settings.history.port}/{db}", "-n", "bi",
                          "--silent=true", "--outputformat=csv2", "-e", "SELECT count(*) FROM landing_events"],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PATH": f"{beeline.parent}:{os.environ['PATH']}"})
    assert out.stdout.strip().splitlines()[-1] == str(sum(n for _, _, n in expected)), out.stderr[-2000:]


def test_features_train_and_predict_on_yarn(cluster, on_yarn, ingested, produced):
    settings, _, _ = on_yarn
    store = SqlStore(settings)
    done, report, _ = submit(cluster, on_yarn, "features")
    assert (report["state"], report["finalStatus"]) == ("FINISHED", "SUCCEEDED"), report["diagnostics"]
    features = store.query(f"SELECT count(*), min(interval_start), max(interval_start) FROM {store.name('sensor_features')}")[0]
    assert features[0] == ASSETS * SECONDS  # one row per asset and 1 s interval with events

    done, report, logs = submit(cluster, on_yarn, "train")
    assert (report["state"], report["finalStatus"]) == ("FINISHED", "SUCCEEDED"), report["diagnostics"]
    from models import registry

    assert registry.champion_version(settings.model) == 1

    end = features[2] + timedelta(seconds=1)
    start = end - timedelta(minutes=5)
    done, report, _ = submit(cluster, on_yarn, "predict", "--from", start.isoformat(), "--to", end.isoformat())
    assert (report["state"], report["finalStatus"]) == ("FINISHED", "SUCCEEDED"), report["diagnostics"]
    scored = store.query(f"SELECT count(*), count(DISTINCT asset_id), max(model_version) "
                         f"FROM {store.name('anomaly_scores')}")[0]
    assert scored == (ASSETS * 300, ASSETS, 1)


def test_a_failing_job_ends_failed_and_its_logs_say_why(cluster, on_yarn, ingested):
    """A model that was never registered: the application ends FAILED, and the reason is in
    its containers' logs in the NodeManager's log dir."""
    with mock.patch.dict(os.environ, {"SENSORWATCH__MODEL__NAME": "never-registered"}):
        done, report, logs = submit(cluster, on_yarn, "predict")
    assert done.returncode != 0
    assert (report["state"], report["finalStatus"]) == ("FINISHED", "FAILED")
    assert any("never-registered" in text for name, text in logs.items() if name.endswith("stdout")), sorted(logs)


def container_logs(settings, app_id):
    """Every log file of an application's containers on this NodeManager (no log
    aggregation: they stay in its log dir), keyed ``container/file``."""
    base = settings.home / "yarn" / "logs" / app_id
    return {f"{f.parent.name}/{f.name}": f.read_text(errors="replace")
            for f in sorted(base.glob("container_*/*")) if f.is_file()}
