"""The features job against real HDFS, CrateDB and Spark: fills sensor_features, re-runs
change nothing, late events update only their intervals, backfill equals incremental,
run records, errors, and every CrateDB statement it emits parses."""

import http.client
import json
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from psycopg import sql as psql
from pyspark.sql import functions as F

from schemas import ANOMALY_SCORES, JOB_RUNS, SENSOR_FEATURES, SENSOR_NAMES
from schemas.features import column
from schemas.time import TimeRange
from sensorwatch.connectors.sql import SqlStore, SqlUnavailable, SqlWriteFailed, bulk_upsert
from sensorwatch.connectors.sql import statements as q
from sensorwatch.connectors.sql.loader import Endpoint
from sensorwatch.pipeline.featurization import run_features
from sensorwatch.sources.simulator import simulate
from tests.landing_seed import seed_landing, series_frame

T0 = datetime(2026, 2, 1, 9, 40, tzinfo=UTC)
KEY = ["asset_id", "interval_start"]


def table(settings) -> pd.DataFrame:
    store = SqlStore(settings)
    cols = ", ".join(f'"{c}"' for c in SENSOR_FEATURES.column_names)
    rows = store.query(f"SELECT {cols} FROM {store.name(SENSOR_FEATURES)} ORDER BY asset_id, interval_start")
    return pd.DataFrame(rows, columns=SENSOR_FEATURES.column_names)


def runs(settings) -> pd.DataFrame:
    store = SqlStore(settings)
    rows = store.query(f"SELECT * FROM {store.name(JOB_RUNS)} ORDER BY started_at")
    return pd.DataFrame(rows, columns=JOB_RUNS.column_names)


def assert_same_rows(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Same keys and flags exactly; floats to 1e-12 (Spark may sum in another order)."""
    a, b = a.sort_values(KEY).reset_index(drop=True), b.sort_values(KEY).reset_index(drop=True)
    assert a[KEY].equals(b[KEY])
    for c in SENSOR_FEATURES.column_names:
        if pd.api.types.is_float_dtype(a[c]) and not c.endswith("__count"):
            np.testing.assert_allclose(a[c].astype(float), b[c].astype(float), rtol=1e-12, equal_nan=True, err_msg=c)
        else:
            assert a[c].tolist() == b[c].tolist(), c


def events(assets=3, seconds=1200, start=T0):
    return series_frame(simulate(assets, seconds, start, seed=11, anomalies_per_asset=0))


def test_incremental_fills_the_table_and_a_rerun_changes_nothing(spark, store_isolated):
    ev = events()
    seed_landing(spark, store_isolated, ev)
    first = run_features(spark, store_isolated)
    assert first.status == "succeeded" and first.rows_in == len(ev) == first.rows_out
    filled = table(store_isolated)
    assert len(filled) == len(ev) and filled["asset_id"].nunique() == 3  # 1 Hz, 1 s intervals
    assert filled["interval_start"].min() == T0 and filled["day"].nunique() == 1
    # the whole table agrees with the same transform run directly on the events
    np.testing.assert_allclose(filled[column("current", "mean")], ev.sort_values(KEY[:1] + ["event_time"])["current"])

    again = run_features(spark, store_isolated)
    assert again.status == "noop" and again.rows_out == 0
    assert table(store_isolated).equals(filled)

    backfill = run_features(spark, store_isolated, TimeRange(T0, T0 + timedelta(hours=1)))
    assert backfill.status == "succeeded" and backfill.rows_out == len(ev)
    assert_same_rows(table(store_isolated), filled)  # re-computed and upserted: no duplicates, same values
    recorded = runs(store_isolated)
    assert recorded["status"].tolist() == ["succeeded", "noop", "succeeded"]
    assert recorded["finished_at"].notna().all() and (recorded["duration_s"] > 0).all()
    assert recorded["rows_out"].tolist() == [len(ev), 0, len(ev)]


def test_late_events_update_only_their_intervals_and_backfill_equals_incremental(spark, store_isolated):
    ev = events()
    late_mask = (ev.asset_id == "pump-0001") & ev.event_time.between(T0 + timedelta(seconds=300),
                                                                       T0 + timedelta(seconds=310))
    first_part = ev[~late_mask & (ev.event_time < T0 + timedelta(seconds=900))]
    seed_landing(spark, store_isolated, first_part)
    assert run_features(spark, store_isolated).rows_out == len(first_part)
    before = table(store_isolated)

    # later: the held-back readings (late) and the next 5 minutes (on time)
    seed_landing(spark, store_isolated, ev[late_mask | (ev.event_time >= T0 + timedelta(seconds=900))])
    second = run_features(spark, store_isolated)
    assert second.status == "succeeded" and second.late_rows == late_mask.sum() == 11
    after = table(store_isolated)
    assert len(after) == len(ev)

    merged = before.merge(after, on=KEY, how="outer", suffixes=("_b", "_a"), indicator=True)
    added = merged[merged._merge == "right_only"]
    old_range = added[added.interval_start < T0 + timedelta(seconds=900)]
    assert set(old_range.asset_id) == {"pump-0001"}
    assert sorted(old_range.interval_start) == sorted(ev[late_mask].event_time)
    both = merged[merged._merge == "both"]
    changed = both[both["missing_intervals_b"] != both["missing_intervals_a"]]
    for c in [column(s, "roll_mean") for s in SENSOR_NAMES]:
        differs = ~np.isclose(both[f"{c}_b"], both[f"{c}_a"], rtol=1e-12, atol=0, equal_nan=True)
        changed = pd.concat([changed, both[differs]])
    changed = changed.drop_duplicates(KEY)
    # exactly the rows whose 30-interval windows reach back into the late seconds changed
    assert set(changed.asset_id) == {"pump-0001"}
    offsets = sorted((changed.interval_start - T0).dt.total_seconds().astype(int))
    assert offsets == list(range(311, 340))

    # the same events computed in one backfill give the same table
    store = SqlStore(store_isolated)
    store.execute(f"DELETE FROM {store.name(SENSOR_FEATURES)}")
    full = run_features(spark, store_isolated, TimeRange(T0, T0 + timedelta(minutes=20)))
    assert full.rows_out == len(ev)
    assert_same_rows(table(store_isolated), after)


def test_empty_range_and_empty_landing_zone_are_clean_noops(spark, store_isolated):
    nothing = run_features(spark, store_isolated)  # nothing has landed at all
    assert nothing.status == "noop" and nothing.watermark is None
    seed_landing(spark, store_isolated, events(assets=1, seconds=60))
    empty = run_features(spark, store_isolated, TimeRange(T0 - timedelta(days=2), T0 - timedelta(days=1)))
    assert empty.status == "noop" and empty.rows_in == 0
    assert len(table(store_isolated)) == 0
    assert runs(store_isolated)["status"].tolist() == ["noop", "noop"]
    with pytest.raises(ValueError, match="not before"):
        run_features(spark, store_isolated, TimeRange(T0, T0))
    for args, says in ((["--from", "2026-01-02", "--to", "2026-01-01"], "is not before"),
                       (["--from", "2026-01-02"], "give both --from and --to"),
                       (["--from", "yesterday", "--to", "2026-01-01"], "not an ISO 8601 time")):
        cli = subprocess.run([sys.executable, "-m", "sensorwatch.cli", "features", *args],
                             capture_output=True, text=True, timeout=60)
        assert cli.returncode == 2 and says in cli.stderr, cli.stderr


def test_schema_drift_extra_and_missing_columns_in_landing_files(spark, store_isolated):
    """A landing file with an undeclared sensor column, and one written without a declared
    sensor: the declared columns are read, the extra one ignored, the missing one null;
    undeclared fields from the wire (kept in ``extras``) are counted in the run record."""
    from pyspark.sql import functions as F

    from tests.landing_seed import landing_frame

    ev = events(assets=2, seconds=120)
    now = datetime.now(UTC)
    a = landing_frame(spark, ev[ev.asset_id == "pump-0000"], now).withColumn("vibration_z_rms", F.lit(0.5))
    a = a.withColumn("extras", F.create_map(F.lit("vibration_z_rms"), F.lit("0.5")))
    b = landing_frame(spark, ev[ev.asset_id == "pump-0001"], now).drop("voltage")
    for df in (a, b):
        df.write.mode("append").partitionBy("date", "hour").parquet(store_isolated.storage.landing)
    result = run_features(spark, store_isolated)
    assert result.status == "succeeded" and result.rows_out == len(ev)
    assert result.details.unknown_fields == {"vibration_z_rms": 120}
    rows = table(store_isolated)
    assert "vibration_z_rms" not in "".join(rows.columns)
    b_rows = rows[rows.asset_id == "pump-0001"]
    assert (b_rows[column("voltage", "count")] == 0).all() and b_rows[column("voltage", "mean")].isna().all()
    assert (b_rows["missing_sensors"] == 1).all()
    assert (rows[rows.asset_id == "pump-0000"]["missing_sensors"] == 0).all()


def test_unreachable_sql_store_is_retried_then_fails_clearly_writing_nothing(spark, store_isolated, tmp_path):
    seed_landing(spark, store_isolated, events(assets=1, seconds=60))
    broken = store_isolated.with_overrides(sql={"port": 1, "retries": 2, "retry_backoff_s": 0.2})
    started = datetime.now(UTC)
    with pytest.raises(SqlUnavailable, match=r"unreachable after 3 attempt"):
        run_features(spark, broken)
    assert (datetime.now(UTC) - started).total_seconds() >= 0.2 + 0.4  # backed off
    store = SqlStore(store_isolated)
    assert store.query("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
                       (store_isolated.sql.schema_,)) == [(0,)]
    # the CLI says it in one line and exits 1
    env = {"PATH": "/usr/bin:/bin", "SENSORWATCH__SQL__PORT": "1", "SENSORWATCH__SQL__RETRIES": "0",
           "SENSORWATCH__STORAGE__ROOT": store_isolated.storage.root}
    cli = subprocess.run([sys.executable, "-m", "sensorwatch.cli", "features"], capture_output=True, text=True,
                         env=env, timeout=300)
    assert cli.returncode == 1, cli.stderr[-2000:]
    assert "sensorwatch: SqlUnavailable: SQL store at 127.0.0.1:1/doc unreachable" in cli.stderr
    assert "Traceback" not in cli.stderr


def test_the_bulk_loader_writes_every_value_as_it_was(spark, store_isolated):
    """The rows travel as JSON built by Spark: awkward text, extreme and non-finite doubles,
    nulls, arrays and timestamps come back from CrateDB as they went in (NaN and infinity
    as null, timestamps to the millisecond)."""
    from pyspark.sql import Row

    store = SqlStore(store_isolated)
    store.create_tables((ANOMALY_SCORES,))
    t = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    text = 'quote " backslash \\ tab \t newline \n unicode \u00e9\u6c34 emoji \U0001F527 bracket ]'
    # An array element without the backslash: CrateDB 6.4.3's PostgreSQL protocol sends a text
    # array's elements unescaped (psycopg reads ['x\\y'] back as ['xy']; its HTTP answer is right).
    element = text.replace("\\", "/")
    values = [(1.5e-300, [element, "b"], [0.25, float("nan")]), (float("nan"), None, None),
              (float("inf"), [], []), (-1.7976931348623157e308, ["x"], [1 / 3])]
    rows = [Row(asset_id=f"{text}-{n}", interval_start=t, score=score, threshold=0.5, exceeds=n % 2 == 0,
                is_anomaly=False, top_sensors=sensors, top_contributions=shares, instrument_check=None,
                instrument_sensor=None, instrument_since=None, model_name=text, model_version=n,
                run_id="r", source_partition="date=2026-03-01/hour=12", threshold_version=None,
                day=datetime(2026, 3, 1, tzinfo=UTC))
            for n, (score, sensors, shares) in enumerate(values)]
    df = spark.createDataFrame(rows, ANOMALY_SCORES.spark_schema())
    assert bulk_upsert(store, df, ANOMALY_SCORES) == len(rows)
    got = {r[0]: r[1:] for r in store.query(
        f"SELECT asset_id, interval_start, score, exceeds, top_sensors, top_contributions, model_name, model_version, "
        f"threshold_version FROM {store.name(ANOMALY_SCORES)}")}
    millis = t.replace(microsecond=123000)
    assert got == {
        f"{text}-0": (millis, 1.5e-300, True, [element, "b"], [0.25, None], text, 0, None),
        f"{text}-1": (millis, None, False, None, None, text, 1, None),
        f"{text}-2": (millis, None, True, [], [], text, 2, None),
        f"{text}-3": (millis, -1.7976931348623157e308, False, ["x"], [1 / 3], text, 3, None),
    }


def test_a_store_short_of_memory_is_waited_for_and_the_write_completes(spark, store_isolated):
    """CrateDB's circuit breaker refuses a bulk request's allocation while its heap is short
    (the demo met it on a 512 MB heap): produced for real by lowering the breaker's limit,
    raised again 2.5 s later while the loader waits."""
    store = SqlStore(store_isolated)
    store.create_tables((ANOMALY_SCORES,))
    big = "x" * 20_000  # 400 rows of 20 kB: an 8 MB request, over a 2 MB limit
    df = spark.range(400).select(
        F.concat(F.lit("a"), F.col("id").cast("string")).alias("asset_id"), F.lit(T0).alias("interval_start"),
        F.lit(0.5).alias("score"), F.lit(0.7).alias("threshold"), F.lit(False).alias("exceeds"),
        F.lit(False).alias("is_anomaly"), F.array(F.lit("pressure")).alias("top_sensors"),
        F.array(F.lit(1.0)).alias("top_contributions"), F.lit(None).cast("string").alias("instrument_check"),
        F.lit(None).cast("string").alias("instrument_sensor"), F.lit(None).cast("timestamp").alias("instrument_since"),
        F.lit(big).alias("model_name"), F.lit(1).alias("model_version"),
        F.lit("r").alias("run_id"), F.lit("p").alias("source_partition"), F.lit(None).cast("int").alias("threshold_version"),
        F.lit(T0).alias("day")).coalesce(1)
    assert bulk_upsert(store, df, ANOMALY_SCORES) == 400  # Spark warm: the next write posts within a second
    limit = '"indices.breaker.total.limit"'
    store.execute(f"SET GLOBAL TRANSIENT {limit} = '2mb'")
    restore = threading.Timer(2.5, lambda: store.execute(f"RESET GLOBAL {limit}"))
    try:
        # the condition is real: the same statement, posted once, is refused by the breaker
        endpoint = Endpoint.of(store_isolated)
        conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=60)
        statement = q.upsert_values(store.target, ANOMALY_SCORES, placeholder=psql.SQL("?")).text()
        row = ["a", 0, 0.5, 0.7, False, False, ["pressure"], [1.0], None, None, None, big, 1, "r", "p", None,
               0]  # column order
        conn.request("POST", "/_sql", json.dumps({"stmt": statement, "bulk_args": [row] * 400}), endpoint.headers)
        answer = json.loads(conn.getresponse().read())
        assert "CircuitBreakingException" in answer["results"][0]["error"]["message"]
        restore.start()
        assert bulk_upsert(store, df, ANOMALY_SCORES) == 400
    finally:
        restore.join()
        store.execute(f"RESET GLOBAL {limit}")
    (n,), = store.query(f"SELECT count(*) FROM {store.name(ANOMALY_SCORES)}")
    assert n == 400


def test_the_bulk_loader_logs_in_as_the_configured_user_with_its_password(spark, store_isolated):
    """Over HTTP the loader authenticates like every other client: a user with a password
    and write access writes; the wrong password is refused in one clear line."""
    from pyspark.sql import Row

    store = SqlStore(store_isolated)
    store.create_tables((ANOMALY_SCORES,))
    user = f"w_{store.target.schema}"
    store.execute(f"CREATE USER \"{user}\" WITH (password = 'right-one')")
    try:
        store.execute(f'GRANT DQL, DML ON SCHEMA "{store.target.schema}" TO "{user}"')
        row = Row(asset_id="p", interval_start=datetime(2026, 3, 1, tzinfo=UTC), score=1.0, threshold=0.5,
                  exceeds=True, is_anomaly=False, top_sensors=["current"], top_contributions=[1.0],
                  instrument_check="frozen", instrument_sensor="current", instrument_since=datetime(2026, 3, 1, tzinfo=UTC),
                  model_name="m",
                  model_version=1, run_id="r", source_partition="date=2026-03-01/hour=0", threshold_version=0,
                  day=datetime(2026, 3, 1, tzinfo=UTC))
        df = spark.createDataFrame([row], ANOMALY_SCORES.spark_schema())
        writer = store_isolated.with_overrides(sql={"user": user, "password": "right-one"})
        assert bulk_upsert(SqlStore(writer), df, ANOMALY_SCORES) == 1
        wrong = store_isolated.with_overrides(sql={"user": user, "password": "wrong"})
        with pytest.raises(SqlWriteFailed, match=f'password authentication failed for user "{user}"'):
            bulk_upsert(SqlStore(wrong), df, ANOMALY_SCORES)
    finally:
        store.execute(f'DROP USER IF EXISTS "{user}"')


def test_a_wrong_http_port_fails_the_bulk_write_clearly_and_the_next_run_catches_up(spark, store_isolated):
    """The bulk rows go to CrateDB's HTTP endpoint, the rest over the PostgreSQL protocol:
    a wrong ``sql.http_port`` is retried like a store that is down, then named."""
    ev = events(assets=1, seconds=60)
    seed_landing(spark, store_isolated, ev)
    wrong = store_isolated.with_overrides(sql={"http_port": 1, "retries": 1, "retry_backoff_s": 0.1})
    with pytest.raises(SqlUnavailable, match=r"HTTP endpoint 127\.0\.0\.1:1 unreachable during the bulk write "
                                             r"after 2 attempt"):
        run_features(spark, wrong)
    assert runs(store_isolated).iloc[-1]["status"] == "failed"
    assert run_features(spark, store_isolated).status == "succeeded"
    assert len(table(store_isolated)) == len(ev)


def test_rows_the_store_rejects_fail_the_run_and_the_next_run_catches_up(spark, store_isolated):
    """A real fault inside the store: the target rejects the new rows (a NOT NULL column
    added behind the job's back). CrateDB writes the other rows of a bulk operation and answers
    each rejected row with its error: the loader fails the run with the store's own reason."""
    ev = events(assets=2, seconds=120)
    seed_landing(spark, store_isolated, ev[ev.event_time < T0 + timedelta(seconds=60)])
    run_features(spark, store_isolated)
    before = table(store_isolated)
    store = SqlStore(store_isolated)
    store.execute(f"ALTER TABLE {store.name(SENSOR_FEATURES)} ADD COLUMN blocker TEXT NOT NULL")
    seed_landing(spark, store_isolated, ev[ev.event_time >= T0 + timedelta(seconds=60)])
    with pytest.raises(SqlWriteFailed, match='rejected: "blocker" must not be null'):
        run_features(spark, store_isolated)
    assert table(store_isolated)[before.columns].equals(before)  # every new row was rejected
    failed = runs(store_isolated).iloc[-1]
    assert failed["status"] == "failed" and "blocker" in failed["error"]
    # the watermark did not move: once the column is gone, the next run catches up
    store.execute(f"ALTER TABLE {store.name(SENSOR_FEATURES)} DROP COLUMN blocker")
    assert run_features(spark, store_isolated).status == "succeeded"
    assert len(table(store_isolated)) == len(ev)


def test_retention_drops_whole_day_partitions_older_than_the_setting(spark, store_isolated, capsys, monkeypatch):
    """Three days of features; keeping two days drops the oldest day's partition, and only
    it. The features run applies the setting; `sensorwatch retention` does it on demand."""
    from sensorwatch.cli import main
    from sensorwatch.operations.retention import drop_old_partitions

    days = [T0 + timedelta(days=d) for d in range(3)]
    for n, day in enumerate(days):
        seed_landing(spark, store_isolated, events(assets=1, seconds=60, start=day), first_offset=100 * n)
    assert run_features(spark, store_isolated).rows_out == 3 * 60
    store = SqlStore(store_isolated)

    def stored_days() -> list:
        return sorted({t.date() for t in table(store_isolated).interval_start})

    assert stored_days() == [d.date() for d in days]
    assert drop_old_partitions(store, None) == {}  # not set: every day kept
    dropped = drop_old_partitions(store, 2, at=days[2] + timedelta(hours=5))
    assert dropped == {"sensor_features": [days[0].date()]}
    assert stored_days() == [d.date() for d in days[1:]]
    partitions = store.query("SELECT count(*) FROM information_schema.table_partitions WHERE table_schema = %s "
                             "AND table_name = 'sensor_features'", (store_isolated.sql.schema_,))
    assert partitions == [(2,)]  # the partition itself is gone, not just its rows
    # the job applies the setting (relative to now: every test day is long gone)
    seed_landing(spark, store_isolated, events(assets=1, seconds=60, start=days[2] + timedelta(hours=1)),
                 first_offset=300)
    record = run_features(spark, store_isolated.with_overrides(sql={"retention_days": 1}))
    assert record.details.retention_dropped == {"sensor_features": [str(d.date()) for d in days[1:]]}
    assert table(store_isolated).empty
    monkeypatch.setenv("SENSORWATCH__SQL__SCHEMA", store_isolated.sql.schema_)
    assert main(["retention", "--days", "0"]) == 2
    assert main(["retention", "--days", "1"]) == 0
    assert "nothing older than 1 days" in capsys.readouterr().out
