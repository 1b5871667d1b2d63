"""The operators' dashboard in Apache Superset, provisioned from the files in ``conf/superset``.

``provision`` renders those files into an import bundle (the SQL store's address as the
read-only BI login, the schema, the severity levels of the alerts, the asset of the score
chart), imports it through Superset's assets API (every object overwritten by its UUID:
a second run updates, never duplicates), and has Superset read each dataset's columns
from the database. ``check`` opens the dashboard in headless Chromium and reports the rows
each chart received, with a screenshot (``sensorwatch.services.superset_browser``).
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import quote

import requests

from sensorwatch.config import DEFAULT_CONF_DIR, Settings
from sensorwatch.connectors.sql import SqlStore
from sensorwatch.connectors.sql import statements as q
from sensorwatch.operations.asset_plot import most_severe_asset
from sensorwatch.services import superset
from sensorwatch.services.process import ServiceError

log = logging.getLogger(__name__)
BUNDLE = DEFAULT_CONF_DIR / "superset"
SLUG = "sensorwatch"
BI_ROLE = q.BI_ROLE
MASK = "XXXXXXXXXX"  # Superset's placeholder for a password that is given separately
DATABASE_FILE = "databases/sensorwatch.yaml"


@dataclass(frozen=True)
class Dashboard:
    """A provisioned dashboard: where it is, and its charts (name -> id)."""

    url: str
    path: str
    charts: dict[str, int] = field(default_factory=dict)
    asset: str = ""


def severity_band(levels: list[float]) -> str:
    """SQL: the alert severity level an event's severity (peak / threshold) reached, as a
    label that sorts (``alerts.severity_levels``)."""
    ordered = sorted(levels)
    cases = " ".join(f"WHEN severity >= {level:g} THEN '{i + 1}: >= {level:g}x threshold'"
                     for i, level in reversed(list(enumerate(ordered))))
    return f"CASE {cases} ELSE '0: < {ordered[0]:g}x threshold' END" if ordered else "'all'"


def render(settings: Settings, asset: str, sensor: str = "pressure", ahead: int = 15) -> dict[str, str]:
    """The bundle's files (path in the ZIP -> text), placeholders filled in (pure). The
    database's password is Superset's mask: it travels beside the bundle. The forecast
    chart shows ``sensor`` (the main sensor of the asset's most severe event) and the
    forecasts made ``ahead`` periods before (the short horizon's end)."""
    sql = settings.sql
    uri = f"crate://{quote(BI_ROLE)}:{MASK}@{sql.host}:{settings.sql.http_port}/?schema={sql.schema_}"
    levels = settings.alerts.severity_levels if settings.alerts is not None else []
    values = {"SQLALCHEMY_URI": uri, "SCHEMA": sql.schema_, "SEVERITY_BAND": severity_band(list(levels)),
              "ASSET": asset, "SCORE_TITLE": f"Score vs threshold: {asset or 'no events yet'}",
              "FORECAST_SENSOR": sensor, "FORECAST_TITLE": f"Forecast vs actual: {asset or 'no events yet'} {sensor}"}
    quoted = {k: json.dumps(v) for k, v in values.items()}
    quoted["FORECAST_AHEAD"] = str(int(ahead))  # inside SQL: a number
    files = {}
    for path in sorted(BUNDLE.rglob("*.yaml")):
        files[f"sensorwatch_dashboard/{path.relative_to(BUNDLE)}"] = Template(path.read_text()).substitute(quoted)
    return files


def main_sensor(store: SqlStore, asset: str) -> str:
    """The sensor named first by the asset's most severe event (the forecast chart's), or pressure."""
    rows = store.query(q.top_events_of(store.target, asset, 1)) if asset else []
    return rows[0].sensors[0] if rows and rows[0].sensors else "pressure"


def bi_password_file(settings: Settings) -> Path:
    """Where a generated BI password is kept (when $SENSORWATCH_BI_PASSWORD is not given)."""
    return superset.home(settings) / "bi_password"


def bi_password(settings: Settings) -> str:
    """$SENSORWATCH_BI_PASSWORD, or one generated and kept in ``bi_password_file``."""
    given = os.environ.get("SENSORWATCH_BI_PASSWORD")
    return given or superset.secret(bi_password_file(settings), 18)


def provision(settings: Settings, asset: str | None = None) -> Dashboard:
    """Superset up (and CrateDB), the BI login, the bundle imported, the datasets'
    columns read from the store; returns where the dashboard is."""
    from sensorwatch import services

    services.up(settings, ["superset"])
    store = SqlStore(settings).with_views()
    password = bi_password(settings)
    store.create_read_only_login(BI_ROLE, password)
    asset = asset or most_severe_asset(store) or ""
    bundle = io.BytesIO()
    with zipfile.ZipFile(bundle, "w") as zf:
        ahead = store.query(q.short_horizon(store.target))[0].steps or 15
        for name, text in render(settings, asset, main_sensor(store, asset), ahead).items():
            zf.writestr(name, text)
    api = Api(settings)
    api.post("/api/v1/assets/import/", files={"bundle": ("sensorwatch_dashboard.zip", bundle.getvalue())},
             data={"passwords": json.dumps({DATABASE_FILE: password})})
    for dataset in api.get(f"/api/v1/dashboard/{SLUG}/datasets")["result"]:
        api.put(f"/api/v1/dataset/{dataset['id']}/refresh")
    charts = {c["slice_name"]: int(c["id"]) for c in api.get(f"/api/v1/dashboard/{SLUG}/charts")["result"]}
    path = f"/superset/dashboard/{SLUG}/"
    log.info("dashboard %s: %d charts, score chart for %s", path, len(charts), asset or "(no events yet)")
    return Dashboard(f"{superset.url(settings)}{path}", path, charts, asset)


def check(settings: Settings, dashboard: Dashboard, screenshot: Path, timeout_s: float = 120) -> dict[str, Any]:
    """Open the dashboard in headless Chromium as the admin; the rows each chart received
    (by chart id), errors, and the screenshot written."""
    script = Path(superset.__file__).with_name("superset_browser.py")
    done = subprocess.run([str(superset.venv() / "bin" / "python"), str(script), superset.url(settings),
                           dashboard.path, superset.ADMIN, str(superset.home(settings) / "admin_password"),
                           str(screenshot), str(len(dashboard.charts))],
                          capture_output=True, text=True, timeout=timeout_s + 60)
    if done.returncode != 0:
        raise ServiceError(f"the dashboard could not be checked in Chromium: {done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


class Api:
    """Superset's REST API as the admin (JWT, and the CSRF token its writes need)."""

    def __init__(self, settings: Settings) -> None:
        self.base = superset.url(settings)
        self.session = requests.Session()
        token = self.post("/api/v1/security/login", json={
            "username": superset.ADMIN, "password": superset.admin_password(settings), "provider": "db"})
        self.session.headers["Authorization"] = f"Bearer {token['access_token']}"
        token = self.get("/api/v1/security/csrf_token/")["result"]
        self.session.headers.update({"X-CSRFToken": token, "Referer": self.base})

    def get(self, path: str) -> Any:
        return self._call("GET", path)

    def post(self, path: str, **kw: Any) -> Any:
        return self._call("POST", path, **kw)

    def put(self, path: str) -> Any:
        return self._call("PUT", path)

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        answer = self.session.request(method, f"{self.base}{path}", timeout=120, **kw)
        if answer.status_code >= 400:
            raise ServiceError(f"Superset answered {answer.status_code} to {method} {path}: {answer.text[:2000]}")
        return answer.json()
