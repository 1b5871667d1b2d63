"""The challenger against the champion: the comparison view's rows (one per asset and
version pair, ``v_model_comparison``) summed per version pair."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

EVENT_COUNTS = ("champion_events", "challenger_events", "matched_events", "missed_events", "extra_events")


@dataclass(frozen=True)
class PairTotals:
    champion: int
    challenger: int
    assets: int
    intervals: int
    agreement: float  # the share of intervals both versions judged alike, over every asset
    events: dict[str, int]  # EVENT_COUNTS -> their sum

    def line(self) -> str:
        e = self.events
        return (f"v{self.challenger} against v{self.champion}: {self.assets} asset(s), {self.intervals} intervals, "
                f"agreement {self.agreement:.3f}; champion events {e['champion_events']}, challenger events "
                f"{e['challenger_events']}: matched {e['matched_events']}, missed {e['missed_events']}, "
                f"extra {e['extra_events']}")


def pair_totals(rows: Sequence[Any]) -> list[PairTotals]:
    """Totals per (champion, challenger) version pair of the view's named rows, in their order;
    the agreement weighted by each asset's intervals."""
    pairs: dict[tuple[int, int], list[Any]] = {}
    for row in rows:
        pairs.setdefault((row.champion_version, row.challenger_version), []).append(row)
    totals = []
    for (champion, challenger), group in pairs.items():
        intervals = sum(r.intervals for r in group)
        agreeing = sum(r.intervals * r.agreement for r in group)
        totals.append(PairTotals(champion, challenger, len(group), intervals,
                                 agreeing / intervals if intervals else 0.0,
                                 {name: sum(getattr(r, name) for r in group) for name in EVENT_COUNTS}))
    return totals
