"""Several Weir nodes on loopback for the cluster tests: voters of the metadata quorum (and
brokers that are not voters), and the Metadata views those tests share."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

import pytest

import kwire
from brokers import REPO, KafkaBroker, WeirBroker, free_port
from helpers import admin, wait_until


def require_own_weir(target: str) -> None:
    """Skips unless the run targets Weir brokers this test starts itself."""
    if target != "weir":
        pytest.skip("the Kafka reference runs a single node")
    if os.environ.get("WEIR_TEST_BOOTSTRAP"):
        pytest.skip("needs brokers it starts itself")


def make_nodes(tmp: Path, ids, voter_ids, args: list[str]) -> dict[int, WeirBroker]:
    """Nodes `ids` (not started), each with its own data dir, Kafka and controller port;
    `voter_ids` form the quorum; `args` are extra `weir serve` flags for every node."""
    binary = Path(os.environ.get("WEIR_BIN", REPO / "target" / "debug" / "weir"))
    cports = {n: free_port() for n in ids}
    voters = ",".join(f"{n}@127.0.0.1:{cports[n]}" for n in voter_ids)
    return {
        n: WeirBroker(binary, tmp / f"node{n}", free_port(),
                      args=["--node-id", str(n), "--controller-listen", f"127.0.0.1:{cports[n]}",
                            "--controller-voters", voters, *args])
        for n in ids
    }


def start_voters(nodes: dict[int, WeirBroker], voter_ids) -> None:
    """Starts the voters (a voter serves only once a majority runs: all first, then wait)
    until each lists every one of them."""
    for n in voter_ids:
        nodes[n].spawn()
    for n in voter_ids:
        nodes[n].wait_ready()
    for n in voter_ids:
        wait_brokers(nodes[n], set(voter_ids))


def metadata(node: WeirBroker, topics: list[str] | None = None) -> dict:
    with kwire.Conn.to(node.bootstrap) as c:
        return c.metadata(topics)


def brokers_of(node: WeirBroker) -> set[int]:
    try:
        return {b[0] for b in metadata(node)["brokers"]}
    except OSError:
        return set()


def wait_brokers(node: WeirBroker, want: set[int], timeout: float = 60) -> None:
    wait_until(lambda: brokers_of(node) == want, timeout,
               f"{node.bootstrap} to list brokers {sorted(want)}")


# ------------------------------------------------------------------ a three-node cluster

SESSION_MS = 3000
HEARTBEAT_MS = 500
LAG_MS = 2000
NODES = (1, 2, 3)


def three_nodes(target: str, tmp_path_factory, name: str):
    """A fixture's body: three voters of the target (Weir, or Apache Kafka through
    scripts/kafka-reference) with short session and lag timeouts and no automatic
    preferred-leader rebalance (tests move leaders themselves), all stopped (and any
    SIGSTOPped one continued) at the end."""
    if os.environ.get("WEIR_TEST_BOOTSTRAP"):
        pytest.skip("needs brokers it starts itself")
    tmp = tmp_path_factory.mktemp(name)
    if target == "kafka":
        nodes = kafka_nodes(tmp)
    else:
        nodes = make_nodes(tmp, NODES, NODES,
                           ["--broker-session-timeout-ms", str(SESSION_MS),
                            "--broker-heartbeat-interval-ms", str(HEARTBEAT_MS),
                            "--replica-lag-time-max-ms", str(LAG_MS),
                            "--auto-leader-rebalance-enable", "false",
                            "--share-coordinator-state-topic-num-partitions", "5"])
    try:
        start_voters(nodes, NODES)
        yield nodes
    finally:
        # Throwaway nodes: killed, since the last ones to stop cleanly would wait for a
        # quorum that has gone.
        for b in nodes.values():
            b.kill9()


def on_kafka_only(client: str, target: str, keep: str) -> None:
    """Skips all but the `keep` client's case against Kafka: the other clients are proven
    on Weir, and Kafka only has to show the test expects what Kafka does."""
    if target == "kafka" and client != keep:
        pytest.skip(f"against Kafka, the {keep} case stands for every client")


def kafka_nodes(tmp: Path) -> dict[int, KafkaBroker]:
    """Three combined broker+controller Kafka nodes (not started), configured as
    [`three_nodes`] configures Weir's: internal topics replicated three times."""
    cports = {n: free_port() for n in NODES}
    voters = ",".join(f"{n}@127.0.0.1:{cports[n]}" for n in NODES)
    return {n: kafka_node(tmp, n, free_port(), cports[n], voters) for n in NODES}


# As the Weir nodes of `three_nodes` are set up.
KAFKA_CLUSTER_CONFIG = {
    "broker.session.timeout.ms": str(SESSION_MS),
    "broker.heartbeat.interval.ms": str(HEARTBEAT_MS),
    "replica.lag.time.max.ms": str(LAG_MS),
    "auto.leader.rebalance.enable": "false",
    "offsets.topic.replication.factor": "3",
    "offsets.topic.num.partitions": "5",
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
    "transaction.state.log.num.partitions": "5",
    "share.coordinator.state.topic.replication.factor": "3",
    "share.coordinator.state.topic.min.isr": "2",
    "share.coordinator.state.topic.num.partitions": "5",
}


def kafka_node(tmp: Path, n: int, port: int, cport: int, voters: str,
               advertise: int | None = None) -> KafkaBroker:
    """Kafka node `n` of a cluster whose voters (as this node reaches them) are `voters`."""
    return KafkaBroker(tmp / f"node{n}", port, config=KAFKA_CLUSTER_CONFIG, advertise=advertise,
                       args=["--node-id", str(n), "--controller-port", str(cport),
                             "--voters", voters])


def healthy(nodes):
    """A test's view of a shared cluster: every node running again (continued if a test
    stopped it, started if it killed it) and listed by every node."""
    for b in nodes.values():
        if b.alive():
            os.kill(b.pid(), signal.SIGCONT)
    for b in nodes.values():
        if not b.alive():
            b.start()
    for b in nodes.values():
        wait_brokers(b, set(NODES))
    return nodes


def alive(cluster) -> list[WeirBroker]:
    return [b for b in cluster.values() if b.alive()]


def bootstrap_of(cluster) -> str:
    """Every live node, as a client's bootstrap list."""
    return ",".join(b.bootstrap for b in alive(cluster))


def state(cluster, topic: str) -> dict[int, tuple[int, list[int], list[int]]]:
    """{partition: (leader, replicas, isr)} as a live node describes `topic`."""
    for b in alive(cluster):
        try:
            t = metadata(b, [topic])["topics"].get(topic)
        except OSError:
            continue
        if t is None:
            return {}
        return {p: (t["partitions"][p][1], *t["replicas"][p]) for p in t["partitions"]}
    return {}


class NotYet:
    """A falsy answer that shows what was seen, so a timed-out wait names it."""

    def __init__(self, seen):
        self.seen = seen

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"not yet: {self.seen!r}"


def converged(cluster, topic: str):
    """True once every partition of `topic` has a leader and a full ISR; otherwise a falsy
    [`NotYet`] holding {partition: (leader, replicas, isr)} as last seen."""
    s = state(cluster, topic)
    ok = bool(s) and all(leader >= 0 and sorted(isr) == sorted(reps)
                         for leader, reps, isr in s.values())
    return True if ok else NotYet(s)


def create(cluster, topic: str, partitions: int, min_isr: int = 2) -> None:
    from confluent_kafka.admin import NewTopic

    a = admin(cluster[1].bootstrap)
    new = NewTopic(topic, num_partitions=partitions, replication_factor=3,
                   config={"min.insync.replicas": str(min_isr)})
    a.create_topics([new], operation_timeout=30, request_timeout=30)[topic].result(timeout=60)
    wait_until(lambda: converged(cluster, topic), 60, f"{topic} to have full ISRs")


def controller_of(cluster) -> int:
    for b in alive(cluster):
        try:
            return metadata(b)["controller_id"]
        except OSError:
            continue
    return -1


def read_all(bootstrap: str, topic: str, partitions: int, timeout: float = 60) -> dict:
    """{partition: [(offset, value)]} of everything below each high watermark."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{uuid.uuid4().hex[:8]}",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
                for p in range(partitions)}
        c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        out: dict[int, list[tuple[int, bytes]]] = {p: [] for p in range(partitions)}
        deadline = time.monotonic() + timeout
        while any((out[p][-1][0] + 1 if out[p] else 0) < ends[p] for p in out):
            assert time.monotonic() < deadline, f"read {[len(v) for v in out.values()]} of {ends}"
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            out[m.partition()].append((m.offset(), m.value()))
        return out
    finally:
        c.close()
