"""Malformed and adversarial sensor events, each knowing what it should become.

A ``Case`` is one Kafka message value and the verdict the validator must reach: landed
(``reason`` None; asset id and sequence number kept exactly) or quarantined with a reason
starting with ``reason``. Every maker draws from a ``random.Random``, so the same code
serves hypothesis (``st.randoms()``: tests/test_fuzz.py) and a seeded volume run through
the real broker and ingest job (10,000 messages mixed into valid traffic).

What is adversarial: broken UTF-8 and lone surrogates, payloads beyond the size limit,
nesting beyond any parser's depth, NaN/Infinity literals and numbers beyond a double,
duplicate keys (also spelled with escapes), unicode asset ids and SQL, shell and path
metacharacters in every string field, control characters, and timestamps at every edge
of the accepted range (the last accepted millisecond and the first refused on each side,
and the 64-bit limits).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass

from schemas import ASSET_ID_MAX_LEN, SENSOR_NAMES

METACHARACTERS = ["'; DROP TABLE anomaly_events; --", "\" OR 1=1 --", "../../etc/passwd", "..\\..\\boot.ini",
                  "$(rm -rf /)", "`id`", "%s%s%n", "{{7*7}}", "${jndi:ldap://x/a}", "<script>alert(1)</script>",
                  "date=2026-01-01/hour=1", "a|b", "Robert'); DELETE FROM job_runs;--", "\\x00", "%00", "*",
                  "hdfs://evil/", "null", "true", "0", "-1e999"]
UNICODE = ["pümpe-Ä", "насос-7", "泵-三号", "ポンプ", "🚰-pump", "a\u0301", "\u202eevil", "ǅ", "ß" * 128, "😀" * 128]


def beyond_64_bit(name: str) -> tuple[str, ...]:
    """An integer literal beyond 64 bits: orjson reads some as a float (a wrong type), the
    stdlib as an int (out of range); either verdict names the field."""
    return (f"out_of_range:{name} (not a 64-bit", f"wrong_type:{name}")


@dataclass(frozen=True)
class Case:
    kind: str
    payload: bytes
    reason: str | tuple[str, ...] | None  # None: the event lands; else the prefix(es) of one of its reasons
    asset_id: str | None = None
    seq: int | None = None


@dataclass(frozen=True)
class Limits:
    """The validator's rules the cases are built against (conf ``ingest``)."""

    now_ms: int  # the Kafka timestamp of every message
    min_ms: int
    max_future_skew_s: int
    max_payload_bytes: int


def _asset(rng: random.Random) -> str:
    pick = rng.random()
    if pick < 0.4:
        return rng.choice(METACHARACTERS)
    if pick < 0.7:
        return rng.choice(UNICODE)
    if pick < 0.8:
        return "x" * ASSET_ID_MAX_LEN  # the longest accepted
    return f"pump-{rng.randrange(1000):04d}"


def _readings(rng: random.Random) -> dict[str, float]:
    names = rng.sample(SENSOR_NAMES, rng.randint(1, len(SENSOR_NAMES)))
    edge = [0.0, -0.0, 1e308, -1e308, 5e-324, 1, -7, 123456789012345]
    return {n: (rng.choice(edge) if rng.random() < 0.2 else round(rng.uniform(-100, 100), 6)) for n in names}


def _time(rng: random.Random, lim: Limits) -> int:
    """An accepted event time: often exactly at an edge of the range."""
    last = lim.now_ms + lim.max_future_skew_s * 1000
    return rng.choice([lim.min_ms, last, lim.now_ms, rng.randint(lim.min_ms, last)])


def _body(rng: random.Random, lim: Limits, seq: int) -> dict:
    body: dict = {"asset_id": _asset(rng), "event_time": _time(rng, lim), "seq": seq, **_readings(rng)}
    if rng.random() < 0.2:  # unknown fields: kept as extras, the event still lands
        body[rng.choice(["firmware", "site", "note"])] = rng.choice([*METACHARACTERS, {"a": [1, {"b": None}]}, 3])
    return body


def _encode(body: dict, rng: random.Random) -> bytes:
    return json.dumps(body, ensure_ascii=rng.random() < 0.5, separators=(",", ":")).encode()


def good(rng: random.Random, lim: Limits, seq: int) -> Case:
    body = _body(rng, lim, seq)
    return Case("valid_adversarial", _encode(body, rng), None, body["asset_id"], seq)


def _with(rng: random.Random, lim: Limits, seq: int, /, **changes) -> bytes:
    body = {**_body(rng, lim, seq), **changes}
    return _encode({k: v for k, v in body.items() if v is not ...}, rng)


def _duplicate(rng: random.Random, lim: Limits, seq: int) -> Case:
    body = {**_body(rng, lim, seq), "current": 0.5}
    text = _encode(body, rng).decode()[:-1]
    name = rng.choice(["asset_id", "event_time", "current"])
    spelled = name if rng.random() < 0.5 else "\\u00" + format(ord(name[0]), "02x") + name[1:]  # "\u0061sset_id"
    value = json.dumps({"asset_id": "other", "event_time": lim.now_ms, "current": 1.5}[name])
    return Case("duplicate_key", f'{text},"{spelled}":{value}}}'.encode(), f"duplicate_key:{name}")


def _broken_utf8(rng: random.Random, lim: Limits, seq: int) -> Case:
    raw = _with(rng, lim, seq, asset_id="pump-XX")
    bad = rng.choice([b"\xff", b"\xc3\x28", b"\xf8\x88\x80\x80\x80", b"\x80", b"\xed\xa0\x80"])
    # The last is a surrogate encoded as UTF-8 (CESU-8): the stdlib decodes it to a lone surrogate.
    return Case("broken_utf8", raw.replace(b"XX", bad), ("malformed_json", "invalid_value:asset_id (not valid UTF-8"))


def _surrogate(rng: random.Random, lim: Limits, seq: int) -> Case:
    raw = _with(rng, lim, seq, asset_id="pump-XX").replace(b"XX", rng.choice([b"\\ud800", b"\\udfff"]))
    return Case("lone_surrogate", raw, "invalid_value:asset_id")


def _control(rng: random.Random, lim: Limits, seq: int) -> Case:
    char = rng.choice(["\u0000", "\n", "\t", "\u001b", "\u007f"])
    return Case("control_character", _with(rng, lim, seq, asset_id=f"pump{char}1"), "invalid_value:asset_id")


def _huge(rng: random.Random, lim: Limits, seq: int) -> Case:
    filler = "A" * (lim.max_payload_bytes + rng.randint(1, 4096))
    return Case("huge_payload", _with(rng, lim, seq, note=filler), "payload_too_large")


def _deep(rng: random.Random, lim: Limits, seq: int) -> Case:
    depth = rng.choice([1100, 5000, 20_000])
    nested = "[" * depth + "]" * depth
    return Case("deep_json", _with(rng, lim, seq, note="X").replace(b'"X"', nested.encode()), "malformed_json")


def _non_finite(rng: random.Random, lim: Limits, seq: int) -> Case:
    literal = rng.choice([b"NaN", b"Infinity", b"-Infinity"])
    raw = _with(rng, lim, seq, current=12345.5).replace(b"12345.5", literal)
    if rng.random() < 0.5:
        return Case("nan_literal", raw, "malformed_json")
    return Case("beyond_double", raw.replace(literal, b"1e999"), "out_of_range:current (not finite)")


def _edge_time(rng: random.Random, lim: Limits, seq: int) -> Case:
    value, reason = rng.choice([
        (lim.min_ms - 1, "out_of_range:event_time (before"),
        (lim.now_ms + lim.max_future_skew_s * 1000 + 1, "out_of_range:event_time (more than"),
        (2**63, "out_of_range:event_time (not a 64-bit"), (-(2**63) - 1, beyond_64_bit("event_time")),
        (-1, "out_of_range:event_time (before"), (0, "out_of_range:event_time (before"),
        (float(lim.now_ms), "wrong_type:event_time"), (str(lim.now_ms), "wrong_type:event_time"),
        (True, "wrong_type:event_time"), (None, "missing_field:event_time")])
    return Case("edge_time", _with(rng, lim, seq, event_time=value), reason)


def _wrong_types(rng: random.Random, lim: Limits, seq: int) -> Case:
    field, value, reason = rng.choice([
        ("current", True, "wrong_type:current"), ("current", "1.5", "wrong_type:current"),
        ("current", [1.5], "wrong_type:current"), ("asset_id", 7, "wrong_type:asset_id"),
        ("asset_id", ["a"], "wrong_type:asset_id"), ("seq", 1.5, "wrong_type:seq"),
        ("seq", 2**64, beyond_64_bit("seq")), ("asset_id", "", "invalid_value:asset_id"),
        ("asset_id", "y" * (ASSET_ID_MAX_LEN + 1), "invalid_value:asset_id"),
        ("asset_id", ..., "missing_field:asset_id")])
    return Case("wrong_type", _with(rng, lim, seq, **{field: value}), reason)


def _not_an_event(rng: random.Random, lim: Limits, seq: int) -> Case:
    payload, reason = rng.choice([
        (b"", "empty_payload"), (b"[1,2,3]", "not_a_json_object"), (b'"pump"', "not_a_json_object"),
        (b"42", "not_a_json_object"), (b"null", "not_a_json_object"), (b"{", "malformed_json"),
        (b"\x00\x01\x02", "malformed_json"), (json.dumps({"asset_id": "p", "event_time": lim.now_ms}).encode(),
                                               "no_sensor_readings")])
    return Case("not_an_event", payload, reason)


BAD: tuple[Callable[[random.Random, Limits, int], Case], ...] = (
    _duplicate, _broken_utf8, _surrogate, _control, _huge, _deep, _non_finite, _edge_time, _wrong_types, _not_an_event)


def case(rng: random.Random, lim: Limits, seq: int, bad_share: float = 0.5) -> Case:
    """One message: a bad one of any kind with probability ``bad_share``, else a valid
    (but adversarial) one."""
    return rng.choice(BAD)(rng, lim, seq) if rng.random() < bad_share else good(rng, lim, seq)
