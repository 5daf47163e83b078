"""Consumer groups with real clients (confluent-kafka, kafka-python and the Java client, with
both group protocols where the client has them), each member a
process of its own: partitions split with no overlap and full coverage, members leaving or
killed hand their partitions on, committed offsets survive a broker restart, groups are
independent, auto.offset.reset, cooperative-sticky and static membership keep assignments,
and a crash before a commit means those records come again (at-least-once)."""

from __future__ import annotations

import pytest

from clients import unique_group
from groups import Member, Members, wait_records, wait_split
from helpers import create_topic, wait_until

# (client, group.protocol): kafka-python speaks only the classic protocol.
CASES = [("confluent", "classic"), ("kafka-python", "classic"), ("java", "classic"),
         ("confluent", "consumer"), ("java", "consumer")]
IDS = [f"{c}-{p}" for c, p in CASES]


@pytest.fixture
def members():
    ms = Members()
    yield ms
    ms.close_all()


def produce(bootstrap: str, topic: str, per_partition: int, partitions: int, tag: str = "r"):
    """`per_partition` records into each partition; returns the set of (partition, offset)
    the log then holds, counting from the offsets before."""
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    errors = []
    for part in range(partitions):
        for i in range(per_partition):
            p.produce(topic, value=f"{tag}-{part}-{i}".encode(), partition=part,
                      on_delivery=lambda err, _m: err and errors.append(err))
    assert p.flush(30) == 0, "producer did not deliver everything in time"
    assert not errors, errors


def starter(members, client, bootstrap, topic, protocol):
    """Starts a member of `group` with the test's client and protocol."""
    return lambda group, **opts: members.start(client, bootstrap, topic, group,
                                               protocol=protocol, **opts)


def everything(per_partition: int, partitions: int, start: int = 0) -> set[tuple[int, int]]:
    return {(p, o) for p in range(partitions) for o in range(start, start + per_partition)}


@pytest.mark.parametrize("client,protocol", CASES, ids=IDS)
def test_two_members_split_then_a_leaving_member_hands_over(broker, topic, members, client,
                                                            protocol):
    join = starter(members, client, broker.bootstrap, topic, protocol)
    create_topic(broker.bootstrap, topic, partitions=4)
    produce(broker.bootstrap, topic, 5, 4)
    group = unique_group()
    a = join(group)
    wait_until(lambda: a.assignment() == {0, 1, 2, 3}, 60, "the first member to get all 4")
    b = join(group)
    sa, sb = wait_split([a, b], 4)
    assert len(sa) == 2 and len(sb) == 2, (sa, sb)
    # Between them they consumed everything (a record may come twice across the rebalance).
    wait_until(lambda: everything(5, 4) <= set(a.records()) | set(b.records()), 60,
               "the two members to consume every record")
    b.close()
    wait_until(lambda: a.assignment() == {0, 1, 2, 3}, 60,
               "the leaving member's partitions to move to the other")
    assert not a.errors() and not b.errors(), (a.errors(), b.errors())


@pytest.mark.parametrize("client,protocol", CASES, ids=IDS)
def test_killed_member_expires_after_its_session(broker, topic, members, client, protocol):
    join = starter(members, client, broker.bootstrap, topic, protocol)
    create_topic(broker.bootstrap, topic, partitions=4)
    group = unique_group()
    a = join(group, session_ms=6000)
    b = join(group, session_ms=6000)
    wait_split([a, b], 4)
    b.kill9()
    # No LeaveGroup: only the session timeout (6 s classic, the broker's 10 s for KIP-848)
    # can tell the coordinator.
    wait_until(lambda: a.assignment() == {0, 1, 2, 3}, 60,
               "the killed member's partitions to move after its session timeout")


@pytest.mark.parametrize("client,protocol", CASES, ids=IDS)
def test_committed_offsets_survive_a_broker_restart(new_broker, topic, client, protocol):
    broker = new_broker()
    create_topic(broker.bootstrap, topic, partitions=2)
    produce(broker.bootstrap, topic, 10, 2, tag="before")
    group = unique_group()
    a = Member(client, broker.bootstrap, topic, group, protocol=protocol)
    try:
        wait_records(a, everything(10, 2))
        a.commit()
        a.close()
    finally:
        a.kill9()
    broker.restart()
    produce(broker.bootstrap, topic, 3, 2, tag="after")
    b = Member(client, broker.bootstrap, topic, group, protocol=protocol)
    try:
        wait_records(b, everything(3, 2, start=10))
        assert min(o for _, o in b.records()) == 10, "resumed before the committed offset"
        assert all(e["v"].startswith("after") for e in b.of("rec"))
    finally:
        b.kill9()


@pytest.mark.parametrize("client,protocol", CASES, ids=IDS)
def test_two_groups_each_receive_everything(broker, topic, members, client, protocol):
    join = starter(members, client, broker.bootstrap, topic, protocol)
    create_topic(broker.bootstrap, topic, partitions=3)
    produce(broker.bootstrap, topic, 4, 3)
    a = join(unique_group())
    b = join(unique_group())
    wait_records(a, everything(4, 3))
    wait_records(b, everything(4, 3))


@pytest.mark.parametrize("client,protocol", CASES, ids=IDS)
def test_auto_offset_reset_earliest_and_latest(broker, topic, members, client, protocol):
    join = starter(members, client, broker.bootstrap, topic, protocol)
    create_topic(broker.bootstrap, topic, partitions=1)
    produce(broker.bootstrap, topic, 5, 1, tag="old")
    early = join(unique_group(), reset="earliest")
    late = join(unique_group(), reset="latest")
    wait_records(early, everything(5, 1))
    wait_until(lambda: late.assignment() == {0}, 60, "the latest-reset member's assignment")
    # The position is fixed once the member fetched; poll until a record produced now arrives.
    n = 0

    def new_record_seen():
        nonlocal n
        produce(broker.bootstrap, topic, 1, 1, tag=f"new{n}")
        n += 1
        return any(e["v"].startswith("new") for e in late.of("rec"))

    wait_until(new_record_seen, 60, "the latest-reset member to see a new record", interval=0.5)
    assert not any(e["v"].startswith("old") for e in late.of("rec")), "latest saw old records"


@pytest.mark.parametrize("client,protocol", CASES, ids=IDS)
def test_cooperative_sticky_keeps_unaffected_partitions(broker, topic, members, client, protocol):
    join = starter(members, client, broker.bootstrap, topic, protocol)
    create_topic(broker.bootstrap, topic, partitions=4)
    group = unique_group()
    a = join(group, assignor="cooperative-sticky")
    wait_until(lambda: a.assignment() == {0, 1, 2, 3}, 60, "the first member to get all 4")
    mark = a.mark()
    b = join(group, assignor="cooperative-sticky")
    sa, sb = wait_split([a, b], 4)
    revoked = {p for e in a.since(mark, "revoked") for p in e["parts"]}
    # Only what moved to the new member was revoked; what stayed was never taken away.
    assert revoked == sb, (revoked, sa, sb)
    assert not revoked & sa


@pytest.mark.parametrize("client,protocol", CASES, ids=IDS)
def test_static_member_restart_causes_no_rebalance(broker, topic, members, client, protocol):
    join = starter(members, client, broker.bootstrap, topic, protocol)
    create_topic(broker.bootstrap, topic, partitions=4)
    group = unique_group()
    opts = dict(session_ms=30000)
    a = join(group, instance_id="a", **opts)
    b = join(group, instance_id="b", **opts)
    sa, sb = wait_split([a, b], 4)
    mark = a.mark()
    # A static member's close does not leave the group (KIP-345; KIP-848 epoch -2).
    b.close()
    b2 = join(group, instance_id="b", **opts)
    # The restarted member gets its partitions back; in a rebalance it could not have
    # before the other member rejoined, and that member saw nothing happen.
    wait_until(lambda: b2.assignment() == sb, 60, "the restarted static member's partitions")
    assert a.assignment() == sa
    if client == "kafka-python":
        # kafka-python's group leader may rejoin on its own (seen against Kafka 4.3.1 in
        # CI: "Leader ... re-joining group during Stable" 0.5 s after the first assignment,
        # with no request from the restarting member before it; against Weir about once in
        # four runs), which an eager member reports as revoked and assigned again: for it
        # only the outcome is checked, the same partitions on both sides.
        return
    assert a.since(mark, "revoked") == [] and a.since(mark, "assigned") == []


@pytest.mark.parametrize("client,protocol", CASES, ids=IDS)
def test_crash_before_commit_sees_records_again(broker, topic, members, client, protocol):
    join = starter(members, client, broker.bootstrap, topic, protocol)
    create_topic(broker.bootstrap, topic, partitions=1)
    produce(broker.bootstrap, topic, 5, 1, tag="first")
    group = unique_group()
    a = join(group)
    wait_records(a, everything(5, 1))
    a.commit()
    produce(broker.bootstrap, topic, 5, 1, tag="second")
    wait_records(a, everything(5, 1, start=5))
    a.kill9()  # consumed 10, committed 5
    b = join(group)
    wait_records(b, everything(5, 1, start=5))
    assert min(o for _, o in b.records()) == 5, "resumed before the committed offset"


# The Java client rejoins once its coordinator restarts (against Kafka too), so it cannot
# show that the group itself survived: only the clients that keep their membership.
RESTART_CASES = [c for c in CASES if c[0] != "java"]


@pytest.mark.parametrize("client,protocol", RESTART_CASES,
                         ids=[f"{c}-{p}" for c, p in RESTART_CASES])
def test_group_survives_a_broker_restart_without_a_rebalance(new_broker, topic, client,
                                                             protocol):
    broker = new_broker()
    create_topic(broker.bootstrap, topic, partitions=2)
    group = unique_group()
    ms = Members()
    try:
        # Sessions longer than the restart, so the reloaded members are still alive.
        a = ms.start(client, broker.bootstrap, topic, group, protocol=protocol, session_ms=30000)
        b = ms.start(client, broker.bootstrap, topic, group, protocol=protocol, session_ms=30000)
        sa, sb = wait_split([a, b], 2)
        marks = (a.mark(), b.mark())
        broker.restart()
        produce(broker.bootstrap, topic, 3, 2, tag="after")
        # Each member goes on reading its own partition from the reloaded group...
        wait_records(a, {(p, o) for p in sa for o in range(3)})
        wait_records(b, {(p, o) for p in sb for o in range(3)})
        # ...with no rebalance: nothing was revoked or assigned since before the restart.
        for m, mark in zip((a, b), marks):
            assert m.since(mark, "revoked") == [] and m.since(mark, "assigned") == [], \
                m.events[mark:]
    finally:
        ms.close_all()
