"""Moving partitions and their leaders on a three-node Weir cluster on loopback, through
real admin clients: partition reassignment (AlterPartitionReassignments,
ListPartitionReassignments) with kafka-python, the Java Admin client and `weir cluster
reassign`; preferred-leader election (ElectLeaders) with confluent-kafka, kafka-python and
the Java client; and DescribeLogDirs with kafka-python and the Java client, which agree
with Metadata about who holds what.

Each test passes on Weir and on a three-node Apache Kafka cluster (scripts/kafka-reference);
against Kafka one client's case stands for each test (the `weir cluster` cases are Weir's).
"""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from clients import Confluent, Msg, java_command
from cluster import (bootstrap_of, controller_of, converged, metadata, on_kafka_only,
                     read_all, state, wait_brokers)
from helpers import admin, wait_until

MOVERS = ["kafka-python", "java", "weir"]
ELECTORS = ["confluent", "kafka-python", "java"]


@pytest.fixture
def cluster(three_node_cluster):
    return three_node_cluster


def java_cluster(bootstrap: str, *args: str) -> dict:
    cmd = java_command() + ["cluster", "--bootstrap", bootstrap, *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                         stdin=subprocess.DEVNULL)
    assert res.returncode == 0, f"java cluster exited {res.returncode}:\n{res.stderr[-3000:]}"
    return json.loads(res.stdout.strip().splitlines()[-1])


def weir(cluster, *args: str) -> str:
    node = cluster[1]
    res = subprocess.run([str(node.binary), *args, "--bootstrap", node.bootstrap],
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr.split("Stack backtrace")[0][-3000:]
    return res.stdout


def kp_admin(cluster):
    from kafka import KafkaAdminClient

    return KafkaAdminClient(bootstrap_servers=bootstrap_of(cluster), request_timeout_ms=60000)


def create_on(cluster, topic: str, assignment: dict[int, list[int]]) -> None:
    """A topic with these replicas per partition, min.insync.replicas 1."""
    from confluent_kafka.admin import NewTopic

    new = NewTopic(topic, num_partitions=len(assignment),
                   replica_assignment=[assignment[p] for p in sorted(assignment)],
                   config={"min.insync.replicas": "1"})
    a = admin(cluster[1].bootstrap)
    a.create_topics([new], operation_timeout=30)[topic].result(60)
    wait_until(lambda: converged(cluster, topic), 60, f"{topic} to have full ISRs")


def move(cluster, client: str, topic: str, partition: int, replicas: list[int] | None) -> None:
    """Starts (or with None cancels) a move of topic-partition with `client`."""
    if client == "kafka-python":
        from kafka import TopicPartition

        a = kp_admin(cluster)
        try:
            r = a.alter_partition_reassignments({TopicPartition(topic, partition): replicas})
        finally:
            a.close()
        assert list(r.values()) == [None], r
    elif client == "java":
        extra = ["--cancel", "true"] if replicas is None else \
            ["--replicas", ",".join(map(str, replicas))]
        r = java_cluster(bootstrap_of(cluster), "--action", "reassign", "--topic", topic,
                         "--partition", str(partition), *extra)
        assert r == {"ok": True}, r
    else:
        extra = ["--cancel"] if replicas is None else ["--replicas", ",".join(map(str, replicas))]
        weir(cluster, "cluster", "reassign", topic, str(partition), *extra)


def moves(cluster, client: str) -> dict[tuple[str, int], tuple[list, list, list]]:
    """{(topic, partition): (replicas, adding, removing)} of the moves in progress."""
    if client == "java":
        r = java_cluster(bootstrap_of(cluster), "--action", "reassignments")
        return {(m["topic"], m["partition"]): (m["replicas"], m["adding"], m["removing"])
                for m in r["moves"]}
    a = kp_admin(cluster)
    try:
        r = a.list_partition_reassignments()
    finally:
        a.close()
    return {(tp.topic, tp.partition): (v["replicas"], v["adding_replicas"],
                                       v["removing_replicas"]) for tp, v in r.items()}


@pytest.mark.parametrize("client", MOVERS)
def test_a_partition_moves_to_other_brokers_without_losing_a_record(cluster, client, target):
    on_kafka_only(client, target, keep="kafka-python")
    topic = f"move-{uuid.uuid4().hex[:8]}"
    create_on(cluster, topic, {0: [1, 2]})
    sent = [Msg(b"k", f"v{i}".encode()) for i in range(200)]
    assert all(d.error is None for d in Confluent().produce(bootstrap_of(cluster), topic, sent))
    move(cluster, client, topic, 0, [3, 2])
    wait_until(lambda: state(cluster, topic)[0][1] == [3, 2], 60, "the move to finish")
    leader, replicas, isr = state(cluster, topic)[0]
    assert (leader, sorted(isr)) == (3, [2, 3]), "the removed leader gave way to the new one"
    lister = "java" if client == "java" else "kafka-python"
    assert (topic, 0) not in moves(cluster, lister), "no move left in progress"
    wait_until(lambda: not (cluster[1].data_dir / f"{topic}-0").exists(), 30,
               "the removed replica's log to be deleted")
    more = [Msg(b"k", f"w{i}".encode()) for i in range(20)]
    assert all(d.error is None for d in Confluent().produce(bootstrap_of(cluster), topic, more))
    got = read_all(cluster[3].bootstrap, topic, 1)
    assert [v for _, v in got[0]] == [m.value for m in sent + more], "every record, in order"
    if client == "weir":
        out = weir(cluster, "topic", "describe", topic)
        assert "3,2" in out, out


@pytest.mark.parametrize("client", ["kafka-python", "java", "weir"])
def test_a_move_to_a_stopped_broker_waits_and_can_be_cancelled(cluster, client, target):
    on_kafka_only(client, target, keep="java")
    topic = f"stuck-{uuid.uuid4().hex[:8]}"
    # The stopped broker is not the active controller (admin clients send moves there).
    ctl = controller_of(cluster)  # Kafka names a random broker here, Weir the controller
    spare = max(n for n in cluster if n != ctl)
    a, b = sorted(n for n in cluster if n != spare)
    create_on(cluster, topic, {0: [a, b]})
    cluster[spare].kill9()
    try:
        # Once fenced it drops out of Metadata, so clients stop trying to reach it.
        for n in (a, b):
            wait_brokers(cluster[n], {a, b})
        move(cluster, client, topic, 0, [spare, b])
        lister = "java" if client == "java" else "kafka-python"
        if client == "weir":
            out = weir(cluster, "cluster", "reassignments")
            assert f"{topic}-0" in out and f"{spare},{b},{a}" in out, out
        in_progress = moves(cluster, lister)
        assert in_progress.get((topic, 0)) == ([spare, b, a], [spare], [a]), in_progress
        # Records still go to the current leader while the new replica cannot catch up.
        assert all(d.error is None for d in Confluent().produce(
            bootstrap_of(cluster), topic, [Msg(b"k", b"during")]))
        move(cluster, client, topic, 0, None)
        wait_until(lambda: (topic, 0) not in moves(cluster, lister), 30, "the move to end")
        # Kafka's revert: the merged list without the added replica, in its order.
        leader, replicas, isr = state(cluster, topic)[0]
        assert (leader, replicas, sorted(isr)) == (a, [b, a], [a, b])
    finally:
        cluster[spare].start()
    wait_until(lambda: converged(cluster, topic), 60, "the stopped broker to return")


def test_refused_moves_get_kafka_errors(cluster):
    from kafka import TopicPartition
    from kafka.errors import InvalidReplicationAssignmentError, NoReassignmentInProgressError

    topic = f"refuse-{uuid.uuid4().hex[:8]}"
    create_on(cluster, topic, {0: [1, 2]})
    a = kp_admin(cluster)
    try:
        tp = TopicPartition(topic, 0)
        bad = InvalidReplicationAssignmentError
        assert a.alter_partition_reassignments({tp: [9]})[tp] is bad, "unknown broker"
        assert a.alter_partition_reassignments({tp: [1, 1]})[tp] is bad, "duplicate"
        assert a.alter_partition_reassignments({tp: None})[tp] is NoReassignmentInProgressError
    finally:
        a.close()
    assert state(cluster, topic)[0][1] == [1, 2], "nothing moved"
    # The brokers still serve.
    assert all(d.error is None for d in Confluent().produce(
        bootstrap_of(cluster), topic, [Msg(b"k", b"after")]))


def elect(cluster, client: str, topic: str, partition: int) -> str | None:
    """A preferred-leader election of one partition with `client`: None, or its error name."""
    if client == "confluent":
        from confluent_kafka import ElectionType, KafkaException, TopicPartition

        a = admin(bootstrap_of(cluster))
        fut = a.elect_leaders(ElectionType.PREFERRED, [TopicPartition(topic, partition)])
        try:
            r = fut.result(60)
        except KafkaException as e:
            return e.args[0].name()
        err = list(r.values())[0]
        return None if err is None else err.name()
    if client == "kafka-python":
        a = kp_admin(cluster)
        try:
            r = a.elect_leaders(0, {topic: [partition]}, raise_errors=False)
        finally:
            a.close()
        codes = [p[1] for t in r.replica_election_results for p in t[1]]
        assert len(codes) == 1, r
        return None if codes[0] == 0 else str(codes[0])
    r = java_cluster(bootstrap_of(cluster), "--action", "elect", "--type", "preferred",
                     "--topic", topic, "--partition", str(partition))
    assert len(r["results"]) == 1, r
    return r["results"][0]["error"]


@pytest.mark.parametrize("client", ELECTORS)
def test_preferred_leaders_take_their_partitions_back(cluster, client, target):
    on_kafka_only(client, target, keep="confluent")
    topic = f"prefer-{uuid.uuid4().hex[:8]}"
    create_on(cluster, topic, {0: [1, 2, 3]})
    not_needed = {"confluent": "ELECTION_NOT_NEEDED", "kafka-python": "84",
                  "java": "ElectionNotNeededException"}[client]
    assert elect(cluster, client, topic, 0) == not_needed
    cluster[1].kill9()
    try:
        wait_until(lambda: state(cluster, topic)[0][0] not in (-1, 1), 60, "a new leader")
    finally:
        cluster[1].start()
    wait_until(lambda: converged(cluster, topic), 60, "the preferred replica back in sync")
    assert state(cluster, topic)[0][0] != 1, "leadership does not move back by itself yet"
    assert elect(cluster, client, topic, 0) is None
    wait_until(lambda: all(metadata(b, [topic])["topics"][topic]["partitions"][0][1] == 1
                           for b in cluster.values()), 30, "every node to see leader 1")
    assert all(d.error is None for d in Confluent().produce(
        cluster[1].bootstrap, topic, [Msg(b"k", b"back")]))


def test_log_dirs_agree_with_metadata(cluster):
    topic = f"dirs-{uuid.uuid4().hex[:8]}"
    create_on(cluster, topic, {0: [1, 2], 1: [2, 3], 2: [3, 1]})
    sent = [Msg(b"k", b"x" * 100, partition=i % 3) for i in range(300)]
    assert all(d.error is None for d in Confluent().produce(bootstrap_of(cluster), topic, sent))
    want = {(n, p) for p, (_, replicas, _) in state(cluster, topic).items() for n in replicas}

    def java_held():
        r = java_cluster(bootstrap_of(cluster), "--action", "logdirs", "--brokers", "1,2,3")
        assert all(d["error"] is None for d in r["dirs"]), r
        return {(d["broker"], x["partition"]): x["size"] for d in r["dirs"]
                for x in d["replicas"] if x["topic"] == topic}

    held = wait_until(lambda: (h := java_held()) and set(h) == want and all(h.values()) and h,
                      30, "every replica to hold its records")
    for p in range(3):
        sizes = {size for (_, part), size in held.items() if part == p}
        assert len(sizes) == 1, f"replicas of partition {p} differ in size: {held}"
    a = kp_admin(cluster)
    try:
        dirs = a.describe_log_dirs()
    finally:
        a.close()
    by_kp = {(d["broker"], p["partition_index"]): p["partition_size"] for d in dirs
             for ld in d["log_dirs"] for t in ld["topics"] if t["name"] == topic
             for p in t["partitions"]}
    assert by_kp == held, f"kafka-python and the Java client agree: {by_kp} {held}"
