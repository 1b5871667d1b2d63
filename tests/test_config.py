"""Config profiles: validated on load, one clear error naming the key, env overrides, secrets."""

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sensorwatch.cli import main as cli_main
from sensorwatch.config import DEFAULT_CONF_DIR, ConfigError, endpoint_port, load_settings


def test_both_profiles_load():
    local = load_settings("local", environ={})
    yarn = load_settings("yarn", environ={})
    assert local.services is not None and local.sql.port == 15432
    assert yarn.services is None and yarn.spark.master == "yarn" and yarn.sql.schema_ == "doc"
    assert local.storage.landing.endswith("/landing/events")


def _write_profile(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load((DEFAULT_CONF_DIR / "local.yaml").read_text())
    mutate(data)
    (tmp_path / "local.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


def test_missing_key_is_named(tmp_path):
    conf = _write_profile(tmp_path, lambda d: d["kafka"].pop("topic"))
    with pytest.raises(ConfigError, match=r"missing key 'kafka\.topic'"):
        load_settings("local", conf, environ={})


def test_unknown_key_is_named(tmp_path):
    conf = _write_profile(tmp_path, lambda d: d["kafka"].update(topik="x"))
    with pytest.raises(ConfigError, match=r"unknown key 'kafka\.topik'"):
        load_settings("local", conf, environ={})


def test_wrong_type_is_named(tmp_path):
    conf = _write_profile(tmp_path, lambda d: d["ingest"].update(max_offsets_per_trigger="lots"))
    with pytest.raises(ConfigError, match=r"key 'ingest\.max_offsets_per_trigger'"):
        load_settings("local", conf, environ={})


def test_unknown_profile():
    with pytest.raises(ConfigError, match="unknown profile 'prod'.*local, yarn"):
        load_settings("prod", environ={})


def test_environment_overrides_keep_types():
    s = load_settings("local", environ={"SENSORWATCH__KAFKA__TOPIC": "other",
                                        "SENSORWATCH__INGEST__MAX_OFFSETS_PER_TRIGGER": "1234"})
    assert s.kafka.topic == "other" and s.ingest.max_offsets_per_trigger == 1234


def test_environment_override_is_validated():
    with pytest.raises(ConfigError, match=r"key 'kafka\.partitions'"):
        load_settings("local", environ={"SENSORWATCH__KAFKA__PARTITIONS": "-3"})


def test_secrets_only_from_environment(tmp_path):
    s = load_settings("local", environ={"SENSORWATCH_SQL_PASSWORD": "s3cret"})
    assert s.sql.password.get_secret_value() == "s3cret" and "s3cret" not in repr(s)
    conf = _write_profile(tmp_path, lambda d: d["sql"].update(password="inline"))
    with pytest.raises(ConfigError, match="secret"):
        load_settings("local", conf, environ={})
    with pytest.raises(ConfigError, match="SENSORWATCH_SQL_PASSWORD"):
        load_settings("local", environ={"SENSORWATCH__SQL__PASSWORD": "x"})


def test_kafka_password_only_from_environment(tmp_path):
    s = load_settings("yarn", environ={"SENSORWATCH_KAFKA_PASSWORD": "k-s3cret"})
    assert s.kafka.security_protocol == "SASL_SSL" and s.kafka.username == "sensorwatch"
    assert s.kafka.password.get_secret_value() == "k-s3cret" and "k-s3cret" not in repr(s)
    with pytest.raises(ConfigError, match="SENSORWATCH_KAFKA_PASSWORD"):
        load_settings("yarn", environ={"SENSORWATCH__KAFKA__PASSWORD": "x"})
    conf = _write_profile(tmp_path, lambda d: d["kafka"].update(password="inline"))
    with pytest.raises(ConfigError, match="kafka.password' is a secret"):
        load_settings("local", conf, environ={})
    with pytest.raises(ConfigError, match="SASL_SSL needs kafka.username"):
        load_settings("local", environ={"SENSORWATCH__KAFKA__SECURITY_PROTOCOL": "SASL_SSL"})


def test_endpoint_port():
    assert endpoint_port("hdfs://127.0.0.1:19000/x") == 19000
    assert endpoint_port("a:1,b:2") == 1
    with pytest.raises(ConfigError):
        endpoint_port("hdfs:///data")


def test_a_command_runs_under_a_cluster_profile_without_local_services(monkeypatch, capsys):
    """A profile without a `services` section (yarn-local, yarn) has no local log directory:
    the CLI keeps native output where it is instead of failing on it (found by the YARN tests)."""
    monkeypatch.delenv("SENSORWATCH_NATIVE_LOG", raising=False)
    assert cli_main(["schema", "ddl", "--dialect", "cratedb", "--profile", "yarn-local"]) == 0, capsys.readouterr().err
    assert "CREATE TABLE" in capsys.readouterr().out


def test_cli_reports_config_error_with_exit_2(monkeypatch, capsys):
    monkeypatch.setenv("SENSORWATCH__KAFKA__PARTITIONS", "zero")
    assert cli_main(["schema", "ddl", "--dialect", "cratedb"]) == 2
    assert "kafka.partitions" in capsys.readouterr().err


@pytest.mark.parametrize("key, value, says", [("INTERVAL_S", "7", "interval_s must divide an hour"),
                                              ("ROLLING_INTERVALS", "1", "rolling_intervals must be at least 2")])
def test_feature_settings_are_checked_by_the_feature_spec_rules(key, value, says):
    with pytest.raises(ConfigError, match=f"key 'features'.*{says}"):
        load_settings("local", environ={f"SENSORWATCH__FEATURES__{key}": value})


def test_a_profile_extends_another_with_only_what_differs(tmp_path):
    local_yarn = load_settings("yarn-local", environ={})
    yarn = load_settings("yarn", environ={})
    # the user's cluster profile, pointed at the embedded endpoints and sized for this machine
    assert local_yarn.spark.master == yarn.spark.master == "yarn"
    assert local_yarn.spark.archive == yarn.spark.archive and local_yarn.storage.root == yarn.storage.root
    assert local_yarn.kafka.security_protocol == "SASL_SSL" and local_yarn.kafka.bootstrap_servers == "127.0.0.1:19093"
    assert local_yarn.spark.conf["spark.yarn.archive"] == yarn.spark.conf["spark.yarn.archive"]
    assert local_yarn.spark.conf["spark.executor.memory"] == "1g" != yarn.spark.conf["spark.executor.memory"]
    assert local_yarn.model.detector == yarn.model.detector and local_yarn.sql.user == "crate"
    (tmp_path / "a.yaml").write_text("extends: b\n")
    (tmp_path / "b.yaml").write_text("extends: a\n")
    with pytest.raises(ConfigError, match="a cycle"):
        load_settings("a", conf_dir=tmp_path, environ={})
    (tmp_path / "c.yaml").write_text("extends: nowhere\n")
    with pytest.raises(ConfigError, match="extends 'nowhere'"):
        load_settings("c", conf_dir=tmp_path, environ={})


def test_a_cluster_submission_carries_the_overrides_and_hides_the_secrets(monkeypatch):
    from sensorwatch.runtime.submit import submission

    monkeypatch.setenv("SENSORWATCH__KAFKA__TOPIC", "elsewhere")
    monkeypatch.setenv("SENSORWATCH_KAFKA_PASSWORD", "s3cret")
    settings = load_settings("yarn-local")
    sub = submission(settings, "ingest")
    # the driver's container gets the settings this process sees
    assert sub.conf["spark.yarn.appMasterEnv.SENSORWATCH__KAFKA__TOPIC"] == "elsewhere"
    assert sub.conf["spark.yarn.appMasterEnv.SENSORWATCH_KAFKA_PASSWORD"] == "s3cret"
    assert "spark.yarn.appMasterEnv.SENSORWATCH_KAFKA_PASSWORD=s3cret" in sub.command()
    # ... the printed command names the variable, never the value
    shell = sub.shell()
    assert "s3cret" not in shell and '"$SENSORWATCH_KAFKA_PASSWORD"' in shell
    # both profile files travel (yarn-local extends yarn); the Hadoop client conf is the embedded one
    assert [Path(f).name for f in sub.files.split(",")] == ["yarn.yaml", "yarn-local.yaml"]
    assert sub.env["HADOOP_CONF_DIR"].endswith("var/yarn/conf") and shell.startswith("HADOOP_CONF_DIR=")


def _leaves(data, prefix=()):
    """Every key path of a profile down to its values (a list is a value)."""
    for key, value in data.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, (*prefix, key))
        else:
            yield (*prefix, key)


LOCAL = yaml.safe_load((DEFAULT_CONF_DIR / "local.yaml").read_text())
EXTREMES = [None, "", "x" * 10_000, -1, 0, 10**30, -(10**30), 1e308, float("nan"), float("inf"), True, [], {},
            ["a", 1, None], {"nested": {"deeper": 1}}, "127.0.0.1:99999", "'; DROP TABLE x; --", "../../../etc"]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(_leaves(LOCAL))), st.sampled_from(["remove", *range(len(EXTREMES))]))
def test_any_key_removed_mistyped_or_extreme_loads_or_is_one_error_naming_it(tmp_path_factory, path, change):
    """Fuzz of the config loader: every leaf key of the local profile removed or given
    a wrong type or an extreme value: the profile loads (a default, or a value that is
    valid), or one ConfigError names the key; never another exception."""
    data = copy.deepcopy(LOCAL)
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    if change == "remove":
        parent.pop(path[-1])
    else:
        parent[path[-1]] = EXTREMES[change]
    conf = tmp_path_factory.mktemp("conf")
    (conf / "local.yaml").write_text(yaml.safe_dump(data))
    try:
        loaded = load_settings("local", conf, environ={})
    except ConfigError as exc:
        assert ".".join(path) in str(exc) or path[-1] in str(exc), (path, change, str(exc))
        assert "\n" not in str(exc) and "Traceback" not in str(exc)
        return
    if change != "remove":  # accepted: the value is what was given (or its sensible reading)
        assert loaded.profile == "local"


@pytest.mark.parametrize("profile", ["local", "yarn"])
def test_a_live_run_scores_only_what_the_stream_has_had_time_to_land(profile):
    """A run at T (scheduled ``--at T``, or a continuous cycle whose clock says T) scores the
    interval that ended ``predict.lateness_s`` before T, and each shipped profile allows the
    ingest stream more than one trigger for it (measured by bench/load.py: with no lateness,
    the newest ~25 s of every cycle had not landed and stayed unscored)."""
    from datetime import UTC, datetime, timedelta

    from sensorwatch.pipeline.continuous import Cycles
    from sensorwatch.pipeline.prediction import scored_range

    settings = load_settings(profile, environ={})
    trigger = settings.ingest.processing_time.split()
    trigger_s = float(trigger[0]) * {"second": 1, "minute": 60}[trigger[1].rstrip("s")]
    lateness = timedelta(seconds=settings.predict.lateness_s)
    assert lateness.total_seconds() > trigger_s
    at = datetime(2026, 12, 2, 10, 0, 7, tzinfo=UTC)
    span = scored_range(settings, at=at)
    assert span.end <= at - lateness < span.end + timedelta(seconds=settings.features.interval_s)
    assert span.end - span.start == timedelta(seconds=settings.predict.interval_s)
    clock = iter([at, at + timedelta(seconds=30)])
    cycles = Cycles(settings, clock=lambda: next(clock))
    first = cycles.next_span()
    assert first == span
    cycles.scored_until = first.end
    second = cycles.next_span()  # 30 s later: the 30 s that have landed since, no more
    assert second.start == first.end and second.end - first.end == timedelta(seconds=30)
