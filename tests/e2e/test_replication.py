"""Partition replication on a three-node Weir cluster on loopback: followers fetch from
leaders, the ISR shrinks and grows back, acks=all honours min.insync.replicas, and under a
producer and a consumer the test kill -9s a leader, SIGSTOPs a follower, restarts nodes and
kills the active controller; a checker then proves that every acknowledged record is in
the log exactly once and in order, that no consumer saw a record later lost, and that the
cluster converged (every partition has a leader and a full ISR).

Each test passes on Weir and on a three-node Apache Kafka cluster (scripts/kafka-reference).
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid

import pytest

import kwire
from cluster import controller_of, converged, create, read_all, state
from clients import Confluent, Java, KafkaPython, Kcat, Msg
from helpers import wait_until

NODES = (1, 2, 3)
RATE = 1000  # records a second the history test's producer offers


@pytest.fixture
def cluster(three_node_cluster):
    return three_node_cluster


def test_replicas_are_spread_and_follow_their_leader(cluster):
    topic = f"spread-{uuid.uuid4().hex[:8]}"
    create(cluster, topic, 6)
    s = state(cluster, topic)
    assert all(len(reps) == 3 for _, reps, _ in s.values()), s
    leaders = [leader for leader, _, _ in s.values()]
    assert all(leaders.count(n) == 2 for n in NODES), f"leaders spread evenly: {s}"
    sent = [Msg(f"k{i}".encode(), f"v{i}".encode(), partition=i % 6) for i in range(300)]
    assert all(d.error is None for d in Confluent().produce(cluster[2].bootstrap, topic, sent))
    # Every replica holds the log (DescribeLogDirs says so too: test_reassignment.py).
    for n in NODES:
        for p in range(6):
            d = cluster[n].data_dir / f"{topic}-{p}"
            wait_until(lambda d=d: sum(f.stat().st_size for f in d.glob("*.log")) > 0, 30,
                       f"node {n} to replicate {topic}-{p}")


def test_acks_all_honours_min_insync_replicas(cluster):
    topic = f"minisr-{uuid.uuid4().hex[:8]}"
    create(cluster, topic, 1, min_isr=3)
    leader, reps, _ = state(cluster, topic)[0]
    ctl = controller_of(cluster)  # Kafka names a random broker here, Weir the controller
    victim = next(n for n in reps if n not in (leader, ctl))
    batch = kwire.record_batch([kwire.Record(b"k", b"v")], int(time.time() * 1000))

    def first_write():
        # A leader under load may apply the new topic a moment after the others describe it
        # (UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER): ask again until it answers.
        with kwire.Conn.to(cluster[leader].bootstrap) as c:
            err = c.produce(topic, 0, batch, acks=-1)[0]
        return None if err in (3, 6) else err

    err = wait_until(lambda: (e := first_write()) is not None and [e], 30,
                     "the leader to take the first write")[0]
    assert err == 0, err
    cluster[victim].kill9()
    try:
        # As the leader itself sees it (other nodes may learn of it first).
        wait_until(lambda: len(state({leader: cluster[leader]}, topic)[0][2]) == 2, 60,
                   "the ISR to shrink")
        # Kafka's leader may apply its own ISR change after its metadata shows it: until
        # then an acks=all write waits and times out (REQUEST_TIMED_OUT, the record kept),
        # so probe with records of their own until the answer is not a timeout.
        probe = kwire.record_batch([kwire.Record(b"k", b"probe")], int(time.time() * 1000))

        def answer():
            with kwire.Conn.to(cluster[leader].bootstrap) as c:
                err = c.produce(topic, 0, probe, acks=-1, timeout_ms=1000)[0]
            return None if err == 7 else err

        err = wait_until(answer, 30, "an answer other than REQUEST_TIMED_OUT")
        assert err == 19, f"NOT_ENOUGH_REPLICAS expected, got {err}"
        with kwire.Conn.to(cluster[leader].bootstrap) as c:
            err, _ = c.produce(topic, 0, batch, acks=1)
            assert err == 0, "acks=1 needs only the leader"
    finally:
        cluster[victim].start()
    wait_until(lambda: converged(cluster, topic), 60, "the restarted follower to rejoin the ISR")
    with kwire.Conn.to(cluster[leader].bootstrap) as c:
        assert c.produce(topic, 0, batch, acks=-1)[0] == 0
    got = read_all(cluster[victim].bootstrap, topic, 1)
    assert [v for _, v in got[0] if v != b"probe"] == [b"v"] * 3


def test_clients_follow_a_new_leader(cluster):
    topic = f"failover-{uuid.uuid4().hex[:8]}"
    create(cluster, topic, 1)
    leader = state(cluster, topic)[0][0]
    first = [Msg(b"k", f"before-{i}".encode()) for i in range(50)]
    assert all(d.error is None
               for d in Confluent().produce(cluster[leader].bootstrap, topic, first))
    cluster[leader].kill9()
    try:
        wait_until(lambda: state(cluster, topic).get(0, (-1,))[0] not in (-1, leader), 60,
                   "a new leader from the ISR")
        other = next(b for n, b in cluster.items() if n != leader)
        sent = list(first)
        for name, client in (("kafka-python", KafkaPython()), ("java", Java()),
                             ("kcat", Kcat()), ("confluent", Confluent())):
            msgs = [Msg(b"k", f"{name}-{i}".encode()) for i in range(20)]
            out = client.produce(other.bootstrap, topic, msgs)
            assert all(d.error is None for d in out), (name, out)
            sent += msgs
        got = read_all(other.bootstrap, topic, 1)
        assert [v for _, v in got[0]] == [m.value for m in sent], "every acked record, in order"
    finally:
        cluster[leader].start()
    wait_until(lambda: converged(cluster, topic), 60, "the old leader to rejoin as a follower")
    got = read_all(cluster[leader].bootstrap, topic, 1)
    assert len(got[0]) == 50 + 80


def test_a_stopping_leader_hands_its_partitions_over_first(cluster):
    topic = f"handover-{uuid.uuid4().hex[:8]}"
    create(cluster, topic, 1)
    leader = state(cluster, topic)[0][0]
    first = [Msg(b"k", f"a-{i}".encode()) for i in range(30)]
    assert all(d.error is None
               for d in Confluent().produce(cluster[leader].bootstrap, topic, first))
    log_before = cluster[leader].log_path.read_text(errors="replace")
    cluster[leader].stop()  # SIGTERM: a controlled shutdown
    try:
        if cluster[leader].kind == "weir":
            stopped_log = cluster[leader].log_path.read_text(errors="replace")[len(log_before):]
            assert "controlled shutdown: leadership moved" in stopped_log, stopped_log[-3000:]
        new, _, isr = wait_until(lambda: (s := state(cluster, topic).get(0)) and s[0] not in
                                 (-1, leader) and s, 30, "the new leader")
        assert leader not in isr, "a stopped broker leaves the ISR"
        other = cluster[new]
        more = [Msg(b"k", f"b-{i}".encode()) for i in range(30)]
        assert all(d.error is None for d in Confluent().produce(other.bootstrap, topic, more))
    finally:
        cluster[leader].start()
    wait_until(lambda: converged(cluster, topic), 60, "the stopped broker back in the ISR")
    got = read_all(cluster[leader].bootstrap, topic, 1)
    assert [v for _, v in got[0]] == [m.value for m in first + more]


class History:
    """What a producer had acknowledged and what a consumer saw, per partition."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked: dict[int, list[tuple[int, bytes]]] = {}
        self.failed = 0
        self.seen: dict[int, dict[int, bytes]] = {}


def produce_loop(bootstrap: str, topic: str, partitions: int, h: History,
                 stop: threading.Event, limit: int = 400_000, seconds: float = 290) -> None:
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                  "linger.ms": 5, "message.timeout.ms": 60_000,
                  "client.id": "weir-e2e-history"})

    def done(err, m):
        with h.lock:
            if err is None:
                h.acked.setdefault(m.partition(), []).append((m.offset(), m.value()))
            else:
                h.failed += 1

    start = time.monotonic()
    i = 0
    while not stop.is_set() and i < limit and time.monotonic() - start < seconds:
        # Paced to RATE records a second, so the load lasts as long as the test needs it.
        ahead = i / RATE - (time.monotonic() - start)
        if ahead > 0:
            p.poll(min(ahead, 0.05))
            continue
        try:
            p.produce(topic, value=f"r{i:08d}".encode(), partition=i % partitions,
                      on_delivery=done)
            i += 1
        except BufferError:
            p.poll(0.05)
        p.poll(0)
    p.flush(90)


def consume_loop(bootstrap: str, topic: str, partitions: int, h: History,
                 stop: threading.Event, seconds: float = 290) -> None:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"hist-{uuid.uuid4().hex[:8]}",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    deadline = time.monotonic() + seconds
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None or m.error():
                continue
            with h.lock:
                h.seen.setdefault(m.partition(), {})[m.offset()] = m.value()
    finally:
        c.close()


# Longer than the suite's 180 s: on a busy machine the steps' waits add up, and the load
# runs until the test stops it (bounded at 290 s).
@pytest.mark.timeout(320)
def test_acknowledged_records_survive_leader_loss_pauses_and_controller_loss(cluster):
    topic = f"history-{uuid.uuid4().hex[:8]}"
    parts = 3
    create(cluster, topic, parts)
    h = History()
    stop_producing, stop_consuming = threading.Event(), threading.Event()
    bootstrap = ",".join(b.bootstrap for b in cluster.values())
    producer = threading.Thread(target=produce_loop,
                                args=(bootstrap, topic, parts, h, stop_producing))
    consumer = threading.Thread(target=consume_loop,
                                args=(bootstrap, topic, parts, h, stop_consuming))
    producer.start()
    consumer.start()

    def acked() -> int:
        with h.lock:
            return sum(len(v) for v in h.acked.values())

    def progress(what: str, more: int = 500) -> None:
        target = acked() + more
        try:
            wait_until(lambda: acked() >= target, 90,
                       f"{more} more acknowledged records {what} (failed so far: {h.failed})")
        except AssertionError as e:
            raise AssertionError(f"{e}; partitions (leader, replicas, isr): "
                                 f"{state(cluster, topic)}") from None

    stopped: list[int] = []
    try:
        progress("at the start")
        # 1. kill -9 the leader of partition 0.
        leader = state(cluster, topic)[0][0]
        cluster[leader].kill9()
        wait_until(lambda: state(cluster, topic).get(0, (-1,))[0] not in (-1, leader), 60,
                   "a new leader for partition 0")
        progress("after the leader's loss")
        cluster[leader].start()
        wait_until(lambda: converged(cluster, topic), 90, "the old leader back in the ISR")
        # 2. SIGSTOP a follower until the ISR drops it, then let it go on.
        ctl = controller_of(cluster)
        leader = state(cluster, topic)[1][0]
        paused = next(n for n in NODES if n not in (ctl, leader))
        os.kill(cluster[paused].pid(), signal.SIGSTOP)
        stopped.append(paused)
        wait_until(lambda: all(paused not in isr for _, _, isr in state(cluster, topic).values()),
                   60, f"node {paused} to leave every ISR")
        progress("with a follower paused")
        os.kill(cluster[paused].pid(), signal.SIGCONT)
        stopped.remove(paused)
        wait_until(lambda: converged(cluster, topic), 90, "the paused node back in the ISR")
        # 3. kill -9 the active controller.
        ctl = controller_of(cluster)
        cluster[ctl].kill9()
        wait_until(lambda: controller_of(cluster) not in (-1, ctl), 60, "a new controller")
        progress("after the controller's loss")
        cluster[ctl].start()
        wait_until(lambda: converged(cluster, topic), 90, "the old controller back in the ISR")
        progress("at the end")
    finally:
        for n in stopped:
            os.kill(cluster[n].pid(), signal.SIGCONT)
        stop_producing.set()
        producer.join(120)
        stop_consuming.set()
        consumer.join(60)
    assert not producer.is_alive() and not consumer.is_alive()
    wait_until(lambda: converged(cluster, topic), 90, "every partition led with a full ISR")

    log = read_all(cluster[1].bootstrap, topic, parts, timeout=120)
    for p in range(parts):
        at = dict(log[p])
        values = [v for _, v in log[p]]
        assert len(values) == len(set(values)), f"partition {p} holds a record twice"
        assert values == sorted(values), f"partition {p} is out of produce order"
        for offset, value in h.acked.get(p, []):
            assert at.get(offset) == value, f"acked {value!r} at {p}/{offset} is lost"
        for offset, value in h.seen.get(p, {}).items():
            assert at.get(offset) == value, f"consumed {value!r} at {p}/{offset} was lost later"
    assert sum(len(v) for v in h.acked.values()) >= 2500
