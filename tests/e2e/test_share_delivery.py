"""What Weir adds to share groups (KIP-932) and Kafka does not have, with Kafka's own
KafkaShareConsumer: a retry backoff that holds a released record back (share.retry.backoff.ms,
doubling per delivery up to share.retry.backoff.max.ms) while later records flow, and
delayed delivery (a `weir-deliver-at` header in epoch milliseconds, or the topic's
delivery.delay.ms) that share consumers do not see before its time while ordinary consumers
and replication see the record at once.

Weir only: Apache Kafka 4.3.1 has neither (the tests are skipped against it)."""

from __future__ import annotations

import time

import pytest

from clients import CONFLUENT, unique_group
from helpers import create_topic, log_end, wait_until
from test_share_groups import configure, delivered, members, produce_one_by_one, start  # noqa: F401


@pytest.fixture(autouse=True)
def weir_only(target):
    if target == "kafka":
        pytest.skip("a Weir extension: Kafka 4.3.1 has no share retry backoff or delayed delivery")


def recs(m, value):
    return [e for e in m.of("rec") if e["v"] == value]


def test_a_released_record_waits_out_its_backoff_while_others_flow(broker, topic, members):
    bs = broker.bootstrap
    create_topic(bs, topic, partitions=1)
    group = unique_group()
    configure(bs, group, share_auto_offset_reset="earliest", share_retry_backoff_ms=1500,
              share_retry_backoff_max_ms=2000)
    m = start(members, bs, topic, group, mode="explicit", release="flaky")
    produce_one_by_one(bs, topic, ["flaky"])
    wait_until(lambda: recs(m, "flaky"), 60, "the first delivery")
    produce_one_by_one(bs, topic, [f"next-{i}" for i in range(5)])
    wait_until(lambda: len(recs(m, "flaky")) >= 3, 60, "three deliveries of the released record")
    times = [e["t"] for e in recs(m, "flaky")]
    counts = [e["dc"] for e in recs(m, "flaky")]
    assert counts[:3] == [1, 2, 3]
    # At least the backoff after each release: 1500 ms, then doubled but capped at 2000.
    assert times[1] - times[0] >= 1500, times
    assert times[2] - times[1] >= 2000, times
    # Later records did not wait behind it.
    nexts = [e["t"] for e in m.of("rec") if e["v"].startswith("next-")]
    assert len(nexts) == 5 and max(nexts) < times[1], (nexts, times)


def test_a_record_with_a_delivery_time_waits_for_it(broker, topic, members):
    from confluent_kafka import Producer

    bs = broker.bootstrap
    create_topic(bs, topic, partitions=1)
    group = unique_group()
    configure(bs, group, share_auto_offset_reset="earliest")
    m = start(members, bs, topic, group)
    at = int(time.time() * 1000) + 3000
    p = Producer({"bootstrap.servers": bs, "linger.ms": 0})
    p.produce(topic, value=b"later", partition=0, headers=[("weir-deliver-at", str(at).encode())])
    p.produce(topic, value=b"now", partition=0)
    assert p.flush(30) == 0
    # An ordinary consumer reads both at once: the log is Kafka's log.
    got = CONFLUENT.consume(bs, topic, 2, timeout=60)
    assert [g.value for g in got] == [b"later", b"now"]
    wait_until(lambda: recs(m, "later"), 60, "the delayed record")
    assert recs(m, "now")[0]["t"] < at, "the record behind the delayed one did not wait"
    assert recs(m, "later")[0]["t"] >= at, (recs(m, "later"), at)
    assert recs(m, "later")[0]["dc"] == 1


def test_scheduled_records_do_not_stall_the_queue(broker, topic, members):
    """More records scheduled for later than the group's in-flight limit
    (share.partition.max.record.locks) do not hold back the records due now behind them."""
    from confluent_kafka import Producer

    bs = broker.bootstrap
    create_topic(bs, topic, partitions=1)
    group = unique_group()
    configure(bs, group, share_auto_offset_reset="earliest",
              share_partition_max_record_locks=100)
    at = str(int(time.time() * 1000) + 3_600_000).encode()
    p = Producer({"bootstrap.servers": bs, "linger.ms": 5})
    for i in range(250):
        p.produce(topic, value=f"later-{i}".encode(), partition=0,
                  headers=[("weir-deliver-at", at)])
    for i in range(5):
        p.produce(topic, value=f"now-{i}".encode(), partition=0)
    assert p.flush(30) == 0
    m = start(members, bs, topic, group)
    wait_until(lambda: len(delivered([m])) >= 5, 60, "the records due now")
    assert sorted(v for v, _ in delivered([m])) == [f"now-{i}" for i in range(5)]


def test_a_topics_delivery_delay_holds_every_record(broker, topic, members):
    from confluent_kafka.admin import NewTopic

    from helpers import admin

    bs = broker.bootstrap
    a = admin(bs)
    a.create_topics([NewTopic(topic, 1, 1, config={"delivery.delay.ms": "2000"})])[topic].result(30)
    group = unique_group()
    configure(bs, group, share_auto_offset_reset="earliest")
    m = start(members, bs, topic, group)
    sent = int(time.time() * 1000)
    produce_one_by_one(bs, topic, ["x", "y"])
    wait_until(lambda: len(delivered([m])) == 2, 60, "both records")
    assert all(e["t"] >= sent + 2000 for e in m.of("rec")), (sent, m.of("rec"))


def dlq_topic(bs: str, name: str, partitions: int = 2) -> None:
    from confluent_kafka.admin import NewTopic

    from helpers import admin

    new = NewTopic(name, partitions, 1, config={"errors.deadletterqueue.group.enable": "true"})
    a = admin(bs)
    a.create_topics([new])[name].result(30)


def test_rejected_and_exhausted_records_go_to_the_dead_letter_topic_once(broker, topic, members):
    from confluent_kafka import Producer

    bs = broker.bootstrap
    create_topic(bs, topic, partitions=1)
    dlq = f"dlq.{topic}"
    dlq_topic(bs, dlq)
    group = unique_group()
    configure(bs, group, share_auto_offset_reset="earliest", share_delivery_count_limit=2,
              errors_deadletterqueue_topic_name=dlq,
              errors_deadletterqueue_copy_record_enable="true")
    m = start(members, bs, topic, group, mode="explicit", reject="poison", release="flaky")
    p = Producer({"bootstrap.servers": bs, "linger.ms": 0})
    p.produce(topic, key=b"k-poison", value=b"poison", partition=0, headers=[("trace", b"t1")])
    p.produce(topic, key=b"k-flaky", value=b"flaky", partition=0)
    p.produce(topic, key=b"k-ok", value=b"ok", partition=0)
    assert p.flush(30) == 0
    got = CONFLUENT.consume(bs, dlq, 2, partition=0, timeout=60)
    by_value = {g.value: g for g in got}
    assert set(by_value) == {b"poison", b"flaky"}, got
    poison = dict(by_value[b"poison"].headers)
    assert by_value[b"poison"].key == b"k-poison"
    assert poison["trace"] == b"t1", "the original headers are copied"
    assert poison["__dlq.errors.topic"] == topic.encode()
    assert poison["__dlq.errors.partition"] == b"0"
    assert poison["__dlq.errors.offset"] == b"0"
    assert poison["__dlq.errors.group"] == group.encode()
    assert poison["__dlq.errors.delivery.count"] == b"1"
    assert poison["__dlq.errors.message"] == b"Offset rejected by client."
    flaky = dict(by_value[b"flaky"].headers)
    assert flaky["__dlq.errors.offset"] == b"1"
    assert flaky["__dlq.errors.delivery.count"] == b"2"
    assert flaky["__dlq.errors.message"] == b"Offset delivery count exceeded the threshold."
    # Exactly once: a later record passes through, and the dead-letter topic holds no more.
    produce_one_by_one(bs, topic, ["after"])
    wait_until(lambda: any(e["v"] == "after" for e in m.of("rec")), 60, "a later record")
    assert log_end(bs, dlq, 0) == 2 and log_end(bs, dlq, 1) == 0
    assert [dc for v, dc in delivered([m]) if v == "flaky"] == [1, 2]


def test_a_dead_letter_topic_that_cannot_be_written_keeps_the_record_waiting(broker, topic,
                                                                              members):
    bs = broker.bootstrap
    create_topic(bs, topic, partitions=1)
    dlq = f"dlq.{topic}"
    group = unique_group()
    configure(bs, group, share_auto_offset_reset="earliest",
              errors_deadletterqueue_topic_name=dlq)
    m = start(members, bs, topic, group, mode="explicit", reject="poison")
    produce_one_by_one(bs, topic, ["poison", "fine"])
    wait_until(lambda: any(e["v"] == "fine" for e in m.of("rec")), 60, "the records")
    # No such topic (and no auto-creation): the copy waits, the record is not archived.
    dlq_topic(bs, dlq, partitions=1)
    got = CONFLUENT.consume(bs, dlq, 1, partition=0, timeout=60)
    assert got[0].key is None and got[0].value is None, "copy.record.enable is false by default"
    assert dict(got[0].headers)["__dlq.errors.offset"] == b"0"


def test_a_copy_written_before_a_crash_is_not_written_again(broker, topic, members):
    """A leader that crashed after writing a dead-letter copy but before recording its record
    archived leaves the record Archiving and its dead-letter mark in the share state. The
    next leader finds the copy from the mark and archives the record without a second copy,
    and writes the copies still owed."""
    from confluent_kafka import Producer

    import sharewire
    from kwire import Conn
    from test_share_errors import topic_id

    bs = broker.bootstrap
    create_topic(bs, topic, partitions=1)
    dlq = f"dlq.{topic}"
    dlq_topic(bs, dlq, partitions=1)
    group = unique_group()
    configure(bs, group, share_auto_offset_reset="earliest",
              errors_deadletterqueue_topic_name=dlq)
    produce_one_by_one(bs, topic, ["copied", "owed", "fine"])
    tid = topic_id(bs, topic)
    mark = log_end(bs, dlq, 0)
    # The copy of offset 0 that the crashed leader wrote.
    p = Producer({"bootstrap.servers": bs, "linger.ms": 0})
    p.produce(dlq, partition=0, headers=[
        ("__dlq.errors.topic", topic.encode()), ("__dlq.errors.partition", b"0"),
        ("__dlq.errors.offset", b"0"), ("__dlq.errors.group", group.encode()),
        ("__dlq.errors.delivery.count", b"1"),
        ("__dlq.errors.message", b"Offset rejected by client.")])
    assert p.flush(30) == 0
    # The state it left: offsets 0 and 1 rejected and waiting for copies, the mark set.
    with Conn.to(bs) as c:
        wait_until(lambda: sharewire.find_share_coordinator(c, group, tid, 0)["error"] == 0,
                   60, "the share coordinator")
        wait_until(lambda: sharewire.write_share_state(
            c, group, tid, 0, start=0, batches=[(0, 1, sharewire.ARCHIVING, 1)],
            dead_letter_mark=(0, mark)) == 0, 60, "the crashed leader's state written")
    m = start(members, bs, topic, group)
    wait_until(lambda: any(e["v"] == "fine" for e in m.of("rec")), 60, "the next record")
    wait_until(lambda: log_end(bs, dlq, 0) >= mark + 2, 60, "the owed copy")
    got = CONFLUENT.consume(bs, dlq, 2, partition=0, timeout=60)
    assert sorted(dict(g.headers)["__dlq.errors.offset"] for g in got) == [b"0", b"1"], got
    # Once the records are archived the round is over: no copy more, and they were never
    # delivered again.
    produce_one_by_one(bs, topic, ["after"])
    wait_until(lambda: any(e["v"] == "after" for e in m.of("rec")), 60, "a later record")
    assert log_end(bs, dlq, 0) == mark + 2
    assert sorted(v for v, _ in delivered([m])) == ["after", "fine"]


def test_an_internal_topic_cannot_be_a_dead_letter_topic(broker):
    from logtools import java_configs

    out = java_configs(broker.bootstrap, "alter", "group", unique_group(),
                       ops=[("SET", "errors.deadletterqueue.topic.name", "__consumer_offsets")])
    assert out.get("error") == "InvalidConfigurationException", out


def test_operators_see_share_groups_in_the_cli_and_metrics(broker, topic, members):
    import subprocess

    from brokers import WeirBroker
    from scrape import value

    assert isinstance(broker, WeirBroker)
    bs = broker.bootstrap
    create_topic(bs, topic, partitions=1)
    dlq = f"dlq.{topic}"
    dlq_topic(bs, dlq, partitions=1)
    group = unique_group()
    # A released record waits out a ten-minute backoff in flight, holding the start offset.
    configure(bs, group, share_auto_offset_reset="earliest", errors_deadletterqueue_topic_name=dlq,
              share_retry_backoff_ms=600000, share_retry_backoff_max_ms=600000)
    m = start(members, bs, topic, group, mode="explicit", reject="bad", release="later")
    produce_one_by_one(bs, topic, ["a", "bad", "later", "b", "c", "d"])
    wait_until(lambda: len(m.of("rec")) == 6, 60, "every record")
    wait_until(lambda: log_end(bs, dlq, 0) == 1, 60, "the dead-letter copy")

    def weir(*args: str) -> str:
        res = subprocess.run([str(broker.binary), "share-group", *args, "--bootstrap", bs],
                             capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert res.returncode == 0, res.stderr[:2000]
        return res.stdout

    assert group in weir("list")
    # Everything acknowledged but the released record: the start offset stops at it, the
    # four records from it on are in flight, and it is available (TOPIC PARTITION START
    # LOG-END LAG IN-FLIGHT AVAILABLE ACQUIRED AWAITING-DLQ).
    def row(o: str) -> list[str] | None:
        return next((line.split() for line in o.splitlines()
                     if line.split()[:2] == [topic, "0"]), None)

    out = wait_until(lambda: (o := weir("describe", group))
                     and (r := row(o)) and r[2:4] == ["2", "6"] and r[5:] == ["4", "1", "0", "0"]
                     and o, 60, "the start offset to stop at the released record")
    assert "1 member(s)" in out and f"{topic}-0" in out, out
    assert f"dead-letter topic {dlq}: 1 record(s)" in out, out
    addr = broker.http
    labels = {"group": group, "topic": topic, "partition": "0"}
    assert value(addr, "weir_share_partition_start_offset", **labels) == 2
    assert value(addr, "weir_share_partition_records_in_flight", **labels) == 4
    assert value(addr, "weir_share_partition_records_available", **labels) == 1
    assert value(addr, "weir_share_dead_letters_total") >= 1
    assert value(addr, "weir_share_acknowledgements_total", kind="accept") >= 4
    assert value(addr, "weir_share_acknowledgements_total", kind="reject") >= 1
    m.close()
    wait_until(lambda: "0 member(s)" in weir("describe", group), 60, "the member to leave")
    dry = weir("reset-offsets", group, "--topic", topic, "--to-offset", "4")
    assert "dry run" in dry and any(line.split()[:3] == [topic, "0", "4"]
                                    for line in dry.splitlines()), dry
    assert row(weir("describe", group))[2] == "2", "a dry run changes nothing"
    assert "reset" in weir("reset-offsets", group, "--topic", topic, "--to-offset", "4",
                           "--execute")
    # A reset forgets the in-flight state.
    assert row(weir("describe", group))[2:] == ["4", "6", "2", "0", "0", "0", "0"]
    assert "deleted" in weir("delete-offsets", group, "--topic", topic)
    assert "deleted" in weir("delete", group)
    assert group not in weir("list")
