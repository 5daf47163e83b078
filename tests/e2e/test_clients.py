"""Each real client produces and then consumes its own records: the record format in
full (keys, values, duplicate headers, nulls, timestamps), compression codecs, 1 MB
records and 100k records in order."""

from __future__ import annotations

import random
import string

import pytest

import kwire
from clients import ALL, BY_NAME, CODECS, Msg
from helpers import assert_same, create_topic, now_ms, sample_messages

CLIENTS = [c.name for c in ALL]
TS_CLIENTS = [c.name for c in ALL if c.timestamps]


@pytest.mark.parametrize("client", CLIENTS)
def test_keys_values_headers_nulls(broker, topic, client):
    """Keys, values, duplicate header keys (order kept), null header values, null keys
    and tombstones come back exactly, at dense offsets from 0."""
    c = BY_NAME[client]
    msgs = sample_messages(24, text_only=(client == "kcat"),
                           null_header_values=c.null_header_values)
    create_topic(broker.bootstrap, topic)
    deliveries = c.produce(broker.bootstrap, topic, msgs)
    assert all(d.error is None for d in deliveries)
    got = c.consume(broker.bootstrap, topic, len(msgs))
    assert_same(msgs, got)
    assert [g.offset for g in got] == list(range(len(msgs)))
    if client != "kcat":
        assert [d.offset for d in deliveries] == list(range(len(msgs)))


@pytest.mark.parametrize("client", TS_CLIENTS)
def test_explicit_create_time(broker, topic, client):
    """Producer-set timestamps are stored and returned as CreateTime, unchanged."""
    c = BY_NAME[client]
    base = now_ms() - 3_600_000  # an hour ago: inside retention, not in the future
    msgs = [Msg(f"k{i}".encode(), f"v{i}".encode(), [], base + i * 997) for i in range(20)]
    msgs[5].timestamp = base - 86_400_000  # out of order timestamps are legal
    create_topic(broker.bootstrap, topic)
    deliveries = c.produce(broker.bootstrap, topic, msgs)
    assert [d.timestamp for d in deliveries] == [m.timestamp for m in msgs]
    got = c.consume(broker.bootstrap, topic, len(msgs))
    assert [(g.ts_type, g.timestamp) for g in got] == [("CreateTime", m.timestamp) for m in msgs]


@pytest.mark.parametrize("client", CLIENTS)
def test_log_append_time_topic(broker, topic, client):
    """On a topic with message.timestamp.type=LogAppendTime the broker stamps records with
    its own clock, whatever the producer sent."""
    c = BY_NAME[client]
    create_topic(broker.bootstrap, topic, config={"message.timestamp.type": "LogAppendTime"})
    producer_ts = None if not c.timestamps else now_ms() - 2 * 3_600_000
    msgs = [Msg(f"k{i}".encode(), f"v{i}".encode(), [], producer_ts) for i in range(10)]
    before = now_ms()
    c.produce(broker.bootstrap, topic, msgs)
    after = now_ms()
    got = c.consume(broker.bootstrap, topic, len(msgs))
    assert [g.value for g in got] == [m.value for m in msgs]
    for g in got:
        assert g.ts_type == "LogAppendTime"
        assert g.timestamp != producer_ts
        # The broker's wall clock at append (same machine), with generous slack.
        assert before - 300_000 <= g.timestamp <= after + 300_000


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("client", CLIENTS)
def test_compression_codec(broker, topic, client, codec):
    """Records produced with each codec come back intact, and the broker stored the
    batches with that codec (checked with a raw Fetch)."""
    c = BY_NAME[client]
    create_topic(broker.bootstrap, topic)
    msgs = [Msg(f"key-{i}".encode(), (f"value {i} " * 40).encode(),
                [("h", f"{i}".encode())] if client != "kcat" else [])
            for i in range(300)]
    c.produce(broker.bootstrap, topic, msgs, compression=codec)
    got = c.consume(broker.bootstrap, topic, len(msgs))
    assert_same(msgs, got)
    with kwire.Conn.to(broker.bootstrap) as conn:
        err, hw, batches = conn.fetch(topic, 0, 0)
    assert err == kwire.NONE and hw == len(msgs)
    assert batches, "raw fetch returned no batch"
    assert {b.compression for b in batches} == {kwire.COMPRESSION_CODES[codec]}
    assert all(b.magic == 2 and b.crc_ok for b in batches)


@pytest.mark.parametrize("client", CLIENTS)
def test_one_megabyte_records(broker, topic, client):
    """1 MiB values on a topic whose max.message.bytes allows them (client request and
    fetch limits raised)."""
    c = BY_NAME[client]
    create_topic(broker.bootstrap, topic, config={"max.message.bytes": str(4 * 1024 * 1024)})
    rnd = random.Random(7)
    alphabet = (string.ascii_letters + string.digits).encode()
    msgs = [Msg(f"big-{i}".encode(), bytes(rnd.choices(alphabet, k=1024 * 1024)), [])
            for i in range(3)]
    deliveries = c.produce(broker.bootstrap, topic, msgs, big=True)
    assert all(d.error is None for d in deliveries), deliveries
    got = c.consume(broker.bootstrap, topic, len(msgs), big=True, timeout=120)
    assert_same(msgs, got)


@pytest.mark.parametrize("client", CLIENTS)
def test_100k_records_in_order(broker, topic, client):
    """100,000 records on one partition: every offset 0..99999 holds the value sent at
    that position."""
    c = BY_NAME[client]
    n = 100_000
    create_topic(broker.bootstrap, topic)
    msgs = [Msg(None, b"v-%06d" % i) for i in range(n)]
    deliveries = c.produce(broker.bootstrap, topic, msgs, timeout=300)
    assert all(d.error is None for d in deliveries)
    got = c.consume(broker.bootstrap, topic, n, timeout=300)
    assert len(got) == n
    for i, g in enumerate(got):
        if g.offset != i or g.value != b"v-%06d" % i:
            raise AssertionError(f"position {i}: offset {g.offset} value {g.value!r}")
