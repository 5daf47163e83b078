"""Keyed records land in the partition Kafka's murmur2 partitioner picks, whichever
client computed it: the broker must honour the producer's partition and report the
same partition count to every client."""

from __future__ import annotations

import pytest

from clients import BY_NAME, CONFLUENT, Msg
from helpers import create_topic, murmur2_partition

N_PARTITIONS = 7

# client -> extra producer config selecting Kafka's murmur2 partitioner
PARTITIONERS = {
    "java": {},  # the Java default for keyed records
    "kafka-python": {},  # its DefaultPartitioner is Java-compatible murmur2
    "confluent": {"partitioner": "murmur2_random"},
    "kcat": {"partitioner": "murmur2_random"},
}


@pytest.mark.parametrize("client", list(PARTITIONERS))
def test_keyed_records_follow_murmur2(broker, topic, client):
    c = BY_NAME[client]
    create_topic(broker.bootstrap, topic, partitions=N_PARTITIONS)
    msgs = [Msg(f"user-{i}".encode(), f"payload-{i}".encode()) for i in range(300)]
    deliveries = c.produce(broker.bootstrap, topic, msgs, extra=PARTITIONERS[client])
    if client != "kcat":
        for m, d in zip(msgs, deliveries, strict=True):
            assert d.partition == murmur2_partition(m.key, N_PARTITIONS), m.key
    got = CONFLUENT.consume(broker.bootstrap, topic, len(msgs))
    assert len(got) == len(msgs)
    for g in got:
        assert g.partition == murmur2_partition(g.key, N_PARTITIONS), g.key
        assert g.value == b"payload-" + g.key.split(b"-")[1]
    used = {g.partition for g in got}
    assert used == set(range(N_PARTITIONS)), f"300 keys should hit all partitions: {used}"
    # Per partition, records keep the order they were sent in.
    for p in used:
        keys = [int(g.key.split(b"-")[1]) for g in got if g.partition == p]
        assert keys == sorted(keys)
