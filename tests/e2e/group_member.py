"""One consumer-group member as a process of its own, so a test can run several, stop them
cleanly or kill -9 them.

    python group_member.py '<json options>'

Options: client ("confluent" | "kafka-python"), bootstrap, topic, group, assignor ("range",
"roundrobin", "cooperative-sticky"), protocol ("classic" | "consumer"), instance_id,
session_ms, reset ("earliest" | "latest"), auto_commit (bool), pattern (confluent: subscribe
to this regex, which starts with "^", instead of the topic).

Writes JSON lines to stdout: {"ev": "assigned"|"revoked", "parts": [...]} from the rebalance
callbacks, {"ev": "assignment", "parts": [...], "tps": [[topic, partition], ...]} with the
whole assignment after each change,
{"ev": "rec", "p": partition, "o": offset, "v": value}, {"ev": "committed"}, {"ev": "closed"}.
Reads commands from stdin, one per line: "commit" (synchronous, of the consumed positions)
and "close" (leave the group and exit). Every wait is bounded by the test that drives it.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
import time
import traceback


def emit(**ev) -> None:
    sys.stdout.write(json.dumps(ev) + "\n")
    sys.stdout.flush()


def read_commands(q: queue.Queue) -> None:
    for line in sys.stdin:
        q.put(line.strip())
    q.put("close")  # stdin closed: the test is gone


def run_confluent(o: dict, commands: queue.Queue) -> None:
    from confluent_kafka import Consumer, KafkaException

    conf = {
        "bootstrap.servers": o["bootstrap"],
        "group.id": o["group"],
        "auto.offset.reset": o.get("reset", "earliest"),
        "enable.auto.commit": o.get("auto_commit", False),
        "enable.auto.offset.store": True,
    }
    if o.get("protocol", "classic") == "consumer":
        conf["group.protocol"] = "consumer"
    else:
        conf["partition.assignment.strategy"] = o.get("assignor", "range")
        conf["session.timeout.ms"] = o.get("session_ms", 6000)
        conf["heartbeat.interval.ms"] = 500
    if o.get("instance_id"):
        conf["group.instance.id"] = o["instance_id"]
    c = Consumer(conf)
    current: set[tuple[str, int]] = set()
    # The KIP-848 protocol and cooperative-sticky rebalance incrementally.
    incremental = conf.get("group.protocol") == "consumer" or o.get("assignor") == "cooperative-sticky"

    def report():
        emit(ev="assignment", parts=sorted({p for _, p in current}), tps=sorted(current))

    def on_assign(consumer, parts):
        emit(ev="assigned", parts=sorted(p.partition for p in parts))
        tps = {(p.topic, p.partition) for p in parts}
        if incremental:
            consumer.incremental_assign(parts)
            current.update(tps)
        else:
            consumer.assign(parts)
            current.clear()
            current.update(tps)
        report()

    def on_revoke(consumer, parts):
        emit(ev="revoked", parts=sorted(p.partition for p in parts))
        if incremental:
            consumer.incremental_unassign(parts)
            current.difference_update({(p.topic, p.partition) for p in parts})
        else:
            consumer.unassign()
            current.clear()
        report()

    c.subscribe([o.get("pattern") or o["topic"]], on_assign=on_assign, on_revoke=on_revoke,
                on_lost=on_revoke)
    emit(ev="ready")
    while True:
        try:
            cmd = commands.get_nowait()
        except queue.Empty:
            cmd = None
        if cmd == "close":
            c.close()
            emit(ev="closed")
            return
        if cmd == "commit":
            try:
                c.commit(asynchronous=False)
            except KafkaException as e:
                # Nothing consumed since the last commit is not an error for the test.
                if "_NO_OFFSET" not in str(e):
                    emit(ev="error", what=str(e))
            emit(ev="committed")
        m = c.poll(0.1)
        if m is None:
            continue
        if m.error():
            emit(ev="error", what=str(m.error()))
            continue
        emit(ev="rec", p=m.partition(), o=m.offset(), v=(m.value() or b"").decode())


def run_kafka_python(o: dict, commands: queue.Queue) -> None:
    from kafka import ConsumerRebalanceListener, KafkaConsumer
    from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

    assignor = {
        "range": RangePartitionAssignor,
        "roundrobin": RoundRobinPartitionAssignor,
        "cooperative-sticky": CooperativeStickyAssignor,
    }[o.get("assignor", "range")]
    c = KafkaConsumer(
        bootstrap_servers=o["bootstrap"],
        group_id=o["group"],
        group_instance_id=o.get("instance_id"),
        auto_offset_reset=o.get("reset", "earliest"),
        enable_auto_commit=o.get("auto_commit", False),
        partition_assignment_strategy=[assignor],
        session_timeout_ms=o.get("session_ms", 6000),
        heartbeat_interval_ms=500,
        # The Java client's default. kafka-python's own (30 s) lets its exponential
        # reconnect backoff outgrow a 30 s session while a broker restarts, so a member
        # the test keeps alive across a restart was evicted instead (seen against Kafka).
        reconnect_backoff_max_ms=1000,
    )
    # kafka-python joins with whatever metadata it has: without the topic's, the leader
    # assigns nothing and the group rebalances again once metadata refreshes (and a poll
    # timing out during that second join can lose its result in kafka-python 3.0).
    # Knowing the topic before subscribing avoids both.
    deadline = time.monotonic() + 60
    while not c.partitions_for_topic(o["topic"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    current: set[int] = set()

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            ps = sorted(p.partition for p in revoked)
            emit(ev="revoked", parts=ps)
            current.difference_update(ps)
            emit(ev="assignment", parts=sorted(current))

        def on_partitions_assigned(self, assigned):
            ps = sorted(p.partition for p in assigned)
            emit(ev="assigned", parts=ps)
            current.update(ps)
            emit(ev="assignment", parts=sorted(current))

    c.subscribe([o["topic"]], listener=Listener())
    emit(ev="ready")
    while True:
        try:
            cmd = commands.get_nowait()
        except queue.Empty:
            cmd = None
        if cmd == "close":
            c.close()
            emit(ev="closed")
            return
        if cmd == "commit":
            c.commit()
            emit(ev="committed")
        # kafka-python 3.0 can drop the result of a join or sync that completes after its
        # poll timed out (the member then keeps its old assignment and the group never
        # settles), so each poll has room for a rebalance round trip on a loaded machine.
        batches = c.poll(timeout_ms=1000)
        for tp, msgs in batches.items():
            for m in msgs:
                emit(ev="rec", p=tp.partition, o=m.offset, v=(m.value or b"").decode())


def main() -> None:
    o = json.loads(sys.argv[1])
    if os.environ.get("WEIR_E2E_MEMBER_DEBUG"):
        import logging

        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                            format="%(asctime)s %(threadName)s %(name)s %(message)s")
    commands: queue.Queue = queue.Queue()
    threading.Thread(target=read_commands, args=(commands,), daemon=True).start()
    deadline = time.monotonic() + float(o.get("max_seconds", 300))
    threading.Thread(target=lambda: (time.sleep(max(0.0, deadline - time.monotonic())),
                                     commands.put("close")), daemon=True).start()
    try:
        if o["client"] == "confluent":
            run_confluent(o, commands)
        else:
            run_kafka_python(o, commands)
    except Exception:  # noqa: BLE001 - reported to the test, which fails on it
        emit(ev="error", what=traceback.format_exc())
        raise


if __name__ == "__main__":
    main()
