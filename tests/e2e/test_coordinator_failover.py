"""Groups and transactions survive the loss of the broker coordinating them, on a
three-node Weir cluster on loopback: `__consumer_offsets` and `__transaction_state` are
replicated like any topic (offsets.topic.replication.factor,
transaction.state.log.replication.factor), and when the leader of a group's or a
transactional id's partition is kill -9'd, the broker that takes the partition over loads
the coordinator from its replica and real clients carry on where they were.

Each test passes on Weir and on a three-node Apache Kafka cluster (scripts/kafka-reference).
"""

from __future__ import annotations

import uuid

import pytest

from clients import unique_group
from cluster import bootstrap_of, converged, create, on_kafka_only, state
from groups import Member, wait_records
from helpers import wait_until
from test_groups import everything, produce
from txn import TxnClients, new_txn_id, read, values_by_partition

OFFSETS = "__consumer_offsets"
TXNS = "__transaction_state"


@pytest.fixture
def cluster(three_node_cluster):
    return three_node_cluster


def partition_of(key: str, partitions: int) -> int:
    """The coordinator partition of a group or transactional id, as Kafka computes it."""
    data = key.encode("utf-16-be")
    h = 0
    for i in range(0, len(data), 2):  # Java's String.hashCode over UTF-16 units
        h = (h * 31 + int.from_bytes(data[i:i + 2], "big")) & 0xFFFFFFFF
    if h >= 1 << 31:
        h -= 1 << 32
    return (0 if h == -(1 << 31) else abs(h)) % partitions


def coordinator(cluster, topic: str, key: str) -> int:
    """The node leading `key`'s partition of `topic`, once that partition is fully in sync."""
    wait_until(lambda: converged(cluster, topic), 60, f"{topic} to have full ISRs")
    parts = state(cluster, topic)
    p = partition_of(key, len(parts))
    leader, replicas, _ = parts[p]
    assert len(replicas) == 3, f"{topic}-{p} has replicas {replicas}"
    return leader


def fail_over(cluster, topic: str, key: str) -> int:
    """kill -9s the coordinator of `key` and waits for another node to lead its partition;
    returns the killed node."""
    victim = coordinator(cluster, topic, key)
    cluster[victim].kill9()
    p = partition_of(key, len(state(cluster, topic)))
    wait_until(lambda: state(cluster, topic).get(p, (-1,))[0] not in (-1, victim), 60,
               f"a new leader of {topic}-{p}")
    return victim


@pytest.fixture
def members():
    started: list[Member] = []
    yield started
    for m in started:
        m.kill9()


@pytest.mark.parametrize("client", ["confluent", "kafka-python", "java"])
def test_committed_offsets_survive_the_loss_of_their_coordinator(cluster, members, client,
                                                                 target):
    on_kafka_only(client, target, keep="java")
    topic = f"commits-{uuid.uuid4().hex[:8]}"
    create(cluster, topic, 2)
    produce(bootstrap_of(cluster), topic, 10, 2, tag="before")
    group = unique_group()
    a = Member(client, bootstrap_of(cluster), topic, group)
    members.append(a)
    wait_records(a, everything(10, 2))
    a.commit()
    a.close()
    victim = fail_over(cluster, OFFSETS, group)
    try:
        produce(bootstrap_of(cluster), topic, 3, 2, tag="after")
        b = Member(client, bootstrap_of(cluster), topic, group)
        members.append(b)
        wait_records(b, everything(3, 2, start=10))
        assert min(o for _, o in b.records()) == 10, "resumed before the committed offset"
        assert all(e["v"].startswith("after") for e in b.of("rec"))
        b.close()
    finally:
        cluster[victim].start()
    wait_until(lambda: converged(cluster, OFFSETS), 60, "the old coordinator to catch up")


@pytest.mark.parametrize("client", ["confluent", "java"])
def test_an_open_transaction_commits_after_its_coordinator_is_lost(cluster, client, target):
    on_kafka_only(client, target, keep="java")
    topic = f"txnfail-{uuid.uuid4().hex[:8]}"
    create(cluster, topic, 3)
    txn_id = new_txn_id("failover")
    clients = TxnClients()
    try:
        producer = clients.start(client, bootstrap_of(cluster), txn_id)
        producer.init()
        owner = coordinator(cluster, TXNS, txn_id)
        # A partition led elsewhere: only the coordinator is lost.
        part = next(p for p, (leader, _, _) in state(cluster, topic).items() if leader != owner)
        producer.begin()
        producer.batch(topic, part, "one", 10)
        producer.commit()
        producer.begin()
        producer.batch(topic, part, "two", 10)
        victim = fail_over(cluster, TXNS, txn_id)
        assert victim == owner
        try:
            producer.batch(topic, part, "three", 5)
            producer.commit()
            got = read("confluent", bootstrap_of(cluster), topic, 25, committed=True,
                       partition=part)
            values = values_by_partition(got)[part]
            want = ([f"one-{i}" for i in range(10)] + [f"two-{i}" for i in range(10)]
                    + [f"three-{i}" for i in range(5)])
            assert values == want
            # The new coordinator knows the id: a second producer fences the first.
            second = clients.start(client, bootstrap_of(cluster), txn_id)
            second.init()
            r = producer.cmd("begin")
            if "error" not in r:
                r = producer.cmd("send", topic, part, "zombie", "zombie")
            assert "error" in r, f"the first producer was not fenced: {r}"
        finally:
            cluster[victim].start()
    finally:
        clients.close_all()
    wait_until(lambda: converged(cluster, TXNS), 60, "the old coordinator to catch up")
