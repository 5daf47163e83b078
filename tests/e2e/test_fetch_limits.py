"""Fetch size limits on the wire: max_bytes / partition_max_bytes bound what one fetch
returns, and the first batch comes back whole even when it is larger (KIP-74)."""

from __future__ import annotations

import time

import kwire
from helpers import create_topic, log_end


def fetch_raw(conn: kwire.Conn, topic: str, offset: int, max_bytes: int) -> tuple[int, bytes]:
    """Fetch v4 with max_bytes and partition_max_bytes both `max_bytes`: (error, records)."""
    body = conn.fetch_request_body(topic, 0, offset, 0, 1, max_bytes)
    r = conn.request(kwire.API_FETCH, 4, body)
    r.i32()  # throttle
    topics = r.array(lambda x: (x.string(), x.array(
        lambda y: (y.i32(), y.i16(), y.i64(), y.i64(), y.array(lambda z: (z.i64(), z.i64())),
                   y.kbytes()))))
    _, parts = topics[0]
    _, err, _, _, _, records = parts[0]
    return err, records or b""


def test_fetch_respects_max_bytes_and_returns_a_larger_first_batch(broker, topic):
    create_topic(broker.bootstrap, topic)
    now = int(time.time() * 1000)
    batches = [kwire.record_batch([kwire.Record(b"k", bytes([65 + i]) * 1000)], now)
               for i in range(10)]
    size = len(batches[0])
    with kwire.Conn.to(broker.bootstrap) as c:
        for b in batches:
            err, _ = c.produce(topic, 0, b, acks=1)
            assert err == kwire.NONE
        assert log_end(broker.bootstrap, topic) == 10

        # A limit of two and a half batches: at most that many bytes, whole batches first.
        limit = size * 5 // 2
        err, records = fetch_raw(c, topic, 0, limit)
        assert err == kwire.NONE
        assert 0 < len(records) <= limit
        got = kwire.parse_batches(records)
        assert [b.base_offset for b in got] == [0, 1]
        assert got[1].records[0].value == b"B" * 1000

        # A limit below one batch still returns that first batch, whole.
        err, records = fetch_raw(c, topic, 3, 100)
        assert err == kwire.NONE
        got = kwire.parse_batches(records)
        assert len(got) == 1 and got[0].base_offset == 3 and got[0].crc_ok
        assert got[0].records[0].value == b"D" * 1000

        # A generous limit returns everything.
        err, records = fetch_raw(c, topic, 0, 1 << 20)
        assert [b.base_offset for b in kwire.parse_batches(records)] == list(range(10))
