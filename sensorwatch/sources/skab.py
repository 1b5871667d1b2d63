"""SKAB CSV files as sensor events: one asset per file (read from ../shared/data/skab)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from schemas import SENSORS
from schemas.errors import UsageError
from sensorwatch.sources.simulator import Anomaly, AssetSeries


def default_data_dir() -> Path:
    """``$SENSORWATCH_SKAB_DIR``, else ``../shared/data/skab`` beside the repository."""
    from sensorwatch.config import REPO_ROOT

    return Path(os.environ.get("SENSORWATCH_SKAB_DIR") or REPO_ROOT.parent / "shared" / "data" / "skab")


@dataclass(frozen=True)
class SkabFile:
    path: Path
    asset_id: str
    frame: pd.DataFrame  # indexed by UTC timestamp; project sensor names; 'anomaly' when labelled


def list_files(data_dir: Path, files: list[str] | None = None) -> list[Path]:
    if not data_dir.is_dir():
        raise FileNotFoundError(f"SKAB data folder not found: {data_dir}")
    paths = [data_dir / f for f in files] if files else sorted(data_dir.rglob("*.csv"))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"SKAB file(s) not found: {', '.join(missing)}")
    if not paths:
        raise FileNotFoundError(f"no CSV files under {data_dir}")
    return paths


def read_file(path: Path, data_dir: Path) -> SkabFile:
    """One SKAB CSV (``;``-separated, ``datetime`` column) in the project's sensor names."""
    frame = pd.read_csv(path, sep=";")
    missing = [s.skab_column for s in SENSORS if s.skab_column not in frame.columns] + \
        (["datetime"] if "datetime" not in frame.columns else [])
    if missing:
        raise UsageError(f"{path} is not in SKAB format: missing column(s) {', '.join(missing)}")
    frame.index = pd.to_datetime(frame.pop("datetime")).dt.tz_localize("UTC")
    frame = frame.rename(columns={s.skab_column: s.name for s in SENSORS})
    rel = path.relative_to(data_dir).with_suffix("")
    asset_id = "skab-" + "-".join(rel.parts)
    return SkabFile(path, asset_id, frame)


def label_intervals(f: SkabFile) -> list[Anomaly]:
    """Contiguous runs of ``anomaly == 1`` as ground-truth intervals."""
    if "anomaly" not in f.frame.columns:
        return []
    flags = f.frame["anomaly"].to_numpy() > 0.5
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(int), [0]])))
    times = f.frame.index
    return [Anomaly(f.asset_id, "skab", (), times[a].to_pydatetime(), times[b - 1].to_pydatetime())
            for a, b in zip(edges[::2], edges[1::2])]


def as_series(f: SkabFile, start: datetime | None = None) -> AssetSeries:
    """The file as an asset series; ``start`` shifts its timestamps (keeping their spacing)."""
    shift = (start - f.frame.index[0].to_pydatetime()) if start else timedelta(0)
    anomalies = [Anomaly(a.asset_id, a.kind, a.sensors, a.start + shift, a.end + shift) for a in label_intervals(f)]
    times_ms = (f.frame.index.as_unit("ms").asi8 + int(shift.total_seconds() * 1000)).astype(np.int64)
    return AssetSeries(f.asset_id, times_ms, {s.name: f.frame[s.name].to_numpy(float) for s in SENSORS}, anomalies)
