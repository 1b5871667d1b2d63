"""Security checks: the services listen on the loopback interface only (read from the
kernel's socket tables), and no SQL text is built from values outside the one module that
builds statements with parameters. (The BI login's privileges: test_predict_job; Kafka
without credentials refused: test_services; secrets kept out of logs, job_runs, MLflow and
printed commands: test_predict_job.)"""

import ipaddress
import os
import re
from pathlib import Path

from sensorwatch.config import REPO_ROOT


def _listening(table: str) -> dict[int, tuple[str, int]]:
    """socket inode -> (local address, port) of every LISTEN socket in /proc/net/tcp{,6}."""
    found = {}
    for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], int(fields[9])
        if state != "0A":  # TCP_LISTEN
            continue
        hex_addr, hex_port = local.split(":")
        raw = bytes.fromhex(hex_addr)
        if len(raw) == 4:
            address = str(ipaddress.IPv4Address(raw[::-1]))
        else:  # four little-endian 32-bit words
            address = str(ipaddress.IPv6Address(b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))))
        found[inode] = (address, int(hex_port, 16))
    return found


def _group(pid: int) -> list[int]:
    """The processes of ``pid``'s process group (a service and what it started)."""
    pgid = os.getpgid(pid)
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    pids.append(int(entry.name))
            except ProcessLookupError:
                continue
    return pids


def _sockets(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if match := re.fullmatch(r"socket:\[(\d+)\]", target):
            inodes.add(int(match.group(1)))
    return inodes


def _loopback(address: str) -> bool:
    """127.0.0.0/8 or ::1, also written as an IPv4-mapped IPv6 address (a JVM's dual stack)."""
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def test_every_service_listens_on_loopback_only(live_services):
    run = live_services.home / "run"
    pids = {p.stem: int(p.read_text().split()[0]) for p in run.glob("*.pid")}
    listeners = {**_listening("tcp"), **_listening("tcp6")}
    seen: dict[str, list[tuple[str, int]]] = {}
    for name, pid in pids.items():
        try:
            group = _group(pid)
        except ProcessLookupError:  # a stale pid file of a stopped optional service
            continue
        seen[name] = sorted({listeners[i] for p in group for i in _sockets(p) if i in listeners})
    assert {"kafka", "hdfs-namenode", "hdfs-datanode", "cratedb"} <= {n for n, s in seen.items() if s}, seen
    exposed = {name: [(a, port) for a, port in sockets if not _loopback(a)] for name, sockets in seen.items()}
    assert not any(exposed.values()), exposed
    kafka_ports = {port for _, port in seen["kafka"]}
    assert len(kafka_ports) == 3  # PLAINTEXT, SASL_SSL and the KRaft controller, all on 127.0.0.1
    svc = live_services.embedded  # CrateDB: PostgreSQL protocol, HTTP (console) and transport
    assert {port for _, port in seen["cratedb"]} == {live_services.sql.port, live_services.sql.http_port,
                                                      svc.cratedb_transport_port}


# SQL text outside sensorwatch/connectors/sql/statements.py (where identifiers go through
# psycopg.sql and values are parameters): each occurrence and why it carries no value.
ALLOWED_SQL_TEXT = {
    "sensorwatch/connectors/sql/client.py": "a constant probe (SELECT 1)",
    "sensorwatch/services/hiveserver2.py": "a constant probe (SELECT 1)",
    "sensorwatch/cli/stack.py": "`schema ddl` prints DDL for a person to run (table names from schemas/), runs nothing",
    "sensorwatch/connectors/history.py": "HiveQL over the landing zone (no parameters in HiveServer2): the database "
                                         "name is checked by its pattern in config, partition dates by a regex",
}
SQL_TEXT = re.compile(r"""(?:execute|query|execute_many)\(\s*(?:settings,\s*)?f?["']|f["'](?:SELECT|INSERT|UPDATE|"""
                      r"""DELETE|CREATE|DROP|ALTER|GRANT|MSCK)\s""")


def test_no_sql_text_is_built_outside_the_statements_module():
    found = {}
    for path in [*REPO_ROOT.glob("sensorwatch/**/*.py"), *REPO_ROOT.glob("models/*.py"),
                 *REPO_ROOT.glob("features/*.py")]:
        relative = str(path.relative_to(REPO_ROOT))
        if relative == "sensorwatch/connectors/sql/statements.py":
            continue
        lines = [n for n, line in enumerate(path.read_text().splitlines(), 1) if SQL_TEXT.search(line)]
        if lines:
            found[relative] = lines
    assert set(found) == set(ALLOWED_SQL_TEXT), found
