"""Hostile input over raw sockets. Whatever arrives, the broker keeps serving a
well-behaved client (confluent-kafka) and every record stored before stays readable.

Expected outcomes are what Apache Kafka 4.3.1 does: it closes the connection on a frame
size it will not accept (negative or above socket.request.max.bytes), on an unknown API
key and on a request it cannot parse; it answers a batch with a bad CRC with
CORRUPT_MESSAGE; it waits for the rest of a truncated frame.
"""

from __future__ import annotations

import os
import random
import socket
import struct
import uuid

import pytest

import kwire
from brokers import BrokerSet, ExternalBroker
from clients import CONFLUENT, Msg
from helpers import create_topic, log_end

CLOSE_TIMEOUT = 15.0


class Canary:
    """A topic with known records; `check()` adds one and reads everything back."""

    def __init__(self, bootstrap: str):
        self.bootstrap = bootstrap
        self.topic = f"e2e-hostile-canary-{uuid.uuid4().hex[:8]}"
        self.values: list[bytes] = []
        create_topic(bootstrap, self.topic)
        self.add(20)

    def add(self, n: int = 1) -> None:
        start = len(self.values)
        new = [f"canary-{start + i}".encode() for i in range(n)]
        ds = CONFLUENT.produce(self.bootstrap, self.topic,
                               [Msg(b"c", v, [("seq", str(start + i).encode())])
                                for i, v in enumerate(new)])
        assert [d.error for d in ds] == [None] * n
        assert [d.offset for d in ds] == list(range(start, start + n))
        self.values += new

    def check(self) -> None:
        self.add(1)
        got = CONFLUENT.consume(self.bootstrap, self.topic, len(self.values), timeout=60)
        assert [(g.offset, g.value) for g in got] == list(enumerate(self.values))
        with kwire.Conn.to(self.bootstrap) as c:
            assert c.api_versions()


@pytest.fixture(scope="module")
def hostile_broker(target, tmp_path_factory):
    """A broker of its own (so damage cannot leak into other tests), stopped when this
    module ends; or the external one."""
    ext = os.environ.get("WEIR_TEST_BOOTSTRAP")
    if ext:
        b = ExternalBroker(ext)
        b.start()
        yield b
        return
    brokers = BrokerSet(target, tmp_path_factory)
    try:
        yield brokers.make(name="hostile")
    finally:
        brokers.close_all()


@pytest.fixture(scope="module")
def canary(hostile_broker):
    return Canary(hostile_broker.bootstrap)


def connect(b) -> kwire.Conn:
    return kwire.Conn.to(b.bootstrap, timeout=CLOSE_TIMEOUT)


def test_truncated_frames(hostile_broker, canary):
    # A frame that promises 100 bytes and delivers 10: the broker waits for the rest; a
    # client meanwhile is served, and the half-frame connection does not block anyone.
    half = connect(hostile_broker)
    half.send_raw(struct.pack(">i", 100) + b"\x00\x12\x00\x00" + b"\x00" * 6)
    # Two bytes of a length prefix, then the peer goes away.
    with connect(hostile_broker) as c:
        c.send_raw(b"\x00\x00")
    # A header cut in the middle of the client id, then EOF.
    with connect(hostile_broker) as c:
        frame = c.frame(kwire.API_API_VERSIONS, 0, b"")
        c.send_raw(frame[:9])
        c.sock.shutdown(socket.SHUT_WR)
        assert c.wait_closed(CLOSE_TIMEOUT), "half-closed truncated frame left open"
    canary.check()
    assert not half.wait_closed(0.2), "the broker gave up on a frame that may still come"
    half.close()
    canary.check()


def test_random_garbage(hostile_broker, canary):
    rnd = random.Random(20240601)
    for size in (1, 3, 7, 64, 1000, 65536):
        with connect(hostile_broker) as c:
            c.send_raw(bytes(rnd.getrandbits(8) for _ in range(size)))
            try:
                c.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # already reset by the broker
    # Garbage behind a plausible length prefix: a random "request" of 200 bytes.
    with connect(hostile_broker) as c:
        body = bytes(rnd.getrandbits(8) for _ in range(200))
        c.send_raw(struct.pack(">i", len(body)) + body)
        try:
            closed = c.wait_closed(CLOSE_TIMEOUT)
        except AssertionError:
            closed = True  # it answered something (a header that parsed): acceptable
        assert closed, "a garbage request neither answered nor closed"
    canary.check()


@pytest.mark.parametrize("prefix", [0x7FFFFFFF, -1, -2147483648, 0],
                         ids=["max-int", "minus-one", "min-int", "zero"])
def test_impossible_length_prefix_closes_connection(hostile_broker, canary, prefix):
    with connect(hostile_broker) as c:
        c.send_raw(struct.pack(">i", prefix) + b"\x00" * 16)
        assert c.wait_closed(CLOSE_TIMEOUT), "broker kept a connection with an impossible size"
    canary.check()


def test_array_claiming_2_pow_31_entries(hostile_broker, canary):
    """Requests whose array count (2^31-1) cannot fit in the bytes that follow: the broker
    must not try to allocate for it; Kafka closes the connection."""
    with connect(hostile_broker) as c:
        # Metadata v1: header (api 3, v1, corr, null client id) + topics count 0x7fffffff.
        payload = kwire.i16(3) + kwire.i16(1) + kwire.i32(7) + kwire.i16(-1) + kwire.i32(0x7FFFFFFF)
        c.send_raw(kwire.i32(len(payload)) + payload)
        assert c.wait_closed(CLOSE_TIMEOUT)
    with connect(hostile_broker) as c:
        # Produce v3 with a topic_data count of 2^31-1 and nothing after it.
        body = kwire.string(None) + kwire.i16(-1) + kwire.i32(1000) + kwire.i32(0x7FFFFFFF)
        c.send_raw(c.frame(kwire.API_PRODUCE, 3, body))
        assert c.wait_closed(CLOSE_TIMEOUT)
    canary.check()


def test_unknown_api_key_closes_connection(hostile_broker, canary):
    with connect(hostile_broker) as c:
        c.send_raw(c.frame(9999, 0, b""))
        assert c.wait_closed(CLOSE_TIMEOUT)
    with connect(hostile_broker) as c:  # a known key at a version nobody supports
        c.send_raw(c.frame(kwire.API_METADATA, 32000, b""))
        try:
            closed = c.wait_closed(CLOSE_TIMEOUT)
        except AssertionError:
            closed = True  # UNSUPPORTED_VERSION answered: also Kafka-compatible
        assert closed
    canary.check()


def test_handwritten_produce_then_corrupt_crc(hostile_broker, canary):
    """Positive control first (our hand-built batch is valid and real clients read it),
    then the same batch with a wrong CRC: CORRUPT_MESSAGE, nothing appended."""
    b = hostile_broker
    topic = f"e2e-hostile-crc-{uuid.uuid4().hex[:8]}"
    create_topic(b.bootstrap, topic)
    recs = [kwire.Record(b"raw-key", b"raw-value", [("dup", b"1"), ("dup", b"2"), ("n", None)]),
            kwire.Record(None, b"second")]
    ts = 1_700_000_000_000
    with connect(b) as c:
        assert c.produce(topic, 0, kwire.record_batch(recs, ts)) == (kwire.NONE, 0)
    got = CONFLUENT.consume(b.bootstrap, topic, 2)
    assert [(g.offset, g.key, g.value, g.headers) for g in got] == [
        (0, b"raw-key", b"raw-value", [("dup", b"1"), ("dup", b"2"), ("n", None)]),
        (1, None, b"second", []),
    ]
    assert log_end(b.bootstrap, topic) == 2

    with connect(b) as c:
        try:
            err, _ = c.produce(topic, 0, kwire.record_batch(recs, ts, corrupt_crc=True))
        except kwire.Closed:
            err = None  # closing the connection is an accepted answer too
        assert err in (kwire.CORRUPT_MESSAGE, None), f"error {err}"
        if err is not None:  # the connection stays usable after a per-partition error
            assert c.produce(topic, 0, kwire.record_batch([kwire.Record(None, b"third")], ts)) \
                == (kwire.NONE, 2)
    assert log_end(b.bootstrap, topic) in (2, 3)
    got = CONFLUENT.consume(b.bootstrap, topic, log_end(b.bootstrap, topic))
    assert [g.value for g in got][:2] == [b"raw-value", b"second"]
    assert b"third" in [g.value for g in got] or len(got) == 2
    canary.check()


def test_many_hostile_connections_in_a_row(hostile_broker, canary):
    rnd = random.Random(7)
    for i in range(40):
        with connect(hostile_broker) as c:
            kind = i % 4
            if kind == 0:
                c.send_raw(struct.pack(">i", 0x7FFFFFFF))
            elif kind == 1:
                c.send_raw(c.frame(9999, 0, b""))
            elif kind == 2:
                c.send_raw(bytes(rnd.getrandbits(8) for _ in range(32)))
            else:
                c.send_raw(struct.pack(">i", 50) + b"\x00\x03")
    canary.check()
    assert hostile_broker.kind == "external" or hostile_broker.alive()
