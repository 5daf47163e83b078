"""A cluster of Weir nodes on loopback: three voters of the metadata quorum (combined
broker + controller), then a fourth broker that is not a voter. Real clients bootstrap from
any node and find each partition's leader; a broker that is killed is fenced once its
session runs out, its partitions report no leader, and it takes them back when it
returns; losing the active controller elects another.

Topics here have replication factor 1, so a killed broker's partitions go offline; see
test_replication.py for replicated partitions and failover.

Weir only for now: the Kafka reference (scripts/kafka-reference) runs a single node.
"""

from __future__ import annotations

import subprocess
import uuid

import pytest

from brokers import WeirBroker
from cluster import make_nodes, metadata, require_own_weir, start_voters, wait_brokers
from clients import Confluent, Java, KafkaPython, Kcat, Msg
from helpers import admin, wait_until

SESSION_MS = 3000
HEARTBEAT_MS = 500


@pytest.fixture(scope="module")
def cluster(target, tmp_path_factory):
    require_own_weir(target)
    nodes = make_nodes(tmp_path_factory.mktemp("cluster"), (1, 2, 3, 4), (1, 2, 3),
                       ["--broker-session-timeout-ms", str(SESSION_MS),
                        "--broker-heartbeat-interval-ms", str(HEARTBEAT_MS)])
    try:
        start_voters(nodes, (1, 2, 3))
        yield nodes
    finally:
        for b in nodes.values():
            b.close()


def leaders(node: WeirBroker, topic: str) -> dict[int, tuple[int, int]]:
    """{partition: (error, leader)} as `node` describes `topic`."""
    t = metadata(node, [topic])["topics"].get(topic)
    return {} if t is None else t["partitions"]


def leaders_once_known(node: WeirBroker, topic: str, count: int) -> dict[int, tuple[int, int]]:
    """[`leaders`] once `node` has applied all `count` partitions of a topic another node
    created (each node publishes the metadata log at its own pace)."""
    return wait_until(lambda: (lead := leaders(node, topic)) and len(lead) == count and lead,
                      30, f"{node.bootstrap} to know {topic}")


def create(node: WeirBroker, topic: str, partitions: int, rf: int = 1) -> None:
    from confluent_kafka.admin import NewTopic

    a = admin(node.bootstrap)
    fut = a.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=rf)],
                          operation_timeout=30, request_timeout=30)[topic]
    fut.result(timeout=60)


def keyed(n: int, tag: str) -> list[Msg]:
    return [Msg(f"k{i}".encode(), f"{tag}-{i}".encode()) for i in range(n)]


def values(got) -> set[bytes]:
    return {g.value for g in got}


def weir_cli(node: WeirBroker, *args: str) -> str:
    res = subprocess.run([str(node.binary), *args, "--bootstrap", node.bootstrap],
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def controller_of(node: WeirBroker) -> int:
    return metadata(node)["controller_id"]


def test_three_voters_serve_real_clients_from_any_node(cluster):
    n1, n2, n3 = cluster[1], cluster[2], cluster[3]
    md = {n: metadata(cluster[n]) for n in (1, 2, 3)}
    assert len({m["cluster_id"] for m in md.values()}) == 1, "one cluster id everywhere"
    assert {m["controller_id"] for m in md.values()} <= {1, 2, 3}

    topic = f"spread-{uuid.uuid4().hex[:8]}"
    create(n1, topic, 6)
    # Every node serves Metadata from its own image: all agree once they applied the topic.
    wait_until(lambda: all(len(leaders(cluster[n], topic)) == 6 for n in (1, 2, 3)), 30,
               "every node to know the topic")
    lead = {p: leader for p, (err, leader) in leaders(n3, topic).items() if err == 0}
    assert sorted(lead) == list(range(6))
    assert sorted(list(lead.values()).count(b) for b in (1, 2, 3)) == [2, 2, 2], lead

    # Produce through one node and consume through another; the clients find the leaders.
    sent = keyed(300, "c")
    deliveries = Confluent().produce(n2.bootstrap, topic, sent)
    assert all(d.error is None for d in deliveries)
    assert {d.partition for d in deliveries} == set(range(6)), "keys spread over all leaders"
    more = keyed(100, "kp")
    assert all(d.error is None for d in KafkaPython().produce(n3.bootstrap, topic, more))
    assert all(d.error is None for d in Java().produce(n1.bootstrap, topic, keyed(50, "j")))
    want = values([*sent, *more]) | {f"j-{i}".encode() for i in range(50)}
    assert values(KafkaPython().consume(n1.bootstrap, topic, 450)) == want
    assert values(Confluent().consume(n3.bootstrap, topic, 450)) == want
    assert values(Kcat().consume(n2.bootstrap, topic, 450)) == want
    assert values(Java().consume(n2.bootstrap, topic, 450)) == want

    # The Java client sees the same brokers and controller as the raw Metadata.
    jmd = Java().metadata(n3.bootstrap, [topic])
    assert sorted(b["id"] for b in jmd["brokers"]) == [1, 2, 3], jmd


def test_groups_commit_through_their_coordinator_on_any_node(cluster):
    from confluent_kafka import Consumer, TopicPartition

    topic = f"grouped-{uuid.uuid4().hex[:8]}"
    create(cluster[1], topic, 3)
    sent = keyed(90, "g")
    assert all(d.error is None for d in Confluent().produce(cluster[2].bootstrap, topic, sent))
    group = f"g-{uuid.uuid4().hex[:8]}"
    conf = {"bootstrap.servers": cluster[3].bootstrap, "group.id": group,
            "auto.offset.reset": "earliest", "enable.auto.commit": False}
    c = Consumer(conf)
    got = []
    try:
        c.subscribe([topic])

        def poll():
            for m in c.consume(num_messages=100, timeout=0.5):
                if m.error() is None:
                    got.append(m)
            return len(got) >= 90

        wait_until(poll, 60, "the group consumer to read everything")
        c.commit(asynchronous=False)
    finally:
        c.close()
    assert {m.value() for m in got} == values(sent)
    # A member of the same group joining through another node resumes at the commits.
    c = Consumer({**conf, "bootstrap.servers": cluster[1].bootstrap})
    try:
        committed = c.committed([TopicPartition(topic, p) for p in range(3)], timeout=30)
    finally:
        c.close()
    assert sum(tp.offset for tp in committed) == 90, committed


def test_a_killed_broker_is_fenced_and_takes_its_partitions_back(cluster):
    topic = f"fence-{uuid.uuid4().hex[:8]}"
    create(cluster[1], topic, 6)
    sent = keyed(120, "before")
    assert all(d.error is None for d in Confluent().produce(cluster[1].bootstrap, topic, sent))
    # Kill a broker that is not the active controller.
    victim = next(n for n in (3, 2, 1) if n != controller_of(cluster[1]))
    alive = [n for n in (1, 2, 3) if n != victim]
    cluster[victim].kill9()
    try:
        for n in alive:
            wait_brokers(cluster[n], set(alive))
        parts = leaders(cluster[alive[0]], topic)
        offline = {p for p, (err, leader) in parts.items() if leader == -1}
        assert len(offline) == 2, parts
        assert all(parts[p][0] == 5 for p in offline), "LEADER_NOT_AVAILABLE for leaderless ones"
        # `weir cluster describe` agrees: the live brokers, and the offline partitions.
        out = weir_cli(cluster[alive[0]], "cluster", "describe")
        section = out.split("offline partitions:")[1].split("under-replicated")[0]
        listed_offline = {int(line.split()[0].rsplit("-", 1)[1]) for line in section.splitlines()
                          if line.strip().startswith(f"{topic}-")}
        assert listed_offline == offline, out
        listed = {int(line.split()[0]) for line in out.splitlines() if line[:1].isdigit()}
        assert listed == set(alive), out
        # The rest still take writes.
        others = [p for p in parts if p not in offline]
        msgs = [Msg(b"x", f"during-{p}".encode(), partition=p) for p in others]
        assert all(d.error is None
                   for d in Confluent().produce(cluster[alive[0]].bootstrap, topic, msgs))
    finally:
        cluster[victim].start()
    for n in (1, 2, 3):
        wait_brokers(cluster[n], {1, 2, 3})
    wait_until(lambda: all(leader >= 0 for _, leader in leaders(cluster[1], topic).values()),
               30, "the returned broker to lead its partitions again")
    assert {p for p, (_, leader) in leaders(cluster[1], topic).items()
            if leader == victim} == offline
    got = Confluent().consume(cluster[victim].bootstrap, topic, len(sent) + len(msgs))
    assert values(got) == values(sent) | {m.value for m in msgs}, "nothing lost"


def test_losing_the_active_controller_elects_another(cluster):
    old = controller_of(cluster[1])
    alive = [n for n in (1, 2, 3) if n != old]
    cluster[old].kill9()
    try:
        wait_until(lambda: controller_of(cluster[alive[0]]) in alive, 30, "a new controller")
        for n in alive:
            wait_brokers(cluster[n], set(alive))
        # The two left are a majority: admin changes still go through, avoiding the fenced one.
        topic = f"after-{uuid.uuid4().hex[:8]}"
        create(cluster[alive[1]], topic, 4)
        lead = leaders_once_known(cluster[alive[0]], topic, 4)
        assert sorted(leader for _, leader in lead.values()) == sorted(alive * 2), lead
        sent = keyed(40, "a")
        assert all(d.error is None for d in Confluent().produce(cluster[alive[0]].bootstrap,
                                                               topic, sent))
    finally:
        cluster[old].start()
    for n in (1, 2, 3):
        wait_brokers(cluster[n], {1, 2, 3})
    # The restarted node caught up with what was decided without it.
    assert len(leaders(cluster[old], topic)) == 4


def test_a_broker_that_is_not_a_voter_joins(cluster):
    n4 = cluster[4]
    n4.start()
    for n in (1, 2, 3, 4):
        wait_brokers(cluster[n], {1, 2, 3, 4})
    topic = f"four-{uuid.uuid4().hex[:8]}"
    create(cluster[4], topic, 8)
    lead = leaders_once_known(cluster[2], topic, 8)
    assert sorted(leader for _, leader in lead.values()) == [1, 1, 2, 2, 3, 3, 4, 4], lead
    sent = keyed(80, "n4")
    assert all(d.error is None for d in KafkaPython().produce(n4.bootstrap, topic, sent))
    assert values(Confluent().consume(cluster[1].bootstrap, topic, 80)) == values(sent)


def test_transactions_span_partitions_on_every_broker(cluster):
    """The transaction coordinator (on one node) has the other nodes write the markers of
    the partitions they lead; read_committed consumers anywhere see committed records only."""
    from confluent_kafka import Producer

    topic = f"txn-{uuid.uuid4().hex[:8]}"
    create(cluster[1], topic, 6)
    wait_until(lambda: all(len(leaders(cluster[n], topic)) == 6 for n in (1, 2, 3)), 30,
               "every node to know the topic")
    p = Producer({"bootstrap.servers": cluster[2].bootstrap,
                  "transactional.id": f"tx-{uuid.uuid4().hex[:8]}"})
    p.init_transactions(30)
    for tag, commit in (("kept", True), ("dropped", False), ("kept2", True)):
        p.begin_transaction()
        for part in range(6):
            p.produce(topic, key=b"k", value=f"{tag}-{part}".encode(), partition=part)
        p.flush(30)
        if commit:
            p.commit_transaction(30)
        else:
            p.abort_transaction(30)
    want = {f"{t}-{part}".encode() for t in ("kept", "kept2") for part in range(6)}
    extra = {"isolation.level": "read_committed"}
    got = Confluent().consume(cluster[3].bootstrap, topic, 12, extra=extra)
    assert values(got) == want
    # Every partition got its markers: each last stable offset reached its end.
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": cluster[1].bootstrap, "group.id": "lso-check",
                  "isolation.level": "read_committed"})
    try:
        for part in range(6):
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, part), timeout=30)
            assert hi == 6, f"partition {part}: last stable offset {hi} (3 records, 3 markers)"
    finally:
        c.close()
