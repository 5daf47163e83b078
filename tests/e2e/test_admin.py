"""Admin APIs through confluent-kafka's AdminClient and kafka-python's KafkaAdminClient:
CreateTopics (and validate_only), DeleteTopics, CreatePartitions, DescribeConfigs,
DescribeCluster; ListOffsets earliest/latest/by timestamp."""

from __future__ import annotations

import pytest

import kwire
from clients import CONFLUENT, JAVA, Msg
from helpers import (admin, create_topic, log_end, now_ms, partition_leaders, wait_partitions,
                     wait_until)


def topic_exists(bootstrap: str, topic: str) -> bool:
    with kwire.Conn.to(bootstrap) as c:
        t = c.metadata([topic])["topics"].get(topic)
    return t is not None and t["error"] == kwire.NONE


# ------------------------------------------------------------------ confluent-kafka


def test_confluent_admin_topic_lifecycle(broker, topic):
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import ConfigResource, NewPartitions, NewTopic, ResourceType

    a = admin(broker.bootstrap)
    # validate_only: accepted, nothing created.
    probe = topic + "-validate"
    a.create_topics([NewTopic(probe, 2, 1)], validate_only=True)[probe].result(timeout=60)
    assert not topic_exists(broker.bootstrap, probe)
    assert probe not in a.list_topics(timeout=30).topics

    a.create_topics([NewTopic(topic, 3, 1, config={"max.message.bytes": "2000000",
                                                   "retention.ms": "3600000"})],
                    operation_timeout=30)[topic].result(timeout=60)
    wait_partitions(broker.bootstrap, topic, 3)
    md = a.list_topics(topic, timeout=30).topics[topic]
    assert md.error is None and sorted(md.partitions) == [0, 1, 2]

    # Creating it again: TOPIC_ALREADY_EXISTS.
    with pytest.raises(KafkaException) as e:
        a.create_topics([NewTopic(topic, 3, 1)])[topic].result(timeout=60)
    assert e.value.args[0].name() == "TOPIC_ALREADY_EXISTS"

    res = ConfigResource(ResourceType.TOPIC, topic)
    cfg = a.describe_configs([res])[res].result(timeout=60)
    assert cfg["max.message.bytes"].value == "2000000"
    assert cfg["retention.ms"].value == "3600000"
    assert cfg["cleanup.policy"].value == "delete"  # a default, still described
    assert not cfg["max.message.bytes"].is_default

    a.create_partitions([NewPartitions(topic, 5)])[topic].result(timeout=60)
    wait_partitions(broker.bootstrap, topic, 5)

    a.delete_topics([topic], operation_timeout=30)[topic].result(timeout=60)
    wait_until(lambda: not topic_exists(broker.bootstrap, topic), 60, f"{topic} to be deleted")
    wait_until(lambda: topic not in a.list_topics(timeout=30).topics, 60, "list_topics update")


def test_confluent_describe_cluster(broker):
    a = admin(broker.bootstrap)
    d = a.describe_cluster(request_timeout=30).result(timeout=60)
    assert d.cluster_id
    host, port = broker.bootstrap.rsplit(":", 1)
    assert [(n.host, n.port) for n in d.nodes] == [(host, int(port))]
    assert d.controller is not None and d.controller.id >= 0
    # The broker's own id is what Metadata reports as leader of every partition.
    with kwire.Conn.to(broker.bootstrap) as c:
        md = c.metadata([])
    assert [b[0] for b in md["brokers"]] == [n.id for n in d.nodes]
    assert md["cluster_id"] == d.cluster_id


def test_confluent_list_offsets(broker, topic):
    from confluent_kafka import Consumer, TopicPartition
    from confluent_kafka.admin import OffsetSpec

    create_topic(broker.bootstrap, topic)
    base = now_ms() - 3_600_000
    msgs = [Msg(f"k{i}".encode(), f"v{i}".encode(), [], base + i * 1000) for i in range(10)]
    CONFLUENT.produce(broker.bootstrap, topic, msgs)
    tp = TopicPartition(topic, 0)

    a = admin(broker.bootstrap)
    specs = {"earliest": OffsetSpec.earliest(), "latest": OffsetSpec.latest(),
             "ts5": OffsetSpec.for_timestamp(base + 5000),
             "ts5.5": OffsetSpec.for_timestamp(base + 5500),
             "future": OffsetSpec.for_timestamp(base + 10 * 60_000)}
    got = {}
    for name, spec in specs.items():
        got[name] = a.list_offsets({tp: spec}, request_timeout=30)[tp].result(timeout=60)
    assert got["earliest"].offset == 0
    assert got["latest"].offset == 10
    assert (got["ts5"].offset, got["ts5"].timestamp) == (5, base + 5000)
    assert (got["ts5.5"].offset, got["ts5.5"].timestamp) == (6, base + 6000)
    assert got["future"].offset == -1

    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "weir-e2e-lo",
                  "enable.auto.commit": False})
    try:
        assert c.get_watermark_offsets(tp, timeout=30) == (0, 10)
        [r] = c.offsets_for_times([TopicPartition(topic, 0, base + 3000)], timeout=30)
        assert r.offset == 3
        [r] = c.offsets_for_times([TopicPartition(topic, 0, base + 10 * 60_000)], timeout=30)
        assert r.offset == -1  # OFFSET_END: no record at or after that time
    finally:
        c.close()
    with kwire.Conn.to(broker.bootstrap) as conn:
        assert conn.list_offsets(topic, 0, -2) == (kwire.NONE, 0)
        assert conn.list_offsets(topic, 0, -1) == (kwire.NONE, 10)
        assert conn.list_offsets(topic, 0, base + 7000) == (kwire.NONE, 7)


def test_java_admin_describe(broker, topic):
    """The Java Admin client: DescribeCluster and DescribeTopics."""
    create_topic(broker.bootstrap, topic, partitions=4)
    md = JAVA.metadata(broker.bootstrap, [topic])
    host, port = broker.bootstrap.rsplit(":", 1)
    assert md["clusterId"]
    assert [(b["host"], b["port"]) for b in md["brokers"]] == [(host, int(port))]
    assert md["controller"] in [b["id"] for b in md["brokers"]]
    assert md["topics"] == {topic: 4}


# ------------------------------------------------------------------ kafka-python


def kp_admin(broker):
    from kafka import KafkaAdminClient

    return KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=30000,
                            client_id="weir-e2e-kafka-python")


def test_kafka_python_admin_topic_lifecycle(broker, topic):
    from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
    from kafka.errors import InvalidTopicError, TopicAlreadyExistsError

    a = kp_admin(broker)
    try:
        probe = topic + "-validate"
        r = a.create_topics([NewTopic(probe, 2, 1)], validate_only=True)
        assert [t["error_code"] for t in r["topics"]] == [0]
        assert not topic_exists(broker.bootstrap, probe)

        r = a.create_topics([NewTopic(topic, 2, 1, topic_configs={"max.message.bytes": "1500000"})])
        assert [t["error_code"] for t in r["topics"]] == [0]
        wait_partitions(broker.bootstrap, topic, 2)
        wait_until(lambda: topic in a.list_topics(), 30, "list_topics to show the topic")

        with pytest.raises(TopicAlreadyExistsError):
            a.create_topics([NewTopic(topic, 2, 1)])
        with pytest.raises(InvalidTopicError):
            a.create_topics([NewTopic("bad/name", 1, 1)])

        cfg = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        entries = cfg["topic"][topic]
        assert entries["max.message.bytes"]["value"] == "1500000"
        assert entries["max.message.bytes"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"

        a.create_partitions({topic: NewPartitions(total_count=4)})
        wait_partitions(broker.bootstrap, topic, 4)

        r = a.delete_topics([topic])
        assert [t["error_code"] for t in r["topics"]] == [0]
        wait_until(lambda: not topic_exists(broker.bootstrap, topic), 60, "topic deleted")
    finally:
        a.close()


def test_kafka_python_describe_cluster(broker):
    a = kp_admin(broker)
    try:
        d = a.describe_cluster()
    finally:
        a.close()
    host, port = broker.bootstrap.rsplit(":", 1)
    assert d["cluster_id"]
    assert [(b["host"], b["port"]) for b in d["brokers"]] == [(host, int(port))]
    assert d["controller_id"] in [b["broker_id"] for b in d["brokers"]]


def test_kafka_python_offsets(broker, topic):
    from kafka import KafkaConsumer, TopicPartition

    create_topic(broker.bootstrap, topic)
    base = now_ms() - 3_600_000
    msgs = [Msg(None, f"v{i}".encode(), [], base + i * 1000) for i in range(10)]
    CONFLUENT.produce(broker.bootstrap, topic, msgs)
    tp = TopicPartition(topic, 0)
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None,
                      enable_auto_commit=False, request_timeout_ms=30000)
    try:
        assert c.beginning_offsets([tp]) == {tp: 0}
        assert c.end_offsets([tp]) == {tp: 10}
        r = c.offsets_for_times({tp: base + 4000})[tp]
        assert (r.offset, r.timestamp) == (4, base + 4000)
        r = c.offsets_for_times({tp: base + 4001})[tp]
        assert (r.offset, r.timestamp) == (5, base + 5000)
        assert c.offsets_for_times({tp: base + 600_000})[tp] is None
    finally:
        c.close()
    assert log_end(broker.bootstrap, topic) == 10
    assert partition_leaders(broker.bootstrap, topic).keys() == {0}
