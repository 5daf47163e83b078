"""Retention and DeleteRecords as clients see them:

- retention.ms deletes whole segments whose newest record timestamp is older than it
  (the records carry old explicit timestamps, so what expires is decided by the test, not
  the clock); the log start offset (ListOffsets earliest) moves to the first kept segment;
- retention.bytes deletes the oldest segments while what is left stays at least
  retention.bytes (Kafka never deletes below it);
- -1 keeps everything, checked after the retention pass has provably run twice;
- a consumer positioned below the new log start gets OFFSET_OUT_OF_RANGE: the raw Fetch,
  auto.offset.reset=earliest (jumps to the new start: confluent-kafka, kafka-python, Java)
  and "none"/"error" (the error surfaces: confluent-kafka, kafka-python, Java);
- retention deleting segments under a consumer that is reading them: it continues from the
  new start without an error and without a gap after it;
- DeleteRecords through confluent-kafka and kafka-python moves the low watermark (never
  backwards), up to the high watermark (-1 means it); past it: OFFSET_OUT_OF_RANGE.

Segments are rolled with segment.ms=1000 and groups of records GROUP_GAP_MS apart in
record time (see logtools). The module's broker checks retention every 500 ms (Kafka:
log.retention.check.interval.ms=500 and log.initial.task.delay.ms=0, its first pass
otherwise waiting 30 s after startup).
"""

from __future__ import annotations

import os

import pytest

import kwire
from brokers import BrokerSet
from clients import CONFLUENT, JAVA, KAFKA_PYTHON, ClientError, Msg
from helpers import admin, create_topic, now_ms, wait_until
from logtools import (GROUP_GAP_MS, log_start, offsets, partition_dir, produce_groups,
                      read_confluent, read_kafka_python)

HOUR = 3_600_000
CONFIG = {"log.retention.check.interval.ms": "500"}
KAFKA_ONLY = {"log.initial.task.delay.ms": "0"}


@pytest.fixture(scope="module")
def rbroker(target, tmp_path_factory):
    if os.environ.get("WEIR_TEST_BOOTSTRAP"):
        pytest.skip("needs its own broker; WEIR_TEST_BOOTSTRAP points at an external one")
    brokers = BrokerSet(target, tmp_path_factory)
    try:
        yield brokers.make(name="retention",
                           config=dict(CONFIG, **(KAFKA_ONLY if target == "kafka" else {})))
    finally:
        brokers.close_all()


def alter_topic(bootstrap: str, topic: str, **configs: str) -> None:
    from confluent_kafka.admin import (AlterConfigOpType, ConfigEntry, ConfigResource,
                                       ResourceType)

    entries = [ConfigEntry(k.replace("_", "."), v, incremental_operation=AlterConfigOpType.SET)
               for k, v in configs.items()]
    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=entries)
    a = admin(bootstrap)  # must outlive the future
    a.incremental_alter_configs([res], request_timeout=30)[res].result(timeout=60)


def aged(tag: str, n: int, ts: int, key: bytes | None = b"k") -> list[Msg]:
    """n records written at record time `ts` (+1 ms each)."""
    return [Msg(key, f"{tag}-{i}".encode(), timestamp=ts + i) for i in range(n)]


def segment_logs(broker, topic: str) -> list:
    """The partition's live segment files (Kafka renames deleted ones *.log.deleted and
    removes them later)."""
    d = partition_dir(broker, topic)
    return sorted(p for p in d.iterdir() if p.name.endswith(".log")) if d else []


# ------------------------------------------------------------------ retention.ms


def test_retention_ms_deletes_segments_by_record_time(rbroker, topic):
    bs = rbroker.bootstrap
    create_topic(bs, topic, config={"retention.ms": str(HOUR), "segment.ms": "1000"})
    now = now_ms()
    # Three segments 3 h, 2.5 h and 2 h old, then two within the hour.
    groups = [aged(f"old{g}", 4, now - 3 * HOUR + g * HOUR // 2) for g in range(3)]
    groups += [aged("recent0", 3, now - HOUR // 2), aged("recent1", 3, now - HOUR // 4)]
    offs = produce_groups(bs, topic, groups)
    assert offs[3][0] == 12
    wait_until(lambda: log_start(bs, topic) == 12, 30,
               "retention to delete the three segments older than retention.ms")
    assert offsets(bs, topic) == (12, 18)
    want = [(12 + i, v) for i, v in enumerate(
        [m.value for g in groups[3:] for m in g])]
    assert [(g.offset, g.value) for g in read_confluent(bs, topic)] == want
    assert [(g.offset, g.value) for g in read_kafka_python(bs, topic)] == want
    got = JAVA.consume(bs, topic, 6, partition=0)
    assert [(g.offset, g.value) for g in got] == want
    # Appends continue at the log end.
    [[off]] = produce_groups(bs, topic, [aged("after", 1, now)])
    assert off == 18


def test_below_the_log_start_is_out_of_range(rbroker, topic):
    """After retention: a Fetch below the log start is OFFSET_OUT_OF_RANGE; clients reset
    per auto.offset.reset (earliest: the new start) or surface the error."""
    bs = rbroker.bootstrap
    create_topic(bs, topic, config={"retention.ms": str(HOUR), "segment.ms": "1000"})
    now = now_ms()
    produce_groups(bs, topic, [aged("old", 5, now - 2 * HOUR), aged("new", 5, now)])
    wait_until(lambda: log_start(bs, topic) == 5, 30, "the old segment to be deleted")

    with kwire.Conn.to(bs) as c:
        err, hw, batches = c.fetch(topic, 0, 2)
        assert (err, batches) == (kwire.OFFSET_OUT_OF_RANGE, [])
        err, hw, batches = c.fetch(topic, 0, 5)
        assert err == kwire.NONE and hw == 10
        assert [r.offset for b in batches for r in b.records][0] == 5

    for client in (CONFLUENT, KAFKA_PYTHON, JAVA):
        got = client.consume(bs, topic, 5, partition=0, offset=1)
        assert [g.offset for g in got] == [5, 6, 7, 8, 9], client.name
        assert got[0].value == b"new-0", client.name

    with pytest.raises(ClientError) as e:
        CONFLUENT.consume(bs, topic, 1, partition=0, offset=1,
                          extra={"auto.offset.reset": "error"}, timeout=30)
    assert e.value.name == "_AUTO_OFFSET_RESET"
    with pytest.raises(ClientError) as e:
        JAVA.consume(bs, topic, 1, partition=0, offset=1, extra={"auto.offset.reset": "none"},
                     timeout=30)
    assert e.value.name == "OffsetOutOfRangeException"
    from kafka.errors import OffsetOutOfRangeError

    with pytest.raises(OffsetOutOfRangeError):
        KAFKA_PYTHON.consume(bs, topic, 1, partition=0, offset=1,
                             extra={"auto_offset_reset": "none"}, timeout=30)


# ------------------------------------------------------------------ retention.bytes


def test_retention_bytes_keeps_at_least_the_limit(rbroker, topic):
    """Ten one-record segments of S bytes each and retention.bytes = 3.5 S: Kafka deletes
    the oldest segments while what stays is at least retention.bytes, so four remain."""
    bs = rbroker.bootstrap
    create_topic(bs, topic, config={"segment.ms": "1000", "retention.bytes": "-1"})
    base = now_ms() - HOUR // 2
    groups = [[Msg(b"key", b"value-%02d" % i, timestamp=base + i * GROUP_GAP_MS)]
              for i in range(10)]
    assert produce_groups(bs, topic, groups) == [[i] for i in range(10)]
    logs = segment_logs(rbroker, topic)
    sizes = {p.stat().st_size for p in logs}
    assert len(logs) == 10 and len(sizes) == 1, [(p.name, p.stat().st_size) for p in logs]
    size = sizes.pop()

    alter_topic(bs, topic, **{"retention.bytes": str(3 * size + size // 2)})
    wait_until(lambda: log_start(bs, topic) == 6, 30,
               "retention.bytes to delete the six oldest segments")
    assert [g.value for g in read_confluent(bs, topic)] == \
        [b"value-%02d" % i for i in range(6, 10)]
    assert len(segment_logs(rbroker, topic)) == 4
    # A limit above what is there deletes nothing more; new records arrive as usual. The
    # limit is raised first: under 3.5 S a fifth segment (value-10 rolls one) would rightly
    # let a retention pass delete value-06, on Kafka as on Weir.
    alter_topic(bs, topic, **{"retention.bytes": str(10 * size)})
    later = Msg(b"key", b"value-10", timestamp=base + 10 * GROUP_GAP_MS)
    [[off]] = produce_groups(bs, topic, [[later]])
    assert off == 10
    assert offsets(bs, topic) == (6, 11)


# ------------------------------------------------------------------ -1


def test_minus_one_keeps_everything(rbroker, topic):
    """retention.ms=-1 and retention.bytes=-1 keep records ten years old, while a canary
    topic shows two retention passes ran; setting retention.ms afterwards deletes them."""
    bs = rbroker.bootstrap
    forever, canary = topic, topic + "-canary"
    create_topic(bs, forever, config={"retention.ms": "-1", "retention.bytes": "-1",
                                      "segment.ms": "1000"})
    create_topic(bs, canary, config={"retention.ms": "60000"})
    ancient = now_ms() - 10 * 365 * 24 * HOUR
    produce_groups(bs, forever, [aged(f"g{g}", 3, ancient + g * GROUP_GAP_MS) for g in range(3)]
                   + [aged("now", 1, now_ms())])
    # Each canary record is deleted by a different retention pass; the forever topic
    # existed before the first of them.
    produce_groups(bs, canary, [aged("c0", 1, ancient)])
    wait_until(lambda: log_start(bs, canary) == 1, 30, "a first retention pass")
    produce_groups(bs, canary, [aged("c1", 1, ancient)])
    wait_until(lambda: log_start(bs, canary) == 2, 30, "a second retention pass")
    assert offsets(bs, forever) == (0, 10)
    assert len(read_confluent(bs, forever)) == 10

    alter_topic(bs, forever, **{"retention.ms": str(HOUR)})
    wait_until(lambda: log_start(bs, forever) == 9, 30,
               "retention.ms to delete the ten-year-old segments")
    assert [g.value for g in read_confluent(bs, forever)] == [b"now-0"]


# ------------------------------------------------------------------ under a consumer


@pytest.mark.parametrize("client", ["confluent", "kafka-python"])
def test_retention_under_a_reading_consumer(rbroker, topic, client):
    """A consumer reads the first records, retention then deletes the segments it is in;
    it goes on from the new log start (auto.offset.reset=earliest) with no error: what it
    gets is a prefix of the old records, then every record from the new start on."""
    bs = rbroker.bootstrap
    create_topic(bs, topic, config={"segment.ms": "1000"})
    now = now_ms()
    groups = [[Msg(b"k", b"old-%d-%d" % (g, i) + b"x" * 1000,
                    timestamp=now - 2 * HOUR + g * GROUP_GAP_MS) for i in range(20)]
              for g in range(5)]
    groups.append([Msg(b"k", b"new-%d" % i, timestamp=now + i) for i in range(20)])
    produce_groups(bs, topic, groups)
    seen: list[int] = []

    if client == "confluent":
        from confluent_kafka import Consumer, TopicPartition

        from clients import unique_group

        c = Consumer({"bootstrap.servers": bs, "group.id": unique_group(),
                      "enable.auto.commit": False, "auto.offset.reset": "earliest",
                      "fetch.max.bytes": 1000, "message.max.bytes": 1000,
                      "max.partition.fetch.bytes": 1, "queued.min.messages": 1,
                      "queued.max.messages.kbytes": 1})
        c.assign([TopicPartition(topic, 0, 0)])

        def poll(n):
            for m in c.consume(n, timeout=0.5):
                assert m.error() is None, m.error()
                seen.append(m.offset())
    else:
        from kafka import KafkaConsumer, TopicPartition

        c = KafkaConsumer(bootstrap_servers=bs, group_id=None, enable_auto_commit=False,
                          auto_offset_reset="earliest", max_partition_fetch_bytes=1,
                          fetch_max_bytes=1, max_poll_records=1)
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        c.seek(tp, 0)

        def poll(n):
            for records in c.poll(timeout_ms=500, max_records=n).values():
                seen.extend(r.offset for r in records)
    try:
        wait_until(lambda: poll(1) or len(seen) >= 3, 30, "the first records")
        alter_topic(bs, topic, **{"retention.ms": str(HOUR)})
        wait_until(lambda: log_start(bs, topic) == 100, 30,
                   "retention to delete the five old segments")
        wait_until(lambda: poll(100) or (seen and seen[-1] == 119), 30,
                   "the consumer to reach the end")
    finally:
        c.close()
    cut = next(i for i, o in enumerate(seen) if o >= 100)
    assert 3 <= cut < 100 and seen[:cut] == list(range(cut)), seen
    assert seen[cut:] == list(range(100, 120)), seen


# ------------------------------------------------------------------ DeleteRecords


def test_delete_records_confluent(rbroker, topic):
    from confluent_kafka import KafkaException, TopicPartition

    bs = rbroker.bootstrap
    create_topic(bs, topic, partitions=2)
    CONFLUENT.produce(bs, topic, [Msg(b"k", b"v%d" % i, partition=i % 2) for i in range(20)])
    a = admin(bs)

    def delete(p, off):
        [fut] = a.delete_records([TopicPartition(topic, p, off)], request_timeout=30).values()
        return fut.result(timeout=60).low_watermark

    assert delete(0, 4) == 4
    assert offsets(bs, topic, 0) == (4, 10)
    assert delete(0, 2) == 4  # never backwards
    assert [g.offset for g in read_confluent(bs, topic, 0)] == list(range(4, 10))
    with kwire.Conn.to(bs) as c:
        assert c.fetch(topic, 0, 3)[0] == kwire.OFFSET_OUT_OF_RANGE
    for off in (11, 1000):
        with pytest.raises(KafkaException) as e:
            delete(0, off)
        assert e.value.args[0].name() == "OFFSET_OUT_OF_RANGE", off
    assert offsets(bs, topic, 0) == (4, 10)
    assert delete(0, 10) == 10  # up to the high watermark: everything
    assert delete(1, -1) == 10  # -1: the high watermark
    assert offsets(bs, topic, 1) == (10, 10)
    # The other records stay readable; new ones continue the offsets.
    [d] = CONFLUENT.produce(bs, topic, [Msg(b"k", b"after", partition=0)])
    assert (d.error, d.offset) == (None, 10)
    got = KAFKA_PYTHON.consume(bs, topic, 1, partition=0)
    assert [(g.offset, g.value) for g in got] == [(10, b"after")]


def test_delete_records_kafka_python(rbroker, topic):
    from kafka import KafkaAdminClient, TopicPartition
    from kafka.errors import OffsetOutOfRangeError

    bs = rbroker.bootstrap
    create_topic(bs, topic)
    CONFLUENT.produce(bs, topic, [Msg(b"k", b"v%d" % i) for i in range(10)])
    tp = TopicPartition(topic, 0)
    a = KafkaAdminClient(bootstrap_servers=bs, request_timeout_ms=30000)
    try:
        r = a.delete_records({tp: 3})
        assert (r[tp]["low_watermark"], r[tp]["error_code"]) == (3, 0)
        assert a.delete_records({tp: 1})[tp]["low_watermark"] == 3
        with pytest.raises(OffsetOutOfRangeError):
            a.delete_records({tp: 11})
        assert offsets(bs, topic) == (3, 10)
        got = CONFLUENT.consume(bs, topic, 7, partition=0, offset=0)
        assert [g.offset for g in got] == list(range(3, 10))
        assert a.delete_records({tp: 10})[tp]["low_watermark"] == 10
    finally:
        a.close()
    assert offsets(bs, topic) == (10, 10)
    assert read_kafka_python(bs, topic) == []
