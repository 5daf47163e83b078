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
from helpers import create_topic, wait_until
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
