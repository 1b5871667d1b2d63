"""The Crate console: CrateDB's Admin UI, served at its HTTP port, where users run ad-hoc SQL.

``check`` opens it in headless Chromium as the BI login (its password sent as a browser
sends it after the login prompt), runs one query in its Console, and returns the rows the
page shows, with a screenshot (``services/crate_console_browser.py``, in Superset's
environment, where Selenium is).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from sensorwatch.config import Settings
from sensorwatch.connectors.sql import SqlStore
from sensorwatch.connectors.sql import statements as q
from sensorwatch.connectors.sql.statements import BI_ROLE
from sensorwatch.operations.dashboard import bi_password
from sensorwatch.services import superset
from sensorwatch.services.process import ServiceError


def fleet_query(settings: Settings) -> str:
    """What the demo runs in the console: the fleet's state, one row per asset."""
    return q.fleet_health(SqlStore(settings).target).text()


def url(settings: Settings) -> str:
    return f"http://{settings.sql.host}:{settings.sql.http_port}/#!/console"


def check(settings: Settings, query: str, screenshot: Path, timeout_s: float = 90) -> dict[str, Any]:
    """Run ``query`` in the console as the BI login (set up first); what the page showed:
    ``headers``, ``rows`` (as text), ``error``, ``user``, and the screenshot written."""
    password = bi_password(settings)
    SqlStore(settings).with_views().create_read_only_login(BI_ROLE, password)
    script = Path(superset.__file__).with_name("crate_console_browser.py")
    with tempfile.TemporaryDirectory() as tmp:
        secret, sql = Path(tmp) / "password", Path(tmp) / "query.sql"
        secret.write_text(password)
        secret.chmod(0o600)
        sql.write_text(query)
        done = subprocess.run([str(superset.venv() / "bin" / "python"), str(script),
                               f"http://{settings.sql.host}:{settings.sql.http_port}", BI_ROLE,
                               str(secret), str(sql), str(screenshot)],
                              capture_output=True, text=True, timeout=timeout_s + 60)
    if done.returncode != 0:
        raise ServiceError(f"the Crate console could not be checked in Chromium: {done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
