"""Bad input at volume, property-based (hypothesis): the validator never raises, quarantines
every bad message with its reason and lands every valid one exactly as sent, whatever the
mix in a batch (tests/adversarial.py makes the messages). The same messages through the
real broker and ingest job: test_ingest.py."""

import random
from datetime import UTC, datetime

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensorwatch.pipeline.validator import ARROW_COLUMNS, EventRules, validate_batch
from tests.adversarial import BAD, Case, Limits, case, good

NOW_MS = int(datetime(2026, 11, 21, 12, 0, tzinfo=UTC).timestamp() * 1000)
RULES = EventRules(datetime(2000, 1, 1, tzinfo=UTC), 3600, 65_536)
LIMITS = Limits(NOW_MS, RULES.min_ms, RULES.max_future_skew_s, RULES.max_payload_bytes)


def validate(cases: list[Case]) -> list[dict]:
    n = len(cases)
    batch = pa.RecordBatch.from_pydict({
        "key": [b"k"] * n, "value": [c.payload for c in cases], "topic": ["t"] * n, "partition": [0] * n,
        "offset": list(range(n)), "timestamp": [NOW_MS * 1000] * n, "timestampType": [0] * n}, schema=ARROW_COLUMNS)
    return validate_batch(batch, RULES).to_pylist()


def check(cases: list[Case], rows: list[dict]) -> None:
    assert len(rows) == len(cases)
    for c, row in zip(cases, rows):
        if c.reason is None:
            assert row["_reasons"] == [], (c, row["_reasons"])
            assert row["asset_id"] == c.asset_id and row["seq"] == c.seq, c
        else:
            assert any(r.startswith(c.reason) for r in row["_reasons"]), (c.kind, c.reason, row["_reasons"])
            assert row["payload"] == c.payload  # quarantine keeps the raw bytes


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False), st.integers(1, 30), st.floats(0, 1))
def test_any_mix_of_adversarial_messages_gets_the_right_verdicts(rng, n, bad_share):
    cases = [case(rng, LIMITS, seq, bad_share) for seq in range(n)]
    check(cases, validate(cases))


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False), st.sampled_from(BAD))
def test_each_kind_of_bad_message_alone_and_among_valid_ones(rng, maker):
    bad = maker(rng, LIMITS, 0)
    cases = [good(rng, LIMITS, 1), bad, good(rng, LIMITS, 2)]
    check([bad], validate([bad]))
    check(cases, validate(cases))


def test_ten_thousand_seeded_messages_in_one_batch():
    rng = random.Random(19)
    cases = [case(rng, LIMITS, seq, 0.5) for seq in range(10_000)]
    rows = validate(cases)
    check(cases, rows)
    kinds = {c.kind for c in cases}
    assert kinds == {"valid_adversarial", *(c.kind for c in cases if c.reason)} and len(kinds) >= 12
