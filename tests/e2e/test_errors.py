"""Kafka's error behaviour as real clients see it: auto topic creation (on by default, and
off), invalid topic names, oversized records, fetches out of range."""

from __future__ import annotations

import pytest

import kwire
from clients import CONFLUENT, JAVA, KAFKA_PYTHON, ClientError, Msg
from helpers import admin, create_topic, log_end, partition_leaders, wait_until

INVALID_NAMES = ["bad/name", "x" * 250, "has space", "..", "."]


def test_produce_auto_creates_topic_with_one_partition(broker, topic):
    [d] = CONFLUENT.produce(broker.bootstrap, topic, [Msg(b"k", b"first")])
    assert d.error is None and (d.partition, d.offset) == (0, 0)
    assert partition_leaders(broker.bootstrap, topic).keys() == {0}
    [g] = CONFLUENT.consume(broker.bootstrap, topic, 1)
    assert (g.key, g.value) == (b"k", b"first")


@pytest.mark.parametrize("client", [KAFKA_PYTHON, JAVA], ids=lambda c: c.name)
def test_produce_auto_creates_topic_other_clients(broker, topic, client):
    [d] = client.produce(broker.bootstrap, topic, [Msg(b"k", b"v")])
    assert d.error is None and (d.partition, d.offset) == (0, 0)
    assert partition_leaders(broker.bootstrap, topic).keys() == {0}


def test_metadata_auto_creates_only_when_allowed(broker, topic):
    with kwire.Conn.to(broker.bootstrap) as c:
        # allow_auto_topic_creation=false: unknown, and still unknown afterwards.
        assert c.metadata([topic], allow_auto_create=False)["topics"][topic]["error"] == \
            kwire.UNKNOWN_TOPIC_OR_PARTITION
        assert c.metadata([topic], allow_auto_create=False)["topics"][topic]["error"] == \
            kwire.UNKNOWN_TOPIC_OR_PARTITION

        def created():
            t = c.metadata([topic], allow_auto_create=True)["topics"][topic]
            # While being created Kafka may answer UNKNOWN_TOPIC_OR_PARTITION or
            # LEADER_NOT_AVAILABLE; anything else is wrong.
            assert t["error"] in (kwire.NONE, kwire.UNKNOWN_TOPIC_OR_PARTITION,
                                  kwire.LEADER_NOT_AVAILABLE), t
            return t["error"] == kwire.NONE and list(t["partitions"]) == [0] and t

        t = wait_until(created, 30, "auto-creation through Metadata")
        err, leader = t["partitions"][0]
        assert err == kwire.NONE and leader >= 0


def test_invalid_topic_names_rejected(broker):
    from confluent_kafka.admin import NewTopic

    with kwire.Conn.to(broker.bootstrap) as c:
        topics = c.metadata(INVALID_NAMES, allow_auto_create=True)["topics"]
        for name in INVALID_NAMES:
            assert topics[name]["error"] == kwire.INVALID_TOPIC_EXCEPTION, name[:20]
    a = admin(broker.bootstrap)
    futs = a.create_topics([NewTopic(n, 1, 1) for n in INVALID_NAMES], request_timeout=30)
    for name, fut in futs.items():
        with pytest.raises(Exception) as e:
            fut.result(timeout=60)
        # librdkafka names Kafka's INVALID_TOPIC_EXCEPTION (17) "TOPIC_EXCEPTION".
        assert e.value.args[0].code() == kwire.INVALID_TOPIC_EXCEPTION, name[:20]
    listed = a.list_topics(timeout=30).topics
    assert not set(INVALID_NAMES) & set(listed)
    # 249 characters is the longest legal name.
    longest = "y" * 249
    create_topic(broker.bootstrap, longest)
    a.delete_topics([longest])[longest].result(timeout=60)


def test_record_above_max_message_bytes_is_rejected(broker, topic):
    create_topic(broker.bootstrap, topic, config={"max.message.bytes": "1024"})
    big = Msg(b"k", b"z" * 4096)
    small = Msg(b"k", b"fits")
    [d] = CONFLUENT.produce(broker.bootstrap, topic, [big], extra={"retries": 0})
    assert d.error == "MSG_SIZE_TOO_LARGE"
    [d] = KAFKA_PYTHON.produce(broker.bootstrap, topic, [big])
    assert d.error == "MessageSizeTooLargeError"
    [d] = JAVA.produce(broker.bootstrap, topic, [big])
    assert d.error == "RecordTooLargeException"
    with kwire.Conn.to(broker.bootstrap) as c:
        batch = kwire.record_batch([kwire.Record(b"k", b"z" * 4096)], 1_700_000_000_000)
        assert c.produce(topic, 0, batch) == (kwire.MESSAGE_TOO_LARGE, -1)
    assert log_end(broker.bootstrap, topic) == 0, "a rejected record must not be stored"
    [d] = CONFLUENT.produce(broker.bootstrap, topic, [small])
    assert d.error is None and d.offset == 0
    [g] = CONFLUENT.consume(broker.bootstrap, topic, 1)
    assert g.value == b"fits"


def test_fetch_out_of_range(broker, topic):
    from confluent_kafka import Consumer, TopicPartition

    create_topic(broker.bootstrap, topic)
    CONFLUENT.produce(broker.bootstrap, topic, [Msg(None, f"v{i}".encode()) for i in range(5)])
    with kwire.Conn.to(broker.bootstrap) as c:
        err, _, batches = c.fetch(topic, 0, 100)
        assert err == kwire.OFFSET_OUT_OF_RANGE and batches == []
        err, hw, batches = c.fetch(topic, 0, 5)  # the log end itself is in range
        assert (err, hw, batches) == (kwire.NONE, 5, [])

    # auto.offset.reset=earliest: from 0 again.
    got = CONFLUENT.consume(broker.bootstrap, topic, 5, partition=0, offset=100)
    assert [g.offset for g in got] == [0, 1, 2, 3, 4]
    got = KAFKA_PYTHON.consume(broker.bootstrap, topic, 5, partition=0, offset=100)
    assert [g.offset for g in got] == [0, 1, 2, 3, 4]
    got = JAVA.consume(broker.bootstrap, topic, 5, partition=0, offset=100)
    assert [g.offset for g in got] == [0, 1, 2, 3, 4]

    # auto.offset.reset=error / none: the client surfaces the out-of-range error.
    with pytest.raises(ClientError) as e:
        CONFLUENT.consume(broker.bootstrap, topic, 1, partition=0, offset=100,
                          extra={"auto.offset.reset": "error"}, timeout=30)
    assert e.value.name == "_AUTO_OFFSET_RESET"
    with pytest.raises(ClientError) as e:
        JAVA.consume(broker.bootstrap, topic, 1, partition=0, offset=100,
                     extra={"auto.offset.reset": "none"}, timeout=30)
    assert e.value.name == "OffsetOutOfRangeException"

    # auto.offset.reset=latest: jumps to the end; the first record seen is a new one.
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "weir-e2e-latest",
                  "enable.auto.commit": False, "auto.offset.reset": "latest"})
    try:
        c.assign([TopicPartition(topic, 0, 100)])
        first = None
        for i in range(60):  # produce until the reset consumer sees something
            CONFLUENT.produce(broker.bootstrap, topic, [Msg(None, f"new{i}".encode())])
            m = c.poll(1.0)
            if m is not None:
                assert m.error() is None, m.error()
                first = m
                break
        assert first is not None, "consumer reset to latest never received a new record"
        assert first.offset() >= 5 and first.value().startswith(b"new")
    finally:
        c.close()


def test_unknown_topic_with_auto_create_off(new_broker, topic):
    b = new_broker(auto_create=False)
    with kwire.Conn.to(b.bootstrap) as c:
        for _ in range(3):
            t = c.metadata([topic], allow_auto_create=True)["topics"][topic]
            assert t["error"] == kwire.UNKNOWN_TOPIC_OR_PARTITION
    [d] = CONFLUENT.produce(b.bootstrap, topic, [Msg(b"k", b"v")],
                            extra={"topic.metadata.propagation.max.ms": 1000,
                                   "message.timeout.ms": 15000})
    assert d.error in ("UNKNOWN_TOPIC_OR_PART", "_UNKNOWN_TOPIC"), d.error
    with kwire.Conn.to(b.bootstrap) as c:
        assert c.metadata([topic])["topics"][topic]["error"] == kwire.UNKNOWN_TOPIC_OR_PARTITION
    # Explicit creation still works.
    create_topic(b.bootstrap, topic, partitions=2)
    [d] = CONFLUENT.produce(b.bootstrap, topic, [Msg(b"k", b"v", [], None, 1)])
    assert d.error is None and (d.partition, d.offset) == (1, 0)
