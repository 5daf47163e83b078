"""Segment rolling as a client can cause it: by size (segment.bytes) and by time
(segment.ms, measured on the records' timestamps), with everything still readable across
the segments. Segment files are counted in the broker's data dir (same layout on Weir and
Kafka: <topic>-<partition>/<20-digit base offset>.log)."""

from __future__ import annotations

import time

from clients import CONFLUENT, KAFKA_PYTHON, Msg
from helpers import create_topic


def segment_files(broker, topic: str) -> list:
    return sorted(broker.data_dir.rglob(f"{topic}-0/*.log"))


def test_segments_roll_by_size_and_stay_readable(broker, topic):
    create_topic(broker.bootstrap, topic, config={"segment.bytes": "1048576"})
    msgs = [Msg(b"k%d" % i, bytes([i % 251]) * 10_000) for i in range(350)]
    deliveries = CONFLUENT.produce(broker.bootstrap, topic, msgs)
    assert all(d.error is None for d in deliveries)
    assert len(segment_files(broker, topic)) >= 3
    got = KAFKA_PYTHON.consume(broker.bootstrap, topic, len(msgs), big=True)
    assert [g.offset for g in got] == list(range(len(msgs)))
    assert [g.value for g in got] == [m.value for m in msgs]


def test_segments_roll_by_record_time(broker, topic):
    create_topic(broker.bootstrap, topic, config={"segment.ms": "1000"})
    now = int(time.time() * 1000)
    first = CONFLUENT.produce(broker.bootstrap, topic, [Msg(b"a", b"old", timestamp=now - 10_000)])
    second = CONFLUENT.produce(broker.bootstrap, topic, [Msg(b"b", b"new", timestamp=now)])
    assert first[0].error is None and second[0].error is None
    assert len(segment_files(broker, topic)) >= 2
    got = CONFLUENT.consume(broker.bootstrap, topic, 2)
    assert [(g.offset, g.value) for g in got] == [(0, b"old"), (1, b"new")]
