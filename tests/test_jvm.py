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


def test_a_local_driver_gets_the_class_archive_once_it_exists_and_a_cluster_driver_never(tmp_path):
    from sensorwatch.runtime import class_archive

    path = class_archive.archive_path(tmp_path)
    assert path is not None and path.parent == tmp_path / "jvm"
    assert class_archive.java_options(tmp_path) == ""  # none made yet: no option
    path.parent.mkdir()
    path.write_bytes(b"")
    options = class_archive.java_options(tmp_path)
    assert options.startswith(f"-XX:SharedArchiveFile={path} ") and "-Xlog:cds=off" in options


def test_the_class_archive_option_joins_the_drivers_own_on_local_masters_only(monkeypatch):
    from sensorwatch.runtime import class_archive

    monkeypatch.setattr(class_archive, "java_options", lambda: "-XX:SharedArchiveFile=/a.jsa")
    conf = {class_archive.DRIVER_OPTIONS: "-Dx=1", "other": "v"}
    assert class_archive.with_archive(conf, "local[2]") == {class_archive.DRIVER_OPTIONS: "-Dx=1 -XX:SharedArchiveFile=/a.jsa",
                                                            "other": "v"}
    assert class_archive.with_archive({}, "local[*]") == {class_archive.DRIVER_OPTIONS: "-XX:SharedArchiveFile=/a.jsa"}
    assert class_archive.with_archive(conf, "yarn") == conf


def test_the_sessions_driver_jvm_maps_the_class_archive_setup_made(spark):
    """The session's JVM (started by get_spark) has the archive of scripts/setup.sh mapped above
    the JDK's own: CDS reports three addresses, base, the JDK's archive's top and the top of
    the mapped archives, and the last two differ only when the dynamic archive is in."""
    import re
    import subprocess

    from pyspark import SparkContext

    from sensorwatch.runtime import class_archive

    path = class_archive.archive_path()
    assert path is not None and path.is_file(), "scripts/setup.sh makes it"
    info = subprocess.run(["jcmd", str(SparkContext._gateway.proc.pid), "VM.info"], capture_output=True,
                          text=True, timeout=60).stdout
    assert f"-XX:SharedArchiveFile={path}" in info
    base, static_top, top = re.search(r"CDS archive\(s\) mapped at: \[(\w+)-(\w+)-(\w+)\)", info).groups()
    assert int(top, 16) > int(static_top, 16) > int(base, 16)


def test_a_jobs_python_side_is_prepared_in_another_thread_while_the_session_starts(spark, live_services):
    """get_spark_while: ``prepare`` runs beside the session's start and its result comes back
    with the session; its exception is raised once the session is up, not lost."""
    import threading

    from sensorwatch.runtime.spark import get_spark_while

    session, where = get_spark_while(lambda: threading.current_thread().name, live_services, "test", model_runtime=True)
    assert session is spark and where != threading.current_thread().name

    def fails():
        raise ValueError("the model's files are unreadable")

    with pytest.raises(ValueError, match="unreadable"):
        get_spark_while(fails, live_services, "test", model_runtime=True)
