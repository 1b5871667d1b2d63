"""The schema model: a table is a list of typed fields declared once, rendered many ways.

``Table.spark_schema()`` -> Spark StructType, ``Table.arrow_schema()`` -> pyarrow schema,
``ddl(table, dialect)`` -> CREATE TABLE for ``cratedb`` (the SQL store) or ``hive`` (an
external Parquet table over the landing zone). Dialect differences live only here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when a schema is rendered: schemas/ stays importable without
    import pyarrow as pa  # Spark or Arrow (the Airflow environment loads profiles through it)
    from pyspark.sql import types as T


class Kind(Enum):
    STRING = "string"
    INT = "int"
    BIGINT = "bigint"
    DOUBLE = "double"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"
    BINARY = "binary"
    STRING_MAP = "map<string,string>"
    STRING_ARRAY = "array<string>"
    DOUBLE_ARRAY = "array<double>"


@cache
def _spark_types() -> dict[Kind, T.DataType]:
    from pyspark.sql import types as T

    return {
        Kind.STRING: T.StringType(),
        Kind.INT: T.IntegerType(),
        Kind.BIGINT: T.LongType(),
        Kind.DOUBLE: T.DoubleType(),
        Kind.BOOLEAN: T.BooleanType(),
        Kind.TIMESTAMP: T.TimestampType(),
        Kind.BINARY: T.BinaryType(),
        Kind.STRING_MAP: T.MapType(T.StringType(), T.StringType()),
        Kind.STRING_ARRAY: T.ArrayType(T.StringType()),
        Kind.DOUBLE_ARRAY: T.ArrayType(T.DoubleType()),
    }


@cache
def _arrow_types() -> dict[Kind, pa.DataType]:
    import pyarrow as pa

    return {
        Kind.STRING: pa.string(),
        Kind.INT: pa.int32(),
        Kind.BIGINT: pa.int64(),
        Kind.DOUBLE: pa.float64(),
        Kind.BOOLEAN: pa.bool_(),
        Kind.TIMESTAMP: pa.timestamp("us", tz="UTC"),
        Kind.BINARY: pa.binary(),
        Kind.STRING_MAP: pa.map_(pa.string(), pa.string()),
        Kind.STRING_ARRAY: pa.list_(pa.string()),
        Kind.DOUBLE_ARRAY: pa.list_(pa.float64()),
    }


_SQL = {
    "cratedb": {
        Kind.STRING: "TEXT",
        Kind.INT: "INTEGER",
        Kind.BIGINT: "BIGINT",
        Kind.DOUBLE: "DOUBLE PRECISION",
        Kind.BOOLEAN: "BOOLEAN",
        Kind.TIMESTAMP: "TIMESTAMP WITH TIME ZONE",
        Kind.BINARY: "TEXT",  # CrateDB has no byte type: base64 text
        Kind.STRING_MAP: "OBJECT(DYNAMIC)",
        Kind.STRING_ARRAY: "ARRAY(TEXT)",
        Kind.DOUBLE_ARRAY: "ARRAY(DOUBLE PRECISION)",
    },
    "hive": {
        Kind.STRING: "STRING",
        Kind.INT: "INT",
        Kind.BIGINT: "BIGINT",
        Kind.DOUBLE: "DOUBLE",
        Kind.BOOLEAN: "BOOLEAN",
        Kind.TIMESTAMP: "TIMESTAMP",
        Kind.BINARY: "BINARY",
        Kind.STRING_MAP: "MAP<STRING,STRING>",
        Kind.STRING_ARRAY: "ARRAY<STRING>",
        Kind.DOUBLE_ARRAY: "ARRAY<DOUBLE>",
    },
}
DIALECTS = tuple(_SQL)


def arrow_type(kind: Kind) -> pa.DataType:
    return _arrow_types()[kind]


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    nullable: bool = True
    doc: str = ""
    # False: the store keeps the value without an inverted/point index (CrateDB INDEX OFF). A
    # filter, sort or aggregate on it still works (from the column store), but a write skips
    # indexing it: for wide rows read by key, the larger part of what the store does per row.
    indexed: bool = True

    def spark_field(self) -> T.StructField:
        from pyspark.sql import types as T

        return T.StructField(self.name, _spark_types()[self.kind], self.nullable,
                             {"comment": self.doc} if self.doc else {})

    def arrow_field(self) -> pa.Field:
        import pyarrow as pa

        return pa.field(self.name, _arrow_types()[self.kind], self.nullable)


@dataclass(frozen=True)
class Table:
    """A record type and, where it is stored, how (keys, partitioning, clustering)."""

    name: str
    fields: tuple[Field, ...]
    doc: str = ""
    primary_key: tuple[str, ...] = ()
    partition_by: tuple[Field, ...] = ()  # Hive-style directory partitions / CrateDB partitions
    clustered_by: str | None = None  # CrateDB routing column
    shards: int = 4
    replicas: str = "0-1"
    # CrateDB's periodic refresh (the rows written since made searchable), in ms; 0: none,
    # the writers refresh at their end; None: the store's default (each second).
    refresh_interval_ms: int | None = None

    def __post_init__(self) -> None:
        names = [f.name for f in self.all_fields]
        if len(set(names)) != len(names):
            raise ValueError(f"table {self.name}: duplicate column names")
        for col in (*self.primary_key, *([self.clustered_by] if self.clustered_by else [])):
            if col not in names:
                raise ValueError(f"table {self.name}: key column {col!r} is not a field")
            if not next(f for f in self.all_fields if f.name == col).indexed:
                raise ValueError(f"table {self.name}: key column {col!r} must be indexed")

    @property
    def all_fields(self) -> tuple[Field, ...]:
        return self.fields + self.partition_by

    @property
    def column_names(self) -> list[str]:
        return [f.name for f in self.all_fields]

    def spark_schema(self) -> T.StructType:
        from pyspark.sql import types as T

        return T.StructType([f.spark_field() for f in self.all_fields])

    def arrow_schema(self) -> pa.Schema:
        import pyarrow as pa

        return pa.schema([f.arrow_field() for f in self.all_fields])


_JSON: dict[Kind, dict[str, Any]] = {
    Kind.STRING: {"type": "string"}, Kind.INT: {"type": "integer"}, Kind.BIGINT: {"type": "integer"},
    Kind.DOUBLE: {"type": "number"}, Kind.BOOLEAN: {"type": "boolean"},
    Kind.TIMESTAMP: {"type": "string", "format": "date-time"},
    Kind.BINARY: {"type": "string", "contentEncoding": "base64"},
    Kind.STRING_MAP: {"type": "object", "additionalProperties": {"type": "string"}},
    Kind.STRING_ARRAY: {"type": "array", "items": {"type": "string"}},
    Kind.DOUBLE_ARRAY: {"type": "array", "items": {"type": "number"}},
}


def json_schema(table: Table) -> dict:
    """JSON Schema (2020-12) of ``table``'s records as JSON messages: timestamps as ISO 8601
    strings, every field present, null where the field is nullable."""
    props: dict[str, Any] = {}
    for f in table.all_fields:
        spec = dict(_JSON[f.kind])
        if f.nullable:
            spec["type"] = [spec["type"], "null"]
        props[f.name] = {**spec, **({"description": f.doc} if f.doc else {})}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": table.name,
            "description": table.doc, "type": "object", "properties": props,
            "required": [f.name for f in table.all_fields], "additionalProperties": False}


def _q(name: str, dialect: str) -> str:
    return f"`{name}`" if dialect == "hive" else f'"{name}"'


def sql_type(kind: Kind, dialect: str) -> str:
    return _SQL[dialect][kind]


def _column(f: Field, dialect: str, force_not_null: bool = False) -> str:
    not_null = " NOT NULL" if (not f.nullable or force_not_null) else ""
    index_off = " INDEX OFF" if not f.indexed and dialect == "cratedb" else ""
    return f"{_q(f.name, dialect)} {_SQL[dialect][f.kind]}{index_off}{not_null}"


def qualified(name: str, dialect: str, schema: str | None = None) -> str:
    """A quoted, optionally schema-qualified table name."""
    return f"{_q(schema, dialect)}.{_q(name, dialect)}" if schema else _q(name, dialect)


def ddl(table: Table, dialect: str, *, location: str | None = None, shards: int | None = None,
        replicas: str | None = None, schema: str | None = None) -> str:
    """CREATE TABLE IF NOT EXISTS for one dialect.

    ``hive`` renders an EXTERNAL Parquet table over ``location`` (the landing zone);
    ``cratedb`` renders the table with its CLUSTERED/PARTITIONED/WITH clauses.
    """
    if dialect not in _SQL:
        raise ValueError(f"unknown SQL dialect {dialect!r}; known: {', '.join(DIALECTS)}")
    if dialect == "hive":
        if location is None:
            raise ValueError("hive DDL needs the table's location")
        cols = ",\n  ".join(_column(f, "hive").replace(" NOT NULL", "") for f in table.fields)
        parts = ", ".join(f"{_q(f.name, 'hive')} {_SQL['hive'][f.kind]}" for f in table.partition_by)
        partitioned = f"\nPARTITIONED BY ({parts})" if parts else ""
        return (f"CREATE EXTERNAL TABLE IF NOT EXISTS {_q(table.name, 'hive')} (\n  {cols}\n)"
                f"{partitioned}\nSTORED AS PARQUET\nLOCATION '{location}'")

    keyed = set(table.primary_key)
    lines = [_column(f, dialect, force_not_null=f.name in keyed) for f in table.all_fields]
    if table.primary_key:
        lines.append("PRIMARY KEY (" + ", ".join(_q(c, dialect) for c in table.primary_key) + ")")
    sql = f"CREATE TABLE IF NOT EXISTS {qualified(table.name, dialect, schema)} (\n  " + ",\n  ".join(lines) + "\n)"
    if table.clustered_by:
        sql += f"\nCLUSTERED BY ({_q(table.clustered_by, dialect)}) INTO {shards or table.shards} SHARDS"
    else:
        sql += f"\nCLUSTERED INTO {shards or table.shards} SHARDS"
    if table.partition_by:
        sql += "\nPARTITIONED BY (" + ", ".join(_q(f.name, dialect) for f in table.partition_by) + ")"
    refresh = "" if table.refresh_interval_ms is None else f", refresh_interval = {table.refresh_interval_ms}"
    return sql + f"\nWITH (number_of_replicas = '{replicas or table.replicas}'{refresh})"
