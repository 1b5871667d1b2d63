"""Background processes with pid files, and waiting until a server really answers."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from schemas.errors import OperationFailed


class ServiceError(OperationFailed):
    """A service could not be installed, started, reached or stopped."""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as dead.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is left in process group ``pgid`` (Linux /proc)."""
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:  # state, ppid, pgrp
            return True
    return False


def cpu_seconds(pid: int) -> float:
    """The CPU time process ``pid`` has used so far (user + system, Linux /proc); OSError
    where it has gone."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def read_pid(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def start_background(cmd: Sequence[str], pid_file: Path, log_file: Path, *, env: dict | None = None,
                     cwd: Path | None = None, user: str | int | None = None, group: int | None = None) -> int:
    """Start ``cmd`` detached in its own session, logging to ``log_file``; return its pid.
    With ``group``, it runs with that group and no supplementary ones (an unprivileged user's)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            list(cmd), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=cwd, start_new_session=True, user=user, group=group,
            extra_groups=[] if group is not None else None,
        )
    pid_file.write_text(str(proc.pid))
    return proc.pid


def stop_pid(pid_file: Path, timeout_s: float = 20.0) -> bool:
    """SIGTERM the process group, then SIGKILL after ``timeout_s``; return once every process
    of the group has exited (a launcher's child may outlive it while it flushes). True if one
    was running."""
    pid = read_pid(pid_file)
    pid_file.unlink(missing_ok=True)
    if pid is None:
        return False
    for sig, wait in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not group_alive(pid):
                return True
            time.sleep(0.1)
    raise ServiceError(f"process {pid} did not stop")


def wait_until(probe: Callable[[], bool], what: str, timeout_s: float, *, log_file: Path | None = None,
               pid_file: Path | None = None) -> None:
    """Poll ``probe`` until true; fail with the log's tail if it does not come up in time.
    A probe raises ServiceError to say it will never come up (that error goes out at once)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if probe():
                return
        except ServiceError:
            raise  # the probe knows it will not come up: say why now
        except Exception:  # noqa: BLE001 - a probe failing just means "not yet"
            pass
        if pid_file is not None and read_pid(pid_file) is None:
            break  # the process died: no point waiting for it
        time.sleep(0.3)
    tail = ""
    if log_file is not None and log_file.exists():
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-15:])
    raise ServiceError(f"{what} did not come up within {timeout_s:.0f}s" + (f"; log tail:\n{tail}" if tail else ""))
