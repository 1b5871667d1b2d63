"""schemas/ is the one source: Spark, Arrow and SQL DDL agree; every CrateDB statement parses."""

import psycopg
import pyarrow as pa
import pytest
from cratedb_sqlparse import sqlparse

from schemas import DIALECTS, LAKE_TABLES, LANDING_EVENTS, SENSOR_EVENT, SENSOR_NAMES, SQL_TABLES, ddl
from sensorwatch.connectors.sql import connect

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


@pytest.mark.parametrize("table", ALL_TABLES, ids=lambda t: t.name)
def test_every_cratedb_statement_parses(table):
    statement = ddl(table, "cratedb")
    try:
        parsed = sqlparse(statement, raise_exception=True)
    except Exception as exc:  # noqa: BLE001 - the parser raises several kinds; any is invalid
        pytest.fail(f"CrateDB rejects the DDL of {table.name}: {exc}\n{statement}")
    assert len(parsed) == 1 and parsed[0].type == "CREATE"


def test_the_validator_rejects_bad_cratedb_sql():
    """Guard: the parser really fails on broken CrateDB SQL (so the test above can fail)."""
    with pytest.raises(Exception):  # noqa: B017 - the parser raises several kinds
        sqlparse("CREATE TABLE t (a TEXT,, b INT) CLUSTERED INTO SHARDS", raise_exception=True)


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


def test_postgresql_ddl_runs_on_real_postgresql(live_services):
    with connect(live_services) as conn:
        conn.execute("DROP SCHEMA IF EXISTS ddl_check CASCADE")
        conn.execute("CREATE SCHEMA ddl_check")
        try:
            conn.execute("SET search_path TO ddl_check")
            for table in SQL_TABLES:
                conn.execute(ddl(table, "postgresql"))
                cols = [r[0] for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema='ddl_check' "
                    "AND table_name=%s ORDER BY ordinal_position", (table.name,))]
                assert cols == table.column_names
            with pytest.raises(psycopg.errors.NotNullViolation):
                conn.execute("INSERT INTO job_runs (run_id) VALUES ('x')")
        finally:
            conn.execute("DROP SCHEMA ddl_check CASCADE")
