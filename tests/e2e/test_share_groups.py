"""Share groups (KIP-932, "queues for Kafka") with Kafka's own KafkaShareConsumer and
franz-go's share consumer (tests/go/sharemember), each member a process of its own: members of one single-partition topic share its records and
together get each once; a kill -9ed member's records come again to another member after the
acquisition lock, with a higher delivery count; RELEASE redelivers until the delivery count
limit and REJECT never redelivers; share groups are listed and described by the Admin
client. Every test here also runs against Apache Kafka 4.3.1."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from clients import java_command, unique_group
from groups import Member, Members
from cluster import bootstrap_of, create, state
from helpers import create_topic, wait_until
from logtools import java_configs


@pytest.fixture
def members():
    ms = Members()
    yield ms
    ms.close_all()


def configure(bootstrap: str, group: str, **configs) -> None:
    """Sets group configs (IncrementalAlterConfigs on the GROUP resource)."""
    ops = [("SET", k.replace("_", "."), str(v)) for k, v in configs.items()]
    out = java_configs(bootstrap, "alter", "group", group, ops=ops)
    assert out.get("ok"), out


def produce_one_by_one(bootstrap: str, topic: str, values: list[str]) -> None:
    """Each value its own batch, so that acquisition can split them between members."""
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "batch.num.messages": 1,
                  "enable.idempotence": True})
    errors = []
    for v in values:
        p.produce(topic, value=v.encode(), partition=0,
                  on_delivery=lambda err, _m: err and errors.append(err))
        p.poll(0)
    assert p.flush(30) == 0, "producer did not deliver everything in time"
    assert not errors, errors


def start(members: Members, bootstrap: str, topic: str, group: str, client: str = "java-share",
          **opts) -> Member:
    m = members.start(client, bootstrap, topic, group, max_seconds=170, **opts)
    wait_until(lambda: m.of("ready") or m.proc.poll() is not None, 60, "the member to start")
    assert m.of("ready"), f"share member exited with {m.proc.returncode}"
    return m


def delivered(ms: list[Member]) -> list[tuple[str, int]]:
    """Every (value, delivery count) the members were handed."""
    return [(e["v"], e["dc"]) for m in ms for e in m.of("rec")]


# Kafka's own KafkaShareConsumer, and franz-go's share consumer (tests/go/sharemember).
CLIENTS = ["java-share", "franz-share"]


def slow_member_opts(client: str) -> dict:
    """A member that takes few records at a time and works on them a while."""
    if client == "java-share":
        return {"delay_ms": 30, "props": {"max.poll.records": 5}}
    return {"delay_ms": 30, "max_records": 5}


@pytest.mark.parametrize("client", CLIENTS)
def test_members_of_one_partition_share_its_records(broker, topic, members, client):
    bs = broker.bootstrap
    create_topic(bs, topic, partitions=1)
    group = unique_group()
    configure(bs, group, share_auto_offset_reset="earliest")
    ms = [start(members, bs, topic, group, client=client, **slow_member_opts(client))
          for _ in range(3)]

    def all_assigned():
        d = java_groups(bs, "share-describe", [group]).get(group, {})
        ms_ = d.get("members", [])
        return len(ms_) == 3 and all(m["parts"].get(topic) == [0] for m in ms_)

    # Every member has the partition before any record exists, so none takes them all
    # while the others are still starting.
    wait_until(all_assigned, 90, "all three members to share the partition", interval=0.5)
    values = [f"job-{i}" for i in range(200)]
    produce_one_by_one(bs, topic, values)
    wait_until(lambda: len(delivered(ms)) >= len(values), 120, "every record to be delivered")
    got = delivered(ms)
    # Each record once, to one member: no record twice (no lock expired on the way).
    assert sorted(v for v, _ in got) == sorted(values)
    assert all(dc == 1 for _, dc in got), [g for g in got if g[1] != 1]
    busy = [m for m in ms if m.of("rec")]
    assert len(busy) >= 2, "one partition's records should be shared by several members"
    for m in ms:
        assert not m.errors(), m.errors()


@pytest.mark.parametrize("client", CLIENTS)
def test_a_killed_members_records_come_again_with_a_higher_count(broker, topic, members, client):
    bs = broker.bootstrap
    create_topic(bs, topic, partitions=1)
    group = unique_group()
    configure(bs, group, share_auto_offset_reset="earliest", share_record_lock_duration_ms=2000)
    values = [f"task-{i}" for i in range(10)]
    first = start(members, bs, topic, group, client, mode="explicit", hold_values="task-0")
    produce_one_by_one(bs, topic, values)
    wait_until(lambda: first.of("rec"), 60, "the first member to acquire records")
    held = {e["v"] for e in first.of("rec")}
    first.kill9()
    second = start(members, bs, topic, group, client, mode="explicit")
    wait_until(lambda: {v for v, _ in delivered([second])} >= set(values), 90,
               "the second member to get every record")
    counts = dict(delivered([second]))
    # What the killed member held comes again once its lock ran out, counted twice; the
    # rest once, or twice if the killed member's client had fetched it ahead (franz-go
    # buffers fetches before the application polls them).
    assert all(counts[v] == 2 for v in held), (held, counts)
    assert all(counts[v] in (1, 2) for v in set(values) - held), (held, counts)
    assert not second.errors(), second.errors()


@pytest.mark.parametrize("client", CLIENTS)
def test_release_redelivers_to_the_limit_and_reject_never(broker, topic, members, client):
    bs = broker.bootstrap
    create_topic(bs, topic, partitions=1)
    group = unique_group()
    configure(bs, group, share_auto_offset_reset="earliest")
    explicit = {"mode": "explicit"} if client == "java-share" else {}
    m = start(members, bs, topic, group, client=client, release="again", reject="poison",
              **explicit)
    produce_one_by_one(bs, topic, ["a", "again", "poison", "b"])
    # The default group.share.delivery.count.limit is 5: five deliveries, then archived.
    wait_until(lambda: [dc for v, dc in delivered([m]) if v == "again"] == [1, 2, 3, 4, 5],
               60, "the released record's five deliveries")
    produce_one_by_one(bs, topic, ["after"])
    wait_until(lambda: any(v == "after" for v, _ in delivered([m])), 60, "a later record")
    got = delivered([m])
    assert [dc for v, dc in got if v == "again"] == [1, 2, 3, 4, 5]
    assert [dc for v, dc in got if v == "poison"] == [1]
    assert sorted(v for v, _ in got if v not in ("again", "poison")) == ["a", "after", "b"]
    assert not m.errors(), m.errors()


def test_a_renewed_lock_keeps_a_slow_record_from_the_others(broker, topic, members):
    """RENEW (KIP-1222): a member still working on a record renews its acquisition lock, past
    the lock duration, and no other member gets the record meanwhile; it is delivered once.
    A group with share.renew.acknowledge.enable=false refuses renewals."""
    bs = broker.bootstrap
    create_topic(bs, topic, partitions=1)
    group = unique_group()
    configure(bs, group, share_auto_offset_reset="earliest", share_record_lock_duration_ms=3000)
    # Whichever member gets the slow record renews it four times a second apart (past the
    # three-second lock), then accepts it; the other keeps polling all along.
    opts = dict(mode="explicit", renew_values="slow", renew_times=4, renew_every_ms=1000,
                props={"max.poll.records": 1})
    ms = [start(members, bs, topic, group, **opts) for _ in range(2)]
    produce_one_by_one(bs, topic, ["slow"])
    wait_until(lambda: delivered(ms), 60, "the slow record to be worked on")
    renewed = [e for m in ms for e in m.of("renewed")]
    assert len(renewed) == 4 and all(e["error"] is None for e in renewed), renewed
    produce_one_by_one(bs, topic, ["after"])
    wait_until(lambda: ("after", 1) in delivered(ms), 60, "a later record")
    assert sorted(delivered(ms)) == [("after", 1), ("slow", 1)]

    off = unique_group()
    configure(bs, off, share_auto_offset_reset="earliest", share_renew_acknowledge_enable="false")
    m = start(members, bs, topic, off, mode="explicit", renew_values="slow", renew_times=1,
              renew_every_ms=0)
    wait_until(lambda: m.of("renewed"), 60, "the refused renewal")
    assert m.of("renewed")[0]["error"] == "InvalidRecordStateException", m.of("renewed")


def java_groups(bootstrap: str, action: str, groups: list[str] = (), *extra: str):
    """`KafkaCli groups`: the Java Admin client's group calls."""
    cmd = java_command() + ["groups", "--action", action, "--bootstrap", bootstrap]
    for g in groups:
        cmd += ["--group", g]
    cmd += list(extra)
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_share_groups_are_listed_and_described(broker, topic, members):
    bs = broker.bootstrap
    create_topic(bs, topic, partitions=2)
    group = unique_group()
    ms = [start(members, bs, topic, group) for _ in range(2)]

    def assigned(d):
        return sorted({p for m in d.get("members", []) for p in m["parts"].get(topic, [])})

    def two_members():
        d = java_groups(bs, "share-describe", [group])[group]
        # Kafka assigns in the background: wait until both partitions have a member.
        return d if len(d.get("members", [])) == 2 and assigned(d) == [0, 1] else None

    d = wait_until(two_members, 60, "both members to be described with both partitions")
    assert d["state"].lower() == "stable", d
    listed = {g["group"]: g for g in java_groups(bs, "list")}
    assert listed[group]["type"].lower() == "share", listed[group]
    assert listed[group]["state"].lower() == "stable", listed[group]
    for m in ms:
        m.close()
    wait_until(lambda: java_groups(bs, "share-describe", [group])[group].get("state", "").lower() == "empty",
               60, "the group to be empty once its members left")
    deleted = java_groups(bs, "delete", [group])
    assert deleted[group] == "ok", deleted
    listed = {g["group"] for g in java_groups(bs, "list")}
    assert group not in listed


def accepted_values(m: Member) -> list[str]:
    return [e["v"] for e in m.of("rec") if e["ack"] == "accept"]


def test_share_state_survives_a_broker_kill9(new_broker, topic, members):
    b = new_broker()
    bs = b.bootstrap
    create_topic(bs, topic, partitions=1)
    group = unique_group()
    configure(bs, group, share_auto_offset_reset="earliest", share_delivery_count_limit=10)
    first = start(members, bs, topic, group, mode="explicit", release="again")
    produce_one_by_one(bs, topic, ["a", "b", "again", "c"])
    wait_until(lambda: sorted(accepted_values(first)) == ["a", "b", "c"]
               and any(e["v"] == "again" for e in first.of("rec")), 60,
               "the first member to accept three records and release one")
    wait_until(lambda: first.of("committed"), 30, "its acknowledgements to be committed")
    first.close()
    released = max(dc for v, dc in delivered([first]) if v == "again")
    b.kill9()
    b.start()
    # The group itself is persisted too: after the restart, before any member comes back,
    # it is listed and described (empty, its member gone).
    def known():
        listed = {g["group"]: g for g in java_groups(bs, "list")}
        return listed.get(group)

    g = wait_until(known, 60, "the group to be listed after the restart")
    assert g["type"].lower() == "share" and g["state"].lower() == "empty", g
    d = java_groups(bs, "share-describe", [group])[group]
    assert d["state"].lower() == "empty" and not d.get("members"), d
    second = start(members, bs, topic, group, mode="explicit")
    produce_one_by_one(bs, topic, ["d"])
    # The first member may have released the record up to the delivery limit before it
    # closed; then it is archived and never comes again.
    archived = released >= 10
    want = {"d"} if archived else {"again", "d"}
    wait_until(lambda: {v for v, _ in delivered([second])} >= want, 90,
               "the second member to get the released record and the new one")
    got = delivered([second])
    # Accepted records never come again; the released one keeps counting its deliveries.
    assert sorted(v for v, _ in got) == sorted(want), got
    if not archived:
        assert dict(got)["again"] > released, (released, got)
    assert dict(got)["d"] == 1


def test_share_state_moves_with_the_partition_leader(three_node_cluster, members):
    cluster = three_node_cluster
    topic = f"share-failover-{uuid.uuid4().hex[:8]}"
    create(cluster, topic, 1)
    bs = bootstrap_of(cluster)
    group = unique_group()
    configure(bs, group, share_auto_offset_reset="earliest")
    m = start(members, bs, topic, group, mode="explicit")
    before = [f"before-{i}" for i in range(20)]
    produce_one_by_one(bs, topic, before)
    wait_until(lambda: sorted(accepted_values(m)) == sorted(before), 60,
               "the member to accept every record")
    wait_until(lambda: sum(e["n"] for e in m.of("committed")) >= len(before), 30,
               "its acknowledgements to be committed")
    leader = state(cluster, topic)[0][0]
    cluster[leader].kill9()
    wait_until(lambda: state(cluster, topic).get(0, (-1,))[0] not in (-1, leader), 60,
               "a new leader")
    after = [f"after-{i}" for i in range(10)]
    produce_one_by_one(bootstrap_of(cluster), topic, after)
    wait_until(lambda: set(after) <= set(accepted_values(m)), 120,
               "the member to get the records written after the failover")
    got = [v for v, _ in delivered([m])]
    # Accepted before the leader died: never delivered again.
    assert sorted(got) == sorted(before + after), sorted(got)


def test_share_offsets_are_described_altered_and_deleted(broker, topic, members):
    bs = broker.bootstrap
    create_topic(bs, topic, partitions=1)
    group = unique_group()
    configure(bs, group, share_auto_offset_reset="earliest")
    values = [f"v{i}" for i in range(10)]
    produce_one_by_one(bs, topic, values)
    first = start(members, bs, topic, group, mode="explicit")
    wait_until(lambda: sum(e["n"] for e in first.of("committed")) >= 10, 60,
               "every record accepted")

    def offsets() -> dict:
        return java_groups(bs, "share-offsets", [group]).get(f"{topic}:0", {})

    def start_offset():
        return offsets().get("start")

    # Everything acknowledged: no lag (Kafka may keep its start offset behind acknowledged
    # records; Weir moves it past them).
    wait_until(lambda: offsets().get("lag") == 0, 60, "the lag to reach 0")
    # A group with members keeps its offsets.
    refused = java_groups(bs, "share-alter-offsets", [group], "--topic", topic, "--offsets", "0=4")
    assert refused.get("error") == "GroupNotEmptyException", refused
    first.close()

    def empty():
        d = java_groups(bs, "share-describe", [group])[group]
        return d.get("state", "").lower() == "empty"

    wait_until(empty, 60, "the group to be empty")
    out = java_groups(bs, "share-alter-offsets", [group], "--topic", topic, "--offsets", "0=4")
    assert out.get("ok"), out
    assert start_offset() == 4
    second = start(members, bs, topic, group, mode="explicit")
    wait_until(lambda: len(second.of("rec")) >= 6, 60, "the records from offset 4")
    assert sorted(v for v, _ in delivered([second])) == values[4:]
    assert all(dc == 1 for _, dc in delivered([second])), "a reset starts afresh"
    wait_until(lambda: sum(e["n"] for e in second.of("committed")) >= 6, 60, "accepted")
    second.close()
    wait_until(empty, 60, "the group to be empty")
    out = java_groups(bs, "share-delete-offsets", [group], "--topic", topic)
    assert out.get("ok"), out
    # Deleted: the next member starts where share.auto.offset.reset (earliest) says.
    third = start(members, bs, topic, group, mode="explicit")
    wait_until(lambda: len(third.of("rec")) >= 10, 60, "every record again")
    assert sorted(v for v, _ in delivered([third])) == sorted(values)


def test_read_committed_share_groups_skip_aborted_and_open_transactions(broker, topic, members):
    from txn import TxnClients, new_txn_id

    bs = broker.bootstrap
    create_topic(bs, topic, partitions=1)
    group = unique_group()
    configure(bs, group, share_auto_offset_reset="earliest",
              share_isolation_level="read_committed")
    clients = TxnClients()
    try:
        p = clients.start("java", bs, new_txn_id())
        p.init()
        p.begin()
        p.batch(topic, 0, "aborted", 3)
        p.abort()
        p.begin()
        p.batch(topic, 0, "committed", 3)
        p.commit()
        p.begin()
        p.batch(topic, 0, "open", 2)
        m = start(members, bs, topic, group, mode="explicit")
        wait_until(lambda: len(m.of("rec")) >= 3, 60, "the committed records")
        # A record after the open transaction waits behind it (the last stable offset),
        # and the aborted ones never come.
        produce_one_by_one(bs, topic, ["plain"])
        assert sorted(v for v, _ in delivered([m])) == [f"committed-{i}" for i in range(3)]
        p.commit()
        wait_until(lambda: len(m.of("rec")) >= 6, 60, "the rest once the transaction commits")
        got = sorted(v for v, _ in delivered([m]))
        assert got == sorted([f"committed-{i}" for i in range(3)]
                             + ["open-0", "open-1", "plain"]), got
    finally:
        clients.close_all()
