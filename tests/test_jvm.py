"""The JVM components come from Maven Central once, into a cache keyed by their pom."""

import pytest

from sensorwatch.runtime import jvm


def test_resolved_components_are_cached_and_a_second_resolve_runs_no_maven(monkeypatch):
    libs = {c: jvm.resolve(c) for c in jvm.COMPONENTS}  # scripts/setup.sh resolved them already
    names = {c: {p.name for p in lib.glob("*.jar")} for c, lib in libs.items()}
    assert "kafka_2.13-4.4.0.jar" in names["kafka-broker"] and "log4j-core-2.25.4.jar" in names["kafka-broker"]
    assert {"hadoop-hdfs-3.5.0.jar", "hadoop-common-3.5.0.jar"} <= names["hadoop"]
    # Spark's source at PySpark's own version, and nothing PySpark already ships.
    import pyspark

    assert names["spark-kafka"] == {f"spark-sql-kafka-0-10_2.13-{pyspark.__version__}.jar",
                                    f"spark-token-provider-kafka-0-10_2.13-{pyspark.__version__}.jar",
                                    "kafka-clients-3.9.2.jar", "commons-pool2-2.13.1.jar"}
    monkeypatch.setattr(jvm.shutil, "which", lambda _name: None)  # no Maven now: the cache must do
    assert jvm.resolve("hadoop") == libs["hadoop"]


def test_an_unresolvable_pin_is_a_clear_error_with_mavens_answer(tmp_path, monkeypatch):
    pom = (jvm.POM_DIR / "spark-kafka" / "pom.xml").read_text()
    (tmp_path / "spark-kafka").mkdir()
    # The connector at a version Maven Central does not have (measured: 4.3.0, PySpark's newest).
    (tmp_path / "spark-kafka" / "pom.xml").write_text(pom.replace("<version>4.2.0</version>", "<version>4.3.0</version>"))
    monkeypatch.setattr(jvm, "POM_DIR", tmp_path)
    monkeypatch.setattr(jvm, "CACHE_ROOT", tmp_path / "cache")
    with pytest.raises(jvm.JvmResolutionError, match=r"(?s)could not resolve spark-kafka.*mvn .*4\.3\.0"):
        jvm.resolve("spark-kafka")
    assert not any((tmp_path / "cache").rglob(jvm.STAMP))  # nothing half-resolved counts as done
    with pytest.raises(ValueError, match="unknown JVM component"):
        jvm.resolve("zookeeper")
