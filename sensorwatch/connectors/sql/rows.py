"""pandas rows -> what the SQL driver (and a JSON encoder) takes: UTC datetimes and Python
scalars and lists instead of pandas and numpy values."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Each row of ``frame`` as a dict of plain values."""
    return [{k: plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def plain(value: Any) -> Any:
    """One value: a Timestamp -> an aware (UTC if naive) datetime, a numpy scalar -> its
    Python value, an array or list -> a list of plain values."""
    if isinstance(value, pd.Timestamp):
        return (value.tz_localize("UTC") if value.tzinfo is None else value).to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, np.ndarray)):
        return [plain(v) for v in value]
    return value
