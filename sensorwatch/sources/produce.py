"""Asset series -> JSON sensor events -> Kafka, with the ground truth written alongside."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from schemas import SENSOR_NAMES
from sensorwatch.config import Settings
from sensorwatch.connectors.kafka import ensure_topic, make_producer, produce_all
from sensorwatch.runtime.progress import Progress
from sensorwatch.sources import simulator, skab
from sensorwatch.sources.simulator import AssetSeries

_TEMPLATE = ('{"asset_id":"%s","event_time":%d,"seq":%d,'
             + ",".join(f'"{name}":%.7g' for name in SENSOR_NAMES) + "}")


def encode_event(asset_id: str, time_ms: int, seq: int, readings: dict[str, float]) -> bytes:
    """One event as wire JSON (see schemas.records). Missing/NaN readings become null."""
    values = [readings.get(n) for n in SENSOR_NAMES]
    if all(v is not None and math.isfinite(v) for v in values):
        return (_TEMPLATE % (asset_id, time_ms, seq, *values)).encode()
    body = {"asset_id": asset_id, "event_time": time_ms, "seq": seq}
    body.update({n: (v if v is not None and math.isfinite(v) else None) for n, v in zip(SENSOR_NAMES, values)})
    return json.dumps(body, separators=(",", ":")).encode()


def events(series: list[AssetSeries], speedup: float = 0.0) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) messages, all assets interleaved by time since each one's first reading.

    With ``speedup > 0`` the messages are paced at ``speedup`` x real time.
    """
    order = np.concatenate([(s.times_ms - s.times_ms[0]) for s in series])
    asset_of = np.concatenate([np.full(s.length, i) for i, s in enumerate(series)])
    row_of = np.concatenate([np.arange(s.length) for s in series])
    idx = np.lexsort((asset_of, order))
    columns = [np.column_stack([s.values[n] for n in SENSOR_NAMES]) for s in series]
    keys = [s.asset_id.encode() for s in series]
    t0 = time.monotonic()
    for i in idx:
        a, r = int(asset_of[i]), int(row_of[i])
        if speedup > 0:
            wait = order[i] / 1000.0 / speedup - (time.monotonic() - t0)
            if wait > 0:
                time.sleep(wait)
        s = series[a]
        yield keys[a], encode_event(s.asset_id, int(s.times_ms[r]), r, dict(zip(SENSOR_NAMES, columns[a][r])))


# Malformed events for the quarantine: kind -> (expected reason prefix, payload maker).
def bad_payloads(n: int, asset_id: str = "pump-bad", now_ms: int | None = None) -> list[tuple[str, bytes]]:
    now_ms = now_ms or int(time.time() * 1000)
    good = {"asset_id": asset_id, "event_time": now_ms - 60_000, "current": 1.2, "pressure": 0.7}

    def js(**changes) -> bytes:
        body = {**good, **changes}
        return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()

    makers = [
        ("malformed_json", lambda i: js(seq=i)[:-7]),
        ("missing_field:asset_id", lambda i: js(seq=i, asset_id=...)),
        ("missing_field:event_time", lambda i: js(seq=i, event_time=...)),
        ("wrong_type:current", lambda i: js(seq=i, current="high")),
        ("wrong_type:event_time", lambda i: js(seq=i, event_time="2026-01-01T00:00:00Z")),
        ("out_of_range:event_time (before", lambda i: js(seq=i, event_time=86_400_000)),
        ("out_of_range:event_time (more than", lambda i: js(seq=i, event_time=now_ms + 2 * 86_400_000)),
        ("not_a_json_object", lambda i: b"[%d, 1, 2]" % i),
        ("empty_payload", lambda i: b""),
        ("no_sensor_readings", lambda i: js(seq=i, current=..., pressure=...)),
        ("invalid_value:asset_id", lambda i: js(seq=i, asset_id="")),
    ]
    return [(makers[i % len(makers)][0], makers[i % len(makers)][1](i)) for i in range(n)]


def _ground_truth_path(settings: Settings, source: str, path: Path | None) -> Path:
    if path is not None:
        return path
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%f")  # runs in the same second: two files
    return settings.home / "ground_truth" / f"{source}-{stamp}.json" if settings.services else \
        Path(f"ground_truth-{source}-{stamp}.json")


def _send(settings: Settings, source: str, series: list[AssetSeries], bad: list[tuple[str, bytes]],
          speedup: float, ground_truth: Path | None) -> dict:
    ensure_topic(settings.kafka, settings.kafka.topic, settings.kafka.partitions)
    producer = make_producer(settings.kafka)
    n_bytes = 0

    total_events = sum(s.length for s in series) + len(bad)
    bar = Progress(f"{source} -> kafka:{settings.kafka.topic}", total_events, " events")

    def counted() -> Iterator[tuple[bytes | None, bytes]]:
        nonlocal n_bytes
        good = events(series, speedup)
        stride = max(1, sum(s.length for s in series) // (len(bad) + 1))
        pending = list(bad)
        for i, (key, value) in enumerate(good):
            if i % 20000 == 0:
                bar.update(i)
            if pending and i % stride == stride - 1:  # mix the bad ones in among good ones
                _, payload = pending.pop()
                n_bytes += len(payload)
                yield b"bad", payload
            n_bytes += len(value)
            yield key, value
        for _, payload in pending:
            n_bytes += len(payload)
            yield b"bad", payload

    started = time.monotonic()
    total = produce_all(producer, settings.kafka.topic, counted())
    bar.close(total)
    seconds = time.monotonic() - started
    path = _ground_truth_path(settings, source, ground_truth)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "source": source,
        "topic": settings.kafka.topic,
        "events": total - len(bad),
        "assets": [s.asset_id for s in series],
        "anomalies": [a.to_json() for s in series for a in s.anomalies],
        "bad_events": [{"expected_reason": r, "payload": p.decode("latin-1")} for r, p in bad],
    }, indent=1))
    return {"source": source, "messages": total, "valid_events": total - len(bad), "bad_events": len(bad),
            "seconds": round(seconds, 2), "events_per_s": round(total / max(seconds, 1e-9)),
            "mb": round(n_bytes / 1e6, 2), "ground_truth": str(path)}


def simulate_to_kafka(settings: Settings, *, assets: int, seconds: int, start: datetime | None = None,
                      seed: int = 7, anomalies_per_asset: int = 3, warmup_s: int = simulator.WARMUP_S,
                      bad_events: int = 0, ground_truth: Path | None = None, speedup: float = 0.0) -> dict:
    """``speedup`` 1 with ``start`` now: a live fleet, each reading sent when it happens."""
    series = simulator.simulate(assets, seconds, start, seed, anomalies_per_asset, warmup_s)
    return _send(settings, "simulator", series, bad_payloads(bad_events), speedup, ground_truth)


def replay_skab_to_kafka(settings: Settings, *, data_dir: Path, files: list[str] | None = None,
                         speedup: float = 0.0, start: datetime | None = None,
                         ground_truth: Path | None = None) -> dict:
    series = [skab.as_series(skab.read_file(p, data_dir), start) for p in skab.list_files(data_dir, files)]
    return _send(settings, "skab", series, [], speedup, ground_truth)
