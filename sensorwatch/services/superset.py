"""Apache Superset, the BI tool of the demo: its web server on 127.0.0.1, from PyPI in an
environment of its own (``.venv-superset``, as Airflow has ``.venv-airflow``).

Started only on request (``sensorwatch dashboard up``, or ``services up --with superset``).
Its own metadata (users, the database connection, datasets, charts, dashboards) is a SQLite
file under ``var/superset``; the secret key and the ``admin`` password are generated there
once (mode 0600). What it shows is provisioned by ``sensorwatch.operations.dashboard`` from the files
in ``conf/superset``; the data it reads is the SQL store, as the read-only BI login.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import urllib.request
from pathlib import Path

from sensorwatch.config import REPO_ROOT, Settings
from sensorwatch.services.process import ServiceError, read_pid, start_background, stop_pid, wait_until

ADMIN = "admin"
CONFIG = '''# Written by sensorwatch (sensorwatch/services/superset.py): the embedded Superset's settings.
SECRET_KEY = {secret!r}
SQLALCHEMY_DATABASE_URI = {metadata!r}
SQLALCHEMY_TRACK_MODIFICATIONS = False
# No demo content, no outbound calls.
SUPERSET_LOAD_EXAMPLES = False
FEATURE_FLAGS = {{"DASHBOARD_RBAC": False}}
'''


def venv() -> Path:
    """The Superset environment, beside the jobs environment (``make setup`` creates it)."""
    return REPO_ROOT / ".venv-superset"


def home(settings: Settings) -> Path:
    return settings.home / "superset"


def url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.embedded.superset_port}"


def secret(path: Path, length: int = 32) -> str:
    """A generated secret, kept in ``path`` (0600) so that restarts keep it."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(length))
        path.chmod(0o600)
    return path.read_text().strip()


def admin_password(settings: Settings) -> str:
    return secret(home(settings) / "admin_password", 18)


def environ(settings: Settings) -> dict[str, str]:
    """What every ``superset`` command and the web server run with."""
    base = home(settings)
    config = base / "superset_config.py"
    config.write_text(CONFIG.format(secret=secret(base / "secret_key", 42),
                                    metadata=f"sqlite:///{base / 'superset.db'}"))
    return {**os.environ, "SUPERSET_CONFIG_PATH": str(config), "FLASK_APP": "superset",
            "PYTHONPATH": "", "SUPERSET_HOME": str(base)}


def superset(settings: Settings, *args: str, timeout_s: float = 300) -> str:
    """Run the ``superset`` CLI of its environment; its output, or ``ServiceError``."""
    exe = venv() / "bin" / "superset"
    if not exe.exists():
        raise ServiceError(f"Superset is not installed ({exe} missing): run `make setup`")
    done = subprocess.run([str(exe), *args], env=environ(settings), cwd=home(settings), capture_output=True,
                          text=True, timeout=timeout_s)
    if done.returncode != 0:
        raise ServiceError(f"superset {' '.join(args[:2])} failed (exit {done.returncode}): "
                           f"{(done.stderr or done.stdout).strip()[-2000:]}")
    return done.stdout


def _initialise(settings: Settings) -> None:
    """The metadata database, the admin user and Superset's roles: once per ``var``."""
    stamp = home(settings) / ".initialised"
    if stamp.exists():
        return
    superset(settings, "db", "upgrade")
    superset(settings, "fab", "create-admin", "--username", ADMIN, "--firstname", "Sensorwatch", "--lastname",
             "Admin", "--email", "admin@localhost", "--password", admin_password(settings))
    superset(settings, "init")
    stamp.touch()


def command(settings: Settings) -> list[str]:
    """One gunicorn worker with threads: enough for a dashboard's parallel chart queries."""
    return [str(venv() / "bin" / "gunicorn"), "--workers", "1", "--worker-class", "gthread", "--threads", "8",
            "--timeout", "120", "--bind", f"127.0.0.1:{settings.embedded.superset_port}",
            "superset.app:create_app()"]


def _ready(settings: Settings) -> bool:
    try:
        with urllib.request.urlopen(f"{url(settings)}/health", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def start(settings: Settings) -> str:
    home(settings).mkdir(parents=True, exist_ok=True)
    run, log = settings.home / "run", settings.home / "log"
    if read_pid(run / "superset.pid") is None:
        _initialise(settings)
        start_background(command(settings), run / "superset.pid", log / "superset.log", env=environ(settings),
                         cwd=home(settings))
    wait_until(lambda: _ready(settings), f"Superset on {url(settings)}", 180, log_file=log / "superset.log",
               pid_file=run / "superset.pid")
    return f"Apache Superset at {url(settings)} (user {ADMIN}, password in {home(settings) / 'admin_password'})"


def stop(settings: Settings) -> bool:
    return stop_pid(settings.home / "run" / "superset.pid")


def is_up(settings: Settings) -> bool:
    return _ready(settings)
