"""schemas/ is the one source: Spark, Arrow and SQL DDL agree; the DDL runs on the real CrateDB."""

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from schemas import (
    DIALECTS,
    LAKE_TABLES,
    LANDING_EVENTS,
    SENSOR_EVENT,
    SENSOR_FEATURES,
    SENSOR_NAMES,
    SQL_TABLES,
    Field,
    Kind,
    Table,
    ddl,
)
from sensorwatch.connectors.sql import SqlStore, SqlWriteFailed

ALL_TABLES = (*SQL_TABLES, *LAKE_TABLES, SENSOR_EVENT)


@pytest.mark.parametrize("table", ALL_TABLES, ids=lambda t: t.name)
def test_spark_and_arrow_schemas_agree(table):
    spark_schema, arrow_schema = table.spark_schema(), table.arrow_schema()
    assert spark_schema.fieldNames() == arrow_schema.names == table.column_names
    for sf, af in zip(spark_schema.fields, arrow_schema):
        assert sf.nullable == af.nullable
    # Spark's own Arrow conversion of our StructType matches our Arrow schema's types.
    from pyspark.sql.pandas.types import to_arrow_schema

    converted = to_arrow_schema(spark_schema, timezone="UTC")
    for ours, theirs in zip(arrow_schema, converted):
        assert ours.type == theirs.type or (pa.types.is_map(ours.type) and pa.types.is_map(theirs.type)), ours.name


def test_cratedb_ddl_has_cluster_options():
    sql = ddl(SQL_TABLES[0], "cratedb", shards=6, replicas="1")
    assert 'CLUSTERED BY ("run_id") INTO 6 SHARDS' in sql and "number_of_replicas = '1'" in sql


def test_hive_ddl_is_external_parquet_partitioned():
    sql = ddl(LANDING_EVENTS, "hive", location="hdfs:///data/landing")
    assert sql.startswith("CREATE EXTERNAL TABLE IF NOT EXISTS `landing_events`")
    assert "PARTITIONED BY (`date` STRING, `hour` INT)" in sql and "STORED AS PARQUET" in sql
    assert "`date` STRING,\n" not in sql.split("PARTITIONED BY")[0]  # partition columns not repeated


def test_unknown_dialect():
    with pytest.raises(ValueError, match="known: " + ", ".join(DIALECTS)):
        ddl(SQL_TABLES[0], "oracle")


def test_sensor_event_has_all_eight_sensors():
    assert len(SENSOR_NAMES) == 8 and set(SENSOR_NAMES) <= set(SENSOR_EVENT.column_names)


def test_cratedb_ddl_runs_on_real_cratedb(store_isolated):
    """Every table's DDL on the real store: the columns in order, the partitioning and the
    routing as declared, and a key column refuses a null."""
    store = SqlStore(store_isolated)
    schema = store.target.schema
    for table in SQL_TABLES:
        store.execute(ddl(table, "cratedb", schema=schema, shards=2, replicas="0"))
        cols = [r[0] for r in store.query(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
            "ORDER BY ordinal_position", (schema, table.name))]
        assert cols == table.column_names
        (partitioned, clustered, shards), = store.query(
            "SELECT partitioned_by, clustered_by, number_of_shards FROM information_schema.tables "
            "WHERE table_schema = %s AND table_name = %s", (schema, table.name))
        assert (partitioned or []) == [f.name for f in table.partition_by]
        assert clustered == (table.clustered_by or "_id") and shards == 2
    with pytest.raises(SqlWriteFailed, match="run_id"):
        store.execute(f'INSERT INTO "{schema}"."job_runs" (job) VALUES (\'x\')')
    # The feature values are stored without an index, and still answer a filter, a sort and an aggregate.
    (created,), = store.query(f'SHOW CREATE TABLE "{schema}"."sensor_features"')
    lines = {line.strip().split(" ")[0].strip('"'): line for line in created.splitlines()}
    for f in SENSOR_FEATURES.all_fields:
        assert ("INDEX OFF" in lines[f.name]) == (not f.indexed), f.name
    value = next(f.name for f in SENSOR_FEATURES.all_fields if not f.indexed and f.kind is Kind.DOUBLE)
    rows = [{**{c: None for c in SENSOR_FEATURES.column_names}, "asset_id": "p", "event_count": 1,
             "missing_sensors": 0, "missing_intervals": 0, "after_gap": False, value: float(n),
             "interval_start": datetime(2026, 1, 1, 0, 0, n, tzinfo=UTC), "day": datetime(2026, 1, 1, tzinfo=UTC)}
            for n in range(3)]
    store.upsert(SENSOR_FEATURES, rows)
    store.refresh(SENSOR_FEATURES)
    assert store.query(f'SELECT count(*), max("{value}") FROM "{schema}"."sensor_features" WHERE "{value}" > 0.5') \
        == [(2, 2.0)]
    assert store.query(f'SELECT "{value}" FROM "{schema}"."sensor_features" ORDER BY "{value}" DESC LIMIT 1') == [(2.0,)]


def test_a_key_column_must_be_indexed():
    with pytest.raises(ValueError, match="key column 'k' must be indexed"):
        Table("t", (Field("k", Kind.STRING, indexed=False),), primary_key=("k",))
