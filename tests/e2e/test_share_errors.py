"""Bad share-group input (KIP-932), sent by hand (tests/e2e/sharewire.py) since no real
client sends it: acknowledgements for records another member holds, for offsets never
delivered, overlapping or malformed ranges, share session epochs that do not fit, stale
and unknown member epochs. Each gets Kafka's error code, the broker keeps serving, and no
record is lost or archived by the refused acknowledgement: its holder can still accept it.
Every test here also runs against Apache Kafka 4.3.1."""

from __future__ import annotations

import struct

import pytest

import sharewire as sw
from clients import unique_group
from helpers import admin, create_topic, wait_until
from kwire import Conn
from test_share_groups import configure, produce_one_by_one


def topic_id(bootstrap: str, topic: str) -> bytes:
    from confluent_kafka import TopicCollection

    a = admin(bootstrap)
    d = a.describe_topics(TopicCollection([topic]))[topic].result(30)
    tid = d.topic_id
    return struct.pack(">qq", tid.get_most_significant_bits(), tid.get_least_significant_bits())


def joined(c: Conn, group: str, topic: str) -> tuple[str, int]:
    """A member that joined `group` and was given partition 0 of `topic`; (id, epoch)."""
    member = sw.new_member_id()
    wait_until(lambda: sw.find_coordinator(c, group) == 0, 60, "the group's coordinator",
               interval=0.2)
    hb = sw.heartbeat(c, group, member, 0, [topic])
    assert hb["error"] == 0, hb
    epoch = hb["epoch"]

    def assigned():
        nonlocal epoch
        r = sw.heartbeat(c, group, member, epoch, None)
        assert r["error"] == 0, r
        epoch = r["epoch"]
        return r["assignment"] or None

    if not hb["assignment"]:
        wait_until(assigned, 60, "an assignment", interval=0.5)
    return member, epoch


def acquire(c: Conn, group: str, member: str, tid: bytes, want: int) -> list[tuple[int, int, int]]:
    """Opens a share session and fetches until `want` records are acquired."""
    got: list[tuple[int, int, int]] = []
    epoch = 0

    def fetch():
        nonlocal epoch
        r = sw.share_fetch(c, group, member, epoch, tid, max_wait_ms=1000)
        epoch += 1
        assert r["error"] == 0, r
        p = r["partitions"].get(0)
        if p:
            assert p["error"] == 0, p
            got.extend(p["acquired"])
        return sum(b - a + 1 for a, b, _ in got) >= want

    wait_until(fetch, 60, f"{want} acquired records", interval=0.1)
    return got


@pytest.fixture
def setup(broker, topic):
    bs = broker.bootstrap
    create_topic(bs, topic, partitions=1)
    group = unique_group()
    configure(bs, group, share_auto_offset_reset="earliest", share_record_lock_duration_ms=2000)
    produce_one_by_one(bs, topic, [f"r{i}" for i in range(5)])
    return bs, topic, group, topic_id(bs, topic)


def test_bad_acknowledgements_get_kafkas_errors_and_change_nothing(setup):
    bs, topic, group, tid = setup
    with Conn.to(bs) as a, Conn.to(bs) as b:
        holder, _ = joined(a, group, topic)
        other, _ = joined(b, group, topic)
        acquired = acquire(a, group, holder, tid, 5)
        assert acquired[0][0] == 0 and acquired[-1][1] == 4, acquired
        # A share session opens without acknowledgements.
        r = sw.share_fetch(b, group, other, 0, tid, acks=[(0, 1, [sw.ACCEPT])], max_wait_ms=0)
        assert r["error"] == sw.INVALID_REQUEST, r
        # Another member's session: records it does not hold.
        r = sw.share_fetch(b, group, other, 0, tid, max_wait_ms=0)
        assert r["error"] == 0, r
        r = sw.share_fetch(b, group, other, 1, tid, acks=[(0, 1, [sw.ACCEPT])], max_wait_ms=0)
        assert r["error"] == 0, r
        assert r["partitions"][0]["ack_error"] == sw.INVALID_RECORD_STATE, r
        # The holder's session, by ShareAcknowledge: offsets never delivered, overlapping
        # ranges, an unknown type, a range ending before it starts.
        epoch = 100  # not the session's next epoch
        r = sw.share_acknowledge(a, group, holder, epoch, tid, [(0, 0, [sw.ACCEPT])])
        assert r["error"] == sw.INVALID_SHARE_SESSION_EPOCH, r
        session = sw.share_fetch(a, group, holder, 0, tid, max_wait_ms=0)
        assert session["error"] == 0, session
        bad = [
            ([(50, 60, [sw.ACCEPT])], sw.INVALID_REQUEST),
            ([(0, 2, [sw.ACCEPT]), (2, 3, [sw.ACCEPT])], sw.INVALID_RECORD_STATE),
            ([(3, 1, [sw.ACCEPT])], sw.INVALID_REQUEST),
        ]
        epoch = 1
        for acks, code in bad:
            r = sw.share_acknowledge(a, group, holder, epoch, tid, acks)
            epoch += 1
            assert r["error"] == 0, r
            assert r["partitions"][0]["error"] == code, (acks, r)
    # The refused acknowledgements lost and archived nothing: a new member gets every record
    # once the holder's locks run out.
    with Conn.to(bs) as a:
        fresh, _ = joined(a, group, topic)
        got = acquire(a, group, fresh, tid, 5)
        offsets = sorted(o for first, last, _ in got for o in range(first, last + 1))
        assert offsets == [0, 1, 2, 3, 4], got


def test_share_sessions_and_member_epochs_are_checked(setup):
    bs, topic, group, tid = setup
    with Conn.to(bs) as c:
        # No session yet: an acknowledgement has nothing to belong to.
        r = sw.share_acknowledge(c, group, sw.new_member_id(), 1, tid, [(0, 0, [sw.ACCEPT])])
        assert r["error"] == sw.SHARE_SESSION_NOT_FOUND, r
        member, epoch = joined(c, group, topic)
        r = sw.share_fetch(c, group, member, 5, tid, max_wait_ms=0)
        assert r["error"] == sw.SHARE_SESSION_NOT_FOUND, r
        r = sw.heartbeat(c, group, member, epoch + 10, None)
        assert r["error"] == sw.FENCED_MEMBER_EPOCH, r
        r = sw.heartbeat(c, group, sw.new_member_id(), 3, None)
        assert r["error"] == sw.UNKNOWN_MEMBER_ID, r
        # The broker keeps serving the member that behaves.
        assert sum(b - a + 1 for a, b, _ in acquire(c, group, member, tid, 5)) >= 5


def test_share_coordinators_are_found_and_bad_keys_refused(setup):
    """FindCoordinator v6 with key type 2 (share), as a broker's persister asks it: the
    leader of the share-partition's `__share_group_state` partition; a key that is not
    `group:topicId:partition` is refused."""
    bs, topic, group, tid = setup
    with Conn.to(bs) as c:
        wait_until(lambda: sw.find_share_coordinator(c, group, tid, 0)["error"] == 0, 60,
                   "the share coordinator")
        found = sw.find_share_coordinator(c, group, tid, 0)
        assert found["node"] >= 0 and found["port"] == int(bs.rsplit(":", 1)[1]), found
        bad = sw.find_share_coordinator(c, group, tid, 0, key="no-colons")
        assert bad["error"] == sw.INVALID_REQUEST and bad["node"] == -1, bad
    # The broker serves on.
    with Conn.to(bs) as c:
        assert sw.find_share_coordinator(c, group, tid, 0)["error"] == 0
