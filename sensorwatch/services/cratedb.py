"""The embedded CrateDB: the SQL store of the ``local`` profile, single node on 127.0.0.1.

No package registry ships a CrateDB server, so it comes from CrateDB's release tarball
(its own Java runtime and the Admin UI inside): ``SENSORWATCH_CRATEDB_TARBALL``, else
``../shared/vendor/cratedb/crate-<version>.tar.gz`` beside the checkout. It is checked
against its sha256 and unpacked once into the cache, keyed by version.

CrateDB refuses to run as root: as root it runs as ``nobody``, and everything it reads or
writes (the unpacked release, its data and logs) must then be reachable by that user. A
folder on a path ``nobody`` cannot enter (a clone under root's home) is replaced by a
per-checkout folder under ``/var/tmp`` (the checkout's ``var/cratedb`` links to it).

Host-based authentication is on: the superuser ``crate`` is trusted from 127.0.0.1 (the
local profile's jobs connect as it), every other user (the BI login) needs its password.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from sensorwatch.config import CACHE_ROOT, REPO_ROOT, Settings
from sensorwatch.connectors.sql import sql_reachable
from sensorwatch.services.process import ServiceError, read_pid, start_background, stop_pid, wait_until

NAME = "cratedb"
VERSION = "6.4.3"
SHA256 = "17fe6f230bae16a51591d4b68afd5869ea8933f2613ec1761f852b64816e2d95"  # crate-6.4.3.tar.gz
TARBALL_ENV = "SENSORWATCH_CRATEDB_TARBALL"
RUN_AS = "nobody"  # the unprivileged user CrateDB runs as when we are root
SHARED_CACHE = Path("/var/cache/sensorwatch")  # the cache when root's own is out of that user's reach


def tarball() -> Path:
    """Where CrateDB's release tarball is: the environment variable, else the vendored copy."""
    given = os.environ.get(TARBALL_ENV)
    path = Path(given) if given else REPO_ROOT.parent / "shared" / "vendor" / "cratedb" / f"crate-{VERSION}.tar.gz"
    if not path.is_file():
        raise ServiceError(f"CrateDB's release tarball is not at {path}: download crate-{VERSION}.tar.gz from "
                           f"https://cdn.crate.io/downloads/releases/cratedb/x64_linux/ and set {TARBALL_ENV} "
                           "to its path")
    return path


def _runtime_user() -> pwd.struct_passwd | None:
    """The user CrateDB runs as: ``nobody`` when we are root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(RUN_AS)
    except KeyError:
        raise ServiceError(f"CrateDB refuses to run as root, and there is no user {RUN_AS!r} to run it as") from None


def reachable(path: Path, user: pwd.struct_passwd | None) -> bool:
    """Whether ``user`` (None: ourselves) can enter every folder on the way to ``path``."""
    if user is None:
        return True
    for folder in [*reversed(path.resolve().parents), path.resolve()]:
        if not folder.exists():
            break
        st = folder.stat()
        bit = 0o100 if st.st_uid == user.pw_uid else 0o010 if st.st_gid == user.pw_gid else 0o001
        if not st.st_mode & bit:
            return False
    return True


def verified(source: Path) -> Path:
    """``source``, once its sha256 is CrateDB's release's."""
    digest = hashlib.sha256()
    with open(source, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != SHA256:
        raise ServiceError(f"{source}: sha256 {digest.hexdigest()} is not CrateDB {VERSION}'s ({SHA256})")
    return source


def install() -> Path:
    """CrateDB unpacked in the cache (once per version, the tarball checked first); its home."""
    user = _runtime_user()
    cache = CACHE_ROOT if reachable(CACHE_ROOT, user) else SHARED_CACHE
    home = cache / f"cratedb-{VERSION}" / f"crate-{VERSION}"
    if (home / "bin" / "crate").exists():
        return home
    source = verified(tarball())
    partial = home.parent.with_name(home.parent.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    with tarfile.open(source) as archive:
        archive.extractall(partial, filter="tar")
    partial.rename(home.parent)  # complete or absent: a failed unpack is never taken for an install
    for folder in (cache, home.parent):
        folder.chmod(0o755)
    return home


def _state_dir(settings: Settings) -> Path:
    """The node's data and logs: ``var/cratedb``, or a folder the runtime user can reach
    that ``var/cratedb`` links to."""
    local = settings.home / NAME
    user = _runtime_user()
    if local.is_symlink() or reachable(settings.home, user):
        local.mkdir(parents=True, exist_ok=True)
        return local.resolve()
    outside = Path("/var/tmp") / f"sensorwatch-{hashlib.sha1(str(settings.home).encode()).hexdigest()[:12]}" / NAME
    outside.mkdir(parents=True, exist_ok=True)
    settings.home.mkdir(parents=True, exist_ok=True)
    local.symlink_to(outside)
    return outside


@dataclass(frozen=True)
class Node:
    """One CrateDB node on 127.0.0.1: its ports and its folder (data and logs)."""

    name: str
    psql_port: int
    http_port: int
    transport_port: int
    state: Path


def node_command(home: Path, node: Node, cluster: str, peers: tuple[Node, ...] = ()) -> list[str]:
    """``bin/crate`` with the node's settings: a single node, or one of ``peers`` (all the
    cluster's nodes, this one included) that find each other on their transport ports."""
    options: dict[str, object] = {
        "cluster.name": cluster,
        "node.name": node.name,
        "network.host": "127.0.0.1",
        "http.port": node.http_port,
        "psql.port": node.psql_port,
        "transport.port": node.transport_port,
        "path.data": node.state / "data",
        "path.logs": node.state / "logs",
        # The local superuser is trusted on loopback; every other user gives its password.
        "auth.host_based.enabled": "true",
        "auth.host_based.config.0.user": "crate",
        "auth.host_based.config.0.address": "127.0.0.1",
        "auth.host_based.config.0.method": "trust",
        "auth.host_based.config.99.method": "password",
        # Dev machines: the disk watermarks would make a nearly full disk read-only.
        "cluster.routing.allocation.disk.threshold_enabled": "false",
    }
    if peers:
        options["discovery.seed_hosts"] = ",".join(f"127.0.0.1:{p.transport_port}" for p in peers)
        options["cluster.initial_master_nodes"] = ",".join(p.name for p in peers)
    else:
        options["discovery.type"] = "single-node"
    return [str(home / "bin" / "crate"), *(f"-C{key}={value}" for key, value in options.items())]


def launch(node: Node, command: list[str], heap: str, pid_file: Path, log_file: Path) -> None:
    """Start a node in the background as the runtime user, its folders given to it."""
    user = _runtime_user()
    for sub in ("data", "logs"):
        (node.state / sub).mkdir(parents=True, exist_ok=True)
        if user is not None:
            os.chown(node.state / sub, user.pw_uid, user.pw_gid)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CRATE_HEAP_SIZE": heap, "CRATE_DISABLE_GC_LOGGING": "1",
           "HOME": str(node.state)}
    start_background(command, pid_file, log_file, env=env, cwd=node.state,
                     user=user.pw_uid if user else None, group=user.pw_gid if user else None)


def local_node(settings: Settings) -> Node:
    svc = settings.embedded
    return Node("sensorwatch-1", settings.sql.port, settings.sql.http_port, svc.cratedb_transport_port,
                _state_dir(settings))


def start(settings: Settings) -> str:
    pid_file, log_file = settings.home / "run" / f"{NAME}.pid", settings.home / "log" / f"{NAME}.log"
    if read_pid(pid_file) is None:
        node = local_node(settings)
        command = node_command(install(), node, f"sensorwatch-{node.transport_port}")
        launch(node, command, settings.embedded.cratedb_heap, pid_file, log_file)
    wait_until(lambda: sql_reachable(settings), f"CrateDB at {settings.sql.host}:{settings.sql.port}", 90,
               log_file=log_file, pid_file=pid_file)
    return (f"CrateDB {VERSION} at {settings.sql.host}:{settings.sql.port} (PostgreSQL protocol), "
            f"console http://127.0.0.1:{settings.sql.http_port}/")


def stop(settings: Settings) -> bool:
    return stop_pid(settings.home / "run" / f"{NAME}.pid", timeout_s=30)


def is_up(settings: Settings) -> bool:
    return sql_reachable(settings)
