"""PostgreSQL 15 (Debian) as the local stand-in for CrateDB: same wire protocol.

PostgreSQL refuses to run as root, so as root the server runs as user ``postgres``.
It listens on 127.0.0.1 only; local connections are trusted (loopback, dev only).
"""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path

from sensorwatch.config import Settings
from sensorwatch.connectors.sql import sql_reachable
from sensorwatch.services.process import ServiceError, wait_until

PG_BIN = Path(os.environ.get("SENSORWATCH_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise ServiceError("running as root needs the 'postgres' user (apt-get install postgresql-15)") from None
    return "postgres"


def _pg(cmd: list[str], user: str | None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, user=user)
    if check and result.returncode != 0:
        raise ServiceError(f"{' '.join(cmd[:2])} failed: {result.stdout[-800:]}{result.stderr[-800:]}")
    return result


def _dirs(settings: Settings) -> tuple[Path, Path]:
    return settings.home / "postgres" / "data", settings.home / "postgres" / "run"


def start(settings: Settings) -> str:
    if not (PG_BIN / "initdb").exists():
        raise ServiceError(f"PostgreSQL binaries not found in {PG_BIN} (apt-get install postgresql-15)")
    user = _run_as()
    data, run = _dirs(settings)
    log = settings.home / "log" / "postgres.log"
    for d in (data.parent, run, log.parent):
        d.mkdir(parents=True, exist_ok=True)
    if user:
        for d in (data.parent, run):
            subprocess.run(["chown", "-R", user, str(d)], check=True)
        log.touch()
        subprocess.run(["chown", user, str(log)], check=True)
    if not (data / "PG_VERSION").exists():
        _pg([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
             "--no-locale"], user)
    status = _pg([str(PG_BIN / "pg_ctl"), "-D", str(data), "status"], user, check=False)
    if status.returncode != 0:
        opts = (f"-c listen_addresses=127.0.0.1 -c port={settings.sql.port} "
                f"-c unix_socket_directories={run} -c fsync=off -c full_page_writes=off")
        _pg([str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts, "-w", "-t", "60", "start"], user)
    _ensure_role_and_db(settings, user)
    wait_until(lambda: sql_reachable(settings), f"PostgreSQL at {settings.sql.host}:{settings.sql.port}", 30,
               log_file=log)
    return f"PostgreSQL at {settings.sql.host}:{settings.sql.port}/{settings.sql.database}"


def _ensure_role_and_db(settings: Settings, user: str | None) -> None:
    import psycopg

    from sensorwatch.connectors.sql import statements as q

    def run(statement: q.Statement):
        return conn.execute(statement.text(), statement.params or None)

    with psycopg.connect(host="127.0.0.1", port=settings.sql.port, user="postgres", dbname="postgres",
                         autocommit=True) as conn:
        role, database = settings.sql.user, settings.sql.database
        if not run(q.pg_role_exists(role)).fetchone():
            run(q.pg_create_owner(role))
        if not run(q.pg_database_exists(database)).fetchone():
            run(q.pg_create_database(database, role))


def stop(settings: Settings) -> bool:
    data, _ = _dirs(settings)
    if not (data / "PG_VERSION").exists():
        return False
    user = _run_as()
    status = _pg([str(PG_BIN / "pg_ctl"), "-D", str(data), "status"], user, check=False)
    if status.returncode != 0:
        return False
    _pg([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], user)
    return True


def is_up(settings: Settings) -> bool:
    return sql_reachable(settings)
