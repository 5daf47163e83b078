"""Shared helpers: condition waits with deadlines, topic administration through
confluent-kafka's AdminClient, message builders and Kafka's murmur2 partitioner hash."""

from __future__ import annotations

import time

import kwire
from clients import Got, Msg


def wait_until(cond, timeout: float = 30.0, what: str = "condition", interval: float = 0.05):
    """Polls `cond()` until it returns a truthy value (returned) or the deadline passes
    (AssertionError naming `what` and the last value)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = cond()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


def now_ms() -> int:
    return int(time.time() * 1000)


def admin(bootstrap: str):
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap})


def partition_leaders(bootstrap: str, topic: str) -> dict[int, int]:
    """{partition: leader} from a raw Metadata request ({} while the topic is unknown)."""
    with kwire.Conn.to(bootstrap) as c:
        t = c.metadata([topic])["topics"].get(topic)
    if t is None or t["error"] != kwire.NONE:
        return {}
    return {p: leader for p, (err, leader) in t["partitions"].items() if err == kwire.NONE}


def partitions_serving(bootstrap: str, topic: str, n: int) -> bool:
    """True when Metadata shows exactly `n` led partitions and each answers ListOffsets
    without error (Kafka publishes metadata a moment before the leader serves requests;
    real clients retry NOT_LEADER_OR_FOLLOWER, the raw-protocol tests do not)."""
    leaders = partition_leaders(bootstrap, topic)
    if len(leaders) != n or any(v < 0 for v in leaders.values()):
        return False
    with kwire.Conn.to(bootstrap) as c:
        return all(c.list_offsets(topic, p, -1)[0] == kwire.NONE for p in leaders)


def wait_partitions(bootstrap: str, topic: str, n: int, timeout: float = 30.0) -> None:
    """Waits until `topic` has exactly `n` partitions, each led and serving."""
    wait_until(lambda: partitions_serving(bootstrap, topic, n), timeout,
               f"{topic} to have {n} serving partitions")


def create_topic(bootstrap: str, topic: str, partitions: int = 1,
                 config: dict[str, str] | None = None) -> None:
    """CreateTopics (replication factor 1) and wait until every partition has a leader."""
    from confluent_kafka.admin import NewTopic

    a = admin(bootstrap)  # must outlive the future
    fut = a.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=30, request_timeout=30,
    )[topic]
    fut.result(timeout=60)
    wait_partitions(bootstrap, topic, partitions)


def log_end(bootstrap: str, topic: str, partition: int = 0) -> int:
    with kwire.Conn.to(bootstrap) as c:
        err, off = c.list_offsets(topic, partition, -1)
    assert err == kwire.NONE, f"ListOffsets error {err}"
    return off


def sample_messages(n: int = 12, text_only: bool = False, ts_base: int | None = None,
                    null_header_values: bool = True) -> list[Msg]:
    """A mix that exercises the record format: keys, binary values (unless text_only),
    duplicate header keys in order, a null header value (unless the producer cannot send
    one), null keys, tombstones."""
    out = []
    for i in range(n):
        # Never both null: kafka-python refuses such a record.
        key = None if i % 5 == 3 and i % 6 != 4 else f"key-{i}".encode()
        if i % 6 == 4:
            value = None
        elif text_only:
            value = f"value-{i}-" .encode() + b"x" * (i * 7)
        else:
            value = bytes(range(256)) * (i % 3) + f"value-{i}".encode()
        headers: list[tuple[str, bytes | None]] = []
        if i % 2 == 0:
            headers = [("dup", b"first"), ("other", f"o{i}".encode()), ("dup", b"second"),
                       ("dup", b"third")]
        elif i % 3 == 0:
            nv = None if null_header_values else b""
            headers = [("nullval", nv), ("trace-id", f"t-{i}".encode())]
        ts = None if ts_base is None else ts_base + i * 10
        out.append(Msg(key, value, headers, ts))
    return out


def assert_same(sent: list[Msg], got: list[Got], check_ts: bool = True) -> None:
    """Records consumed from one partition equal what was sent, in order, field by field."""
    assert len(got) == len(sent), f"sent {len(sent)}, consumed {len(got)}"
    for i, (m, g) in enumerate(zip(sent, got, strict=True)):
        assert g.key == m.key, f"record {i}: key {g.key!r} != {m.key!r}"
        assert g.value == m.value, \
            f"record {i}: value differs ({_short(g.value)} != {_short(m.value)})"
        assert g.headers == list(m.headers), f"record {i}: headers {g.headers} != {m.headers}"
        if check_ts and m.timestamp is not None:
            assert g.ts_type == "CreateTime", f"record {i}: {g.ts_type}"
            assert g.timestamp == m.timestamp, f"record {i}: ts {g.timestamp} != {m.timestamp}"
    offsets = [g.offset for g in got]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets), \
        "offsets not increasing"


def _short(b: bytes | None) -> str:
    if b is None:
        return "None"
    return f"{len(b)} bytes {b[:24]!r}"


# ------------------------------------------------------------------ murmur2 (Kafka's)


def murmur2(data: bytes) -> int:
    """Kafka's Utils.murmur2 (seed 0x9747b28c) as a signed 32-bit int, bit for bit."""
    length = len(data)
    m = 0x5BD1E995
    r = 24
    mask = 0xFFFFFFFF
    h = (0x9747B28C ^ length) & mask
    for i in range(length // 4):
        i4 = i * 4
        k = data[i4] | (data[i4 + 1] << 8) | (data[i4 + 2] << 16) | (data[i4 + 3] << 24)
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h = (h * m) & mask
        h ^= k
    tail = length & ~3
    rem = length % 4
    if rem == 3:
        h ^= data[tail + 2] << 16
    if rem >= 2:
        h ^= data[tail + 1] << 8
    if rem >= 1:
        h ^= data[tail]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def murmur2_partition(key: bytes, num_partitions: int) -> int:
    """The Java client's default partition for a keyed record: toPositive(murmur2) % n."""
    return (murmur2(key) & 0x7FFFFFFF) % num_partitions
