"""A network partition on a three-node Weir cluster on loopback: every path into and out
of one node (its Kafka listener as the others and clients reach it, and the metadata
quorum both ways) runs through TCP gates (tests/e2e/netsplit.py), and each node has its own
view of the voters' addresses (controller.quorum.voters). Blocking the gates cuts that
node, the leader of a partition, off from the majority: it keeps running and takes a write,
but it must not acknowledge an acks=all write it cannot replicate, while the majority elects
a new leader and acknowledges writes. Healed, the cut-off node truncates its unacknowledged
tail and rejoins; the log holds exactly the acknowledged records.

It passes on Weir and on a three-node Apache Kafka cluster (scripts/kafka-reference).
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

import kwire
from brokers import REPO, WeirBroker, free_port, log_tail
from cluster import (HEARTBEAT_MS, LAG_MS, SESSION_MS, converged, kafka_node, read_all, state,
                     wait_brokers)
from clients import Confluent, Msg
from helpers import admin, wait_until
from netsplit import Gate

CUT = 3  # the node the partition cuts off
NODES = (1, 2, 3)


@pytest.fixture(scope="module")
def split_cluster(target, tmp_path_factory):
    if os.environ.get("WEIR_TEST_BOOTSTRAP"):
        pytest.skip("needs brokers it starts itself")
    tmp = tmp_path_factory.mktemp("netsplit")
    binary = Path(os.environ.get("WEIR_BIN", REPO / "target" / "debug" / "weir"))
    kafka = {n: free_port() for n in NODES}
    cports = {n: free_port() for n in NODES}
    ctl = {n: f"127.0.0.1:{cports[n]}" for n in NODES}
    gates = {"kafka": Gate(f"127.0.0.1:{kafka[CUT]}")}
    # Quorum traffic between CUT and each other node goes through a gate, both ways.
    for n in NODES:
        if n != CUT:
            gates[(n, CUT)] = Gate(ctl[CUT])
            gates[(CUT, n)] = Gate(ctl[n])

    def voters(me: int) -> str:
        def addr(n: int) -> str:
            if me == n or CUT not in (me, n):
                return ctl[n]
            return gates[(me, n)].address
        return ",".join(f"{n}@{addr(n)}" for n in NODES)

    nodes = {}
    for n in NODES:
        if target == "kafka":
            advertise = gates["kafka"].port if n == CUT else None
            nodes[n] = kafka_node(tmp, n, kafka[n], cports[n], voters(n), advertise=advertise)
            continue
        args = ["--node-id", str(n), "--controller-listen", ctl[n],
                "--controller-voters", voters(n),
                "--broker-session-timeout-ms", str(SESSION_MS),
                "--broker-heartbeat-interval-ms", str(HEARTBEAT_MS),
                "--replica-lag-time-max-ms", str(LAG_MS)]
        if n == CUT:
            args += ["--advertised-listener", gates["kafka"].address]
        nodes[n] = WeirBroker(binary, tmp / f"node{n}", kafka[n], args=args)
    try:
        for b in nodes.values():
            b.spawn()
        for b in nodes.values():
            b.wait_ready()
        for n in NODES:
            wait_brokers(nodes[n], set(NODES))
        yield nodes, gates
    finally:
        for g in gates.values():
            g.close()
        for b in nodes.values():
            b.kill9()


def test_a_cut_off_leader_does_not_acknowledge_acks_all_writes(split_cluster):
    from confluent_kafka.admin import NewTopic

    nodes, gates = split_cluster
    majority = ",".join(nodes[n].bootstrap for n in NODES if n != CUT)
    topic = f"split-{uuid.uuid4().hex[:8]}"
    a = admin(nodes[1].bootstrap)
    new = NewTopic(topic, num_partitions=1, replica_assignment=[[CUT, 1, 2]],
                   config={"min.insync.replicas": "2"})
    a.create_topics([new], operation_timeout=30)[topic].result(60)
    try:
        wait_until(lambda: converged(nodes, topic), 90, f"{topic} to have a full ISR")
    except AssertionError as e:
        tails = "\n".join(f"-- node {n}:\n{log_tail(nodes[n].log_path, 25)}" for n in NODES)
        raise AssertionError(f"{e}\n{tails}") from None
    assert state(nodes, topic)[0][0] == CUT
    before = [Msg(b"k", f"before-{i}".encode()) for i in range(10)]
    assert all(d.error is None for d in Confluent().produce(majority, topic, before))

    for g in gates.values():
        g.block()
    try:
        # The cut-off leader still takes the write, but the ISR never gets it.
        batch = kwire.record_batch([kwire.Record(b"k", b"unacknowledged")],
                                   int(time.time() * 1000))
        with kwire.Conn.to(nodes[CUT].bootstrap) as c:
            err, _ = c.produce(topic, 0, batch, acks=-1, timeout_ms=4000)
        assert err != 0, "a minority-side leader acknowledged an acks=all write"
        # The majority fences it and elects a leader from the rest of the ISR.
        wait_until(lambda: state({n: nodes[n] for n in NODES if n != CUT}, topic)[0][0]
                   not in (-1, CUT), 60, "a new leader on the majority side")
        during = [Msg(b"k", f"during-{i}".encode()) for i in range(10)]
        assert all(d.error is None for d in Confluent().produce(majority, topic, during))
        # It is still cut off: it has not seen any of that.
        with kwire.Conn.to(nodes[CUT].bootstrap) as c:
            err, _ = c.produce(topic, 0, batch, acks=-1, timeout_ms=2000)
        assert err != 0, "a minority-side leader acknowledged an acks=all write"
    finally:
        for g in gates.values():
            g.heal()
    wait_until(lambda: converged(nodes, topic), 90, "the cut-off node to rejoin the ISR")
    got = read_all(nodes[CUT].bootstrap, topic, 1)
    assert [v for _, v in got[0]] == [m.value for m in before + during], \
        "exactly the acknowledged records, in order"
    # The cut-off node dropped its unacknowledged tail from disk when it rejoined.
    logs = list((nodes[CUT].data_dir / f"{topic}-0").glob("*.log"))
    assert logs and not any(b"unacknowledged" in f.read_bytes() for f in logs)
    assert any(b"during-9" in f.read_bytes() for f in logs), "and holds what it missed"
