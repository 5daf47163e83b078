"""Producer acknowledgement modes and Fetch long-polling."""

from __future__ import annotations

import pytest

import kwire
from clients import CONFLUENT, JAVA, KAFKA_PYTHON, Msg
from helpers import create_topic


@pytest.mark.parametrize("acks", ["0", "1", "all"])
@pytest.mark.parametrize("client", [CONFLUENT, KAFKA_PYTHON, JAVA], ids=lambda c: c.name)
def test_acks_modes_deliver(broker, topic, client, acks):
    """acks=0, 1 and all each store every record (acks=0 gets no offsets back)."""
    create_topic(broker.bootstrap, topic)
    msgs = [Msg(f"k{i}".encode(), f"acks-{acks}-{i}".encode()) for i in range(200)]
    deliveries = client.produce(broker.bootstrap, topic, msgs, acks=acks)
    assert all(d.error is None for d in deliveries)
    if acks != "0":
        assert [d.offset for d in deliveries] == list(range(len(msgs)))
    got = CONFLUENT.consume(broker.bootstrap, topic, len(msgs))
    assert [(g.offset, g.key, g.value) for g in got] == \
        [(i, m.key, m.value) for i, m in enumerate(msgs)]


@pytest.mark.parametrize("wait_ms,min_bytes", [(10_000, 1), (500, 1_000_000)])
def test_waiting_consumer_receives_later_record(broker, topic, wait_ms, min_bytes):
    """A consumer already polling an empty partition (fetch.wait.max.ms /
    fetch.min.bytes set) receives a record produced afterwards."""
    from confluent_kafka import Consumer, TopicPartition

    create_topic(broker.bootstrap, topic)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "weir-e2e-longpoll",
                  "enable.auto.commit": False, "fetch.wait.max.ms": wait_ms,
                  "fetch.min.bytes": min_bytes})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        assert c.poll(0.5) is None  # nothing there yet; the consumer is fetching
        CONFLUENT.produce(broker.bootstrap, topic, [Msg(b"late", b"arrival", [("h", b"1")])])
        msg = None
        for _ in range(60):
            msg = c.poll(1.0)
            if msg is not None:
                break
        assert msg is not None, "the waiting consumer never received the record"
        assert msg.error() is None
        assert (msg.offset(), msg.key(), msg.value(), msg.headers()) == \
            (0, b"late", b"arrival", [("h", b"1")])
    finally:
        c.close()


def test_kafka_python_waiting_consumer(broker, topic):
    from kafka import KafkaConsumer, TopicPartition

    create_topic(broker.bootstrap, topic)
    tp = TopicPartition(topic, 0)
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None,
                      enable_auto_commit=False, fetch_max_wait_ms=5000, fetch_min_bytes=1)
    try:
        c.assign([tp])
        c.seek(tp, 0)
        assert c.poll(timeout_ms=500) == {}
        KAFKA_PYTHON.produce(broker.bootstrap, topic, [Msg(b"k", b"later")])
        recs = []
        for _ in range(60):
            recs = c.poll(timeout_ms=1000).get(tp, [])
            if recs:
                break
        assert [(r.offset, r.value) for r in recs] == [(0, b"later")]
    finally:
        c.close()


def test_raw_fetch_parked_until_data_arrives(broker, topic):
    """A Fetch with max_wait 30 s and min_bytes 1, sent before anything is produced, is
    answered with the record produced while it waits."""
    create_topic(broker.bootstrap, topic)
    with kwire.Conn.to(broker.bootstrap, timeout=60) as c:
        body = c.fetch_request_body(topic, 0, 0, max_wait_ms=30_000, min_bytes=1)
        c.send_raw(c.frame(kwire.API_FETCH, 4, body))
        CONFLUENT.produce(broker.bootstrap, topic, [Msg(b"k", b"woke-up")])
        corr, r = c.recv_response()
        assert corr == c.corr
        err, hw, batches = c.parse_fetch(r)
    assert err == kwire.NONE and hw == 1
    assert [(rec.offset, rec.key, rec.value) for b in batches for rec in b.records] == \
        [(0, b"k", b"woke-up")]
