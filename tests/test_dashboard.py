"""The Superset dashboard's files, rendered (pure; the dashboard in a browser against the
real services is in test_predict_job)."""

import io
import zipfile

import yaml

from sensorwatch.operations.dashboard import BI_ROLE, DATABASE_FILE, MASK, render, severity_band


def test_every_file_is_rendered_with_its_values_and_no_password(base_settings):
    files = render(base_settings, "pump-0004")
    assert {name.split("/")[1] for name in files} == {"metadata.yaml", "databases", "datasets", "charts",
                                                      "dashboards"}
    parsed = {name.split("/", 1)[1]: yaml.safe_load(text) for name, text in files.items()}
    assert not any("${" in text for text in files.values())
    sql = base_settings.sql
    uri = parsed[DATABASE_FILE]["sqlalchemy_uri"]
    port = base_settings.sql.http_port  # sqlalchemy-cratedb speaks CrateDB's HTTP protocol
    assert uri == f"crate://{BI_ROLE}:{MASK}@{sql.host}:{port}/?schema={sql.schema_}"
    datasets = [v for k, v in parsed.items() if k.startswith("datasets/")]
    assert {d["schema"] for d in datasets} == {sql.schema_}
    assert {d["database_uuid"] for d in datasets} == {parsed[DATABASE_FILE]["uuid"]}
    charts = [v for k, v in parsed.items() if k.startswith("charts/")]
    assert {c["dataset_uuid"] for c in charts} <= {d["uuid"] for d in datasets} and len(charts) == 5
    score = next(c for c in charts if c["viz_type"] == "echarts_timeseries_line")
    assert score["params"]["adhoc_filters"][0]["comparator"] == "pump-0004" and "pump-0004" in score["slice_name"]
    forecast = yaml.safe_load(render(base_settings, "pump-0004", "current", 5)[
        "sensorwatch_dashboard/charts/forecast_vs_actual.yaml"])
    filters = forecast["params"]["adhoc_filters"]
    assert [f.get("comparator") for f in filters[:2]] == ["pump-0004", "current"]
    assert filters[2]["sqlExpression"] == "horizon = 'short' AND steps_ahead = 5"
    board = next(v for k, v in parsed.items() if k.startswith("dashboards/"))
    placed = {c["meta"]["uuid"] for c in board["position"].values() if isinstance(c, dict) and c.get("type") == "CHART"}
    assert placed == {c["uuid"] for c in charts}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:  # what is uploaded: a valid bundle
        for name, text in files.items():
            zf.writestr(name, text)
    assert zipfile.ZipFile(buffer).testzip() is None


def test_severity_bands_follow_the_alert_levels():
    assert severity_band([4, 2]) == ("CASE WHEN severity >= 4 THEN '2: >= 4x threshold' WHEN severity >= 2 THEN "
                                     "'1: >= 2x threshold' ELSE '0: < 2x threshold' END")
