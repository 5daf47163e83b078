"""Log compaction (cleanup.policy=compact and compact,delete) as clients see it:

- after compaction confluent-kafka, kafka-python and the Java client read exactly the last
  record of every key, at the offset it was written at (offsets keep increasing, with
  gaps); a fetch from a removed offset continues at the next kept record; the active
  segment is never cleaned;
- compact,delete: superseded records go and whole segments older than retention.ms too;
- tombstones survive the cleaning that first sees them and vanish from a later one once
  delete.retention.ms has passed since (Kafka 3.1+, KIP-534: the horizon is set by the
  cleaner, not by the record's own timestamp, so old tombstones are kept just as long);
- min.cleanable.dirty.ratio: a log whose dirty share is below it is left alone while the
  cleaner provably cleans another log twice, and cleaned once more dirt arrives;
- min.compaction.lag.ms: records younger than it are not compacted (the older part of the
  same log is);
- records without a key are refused on compacted topics (INVALID_RECORD, as each client
  names it), and the broker keeps serving;
- kill -9 while a segment is being rewritten: after the restart the log is whole (every
  acknowledged key's latest value at its offset, no offset twice), and compaction finishes.

The active segment is never cleaned, so every test rolls segments: a topic with
segment.ms=1000 rolls when a batch's timestamp is past the segment's first by more than
that, and each group of records gets a timestamp GROUP_GAP_MS after the previous (see
logtools); a last "roller" record keeps the groups before it out of the active segment.
The module's broker looks for dirty logs every 500 ms (log.cleaner.backoff.ms) and checks
retention every 500 ms.
"""

from __future__ import annotations

import os
import time

import pytest

import kwire
from brokers import BrokerSet
from clients import CONFLUENT, JAVA, KAFKA_PYTHON, Msg
from helpers import admin, create_topic, now_ms, wait_until
from logtools import (GROUP_GAP_MS, log_start, offsets, partition_dir, produce_groups,
                      read_confluent, read_kafka_python, view)

HOUR = 3_600_000
CONFIG = {"log.cleaner.backoff.ms": "500", "log.retention.check.interval.ms": "500",
          "log.cleaner.io.max.bytes.per.second": "10000000"}
KAFKA_ONLY = {"log.initial.task.delay.ms": "0"}
COMPACT = {"cleanup.policy": "compact", "segment.ms": "1000", "min.cleanable.dirty.ratio": "0.01"}


@pytest.fixture(scope="module")
def _cbroker(target, tmp_path_factory):
    if os.environ.get("WEIR_TEST_BOOTSTRAP"):
        pytest.skip("needs its own broker; WEIR_TEST_BOOTSTRAP points at an external one")
    brokers = BrokerSet(target, tmp_path_factory)
    try:
        yield brokers.make(name="compaction",
                           config=dict(CONFIG, **(KAFKA_ONLY if target == "kafka" else {})))
    finally:
        brokers.close_all()


@pytest.fixture
def cbroker(_cbroker):
    """The module's broker, started again if a test left it down."""
    if not _cbroker.alive():
        _cbroker.start()
    return _cbroker


class Written:
    """Records as produced, with their offsets; `latest()` is what compaction must leave."""

    def __init__(self):
        self.records: list[tuple[int, Msg]] = []

    def add(self, groups: list[list[Msg]], offsets: list[list[int]]) -> None:
        for g, offs in zip(groups, offsets, strict=True):
            self.records += list(zip(offs, g, strict=True))

    def produce(self, bootstrap: str, topic: str, groups: list[list[Msg]]) -> None:
        self.add(groups, produce_groups(bootstrap, topic, groups))

    def all(self) -> list[tuple]:
        return [(o, m.key, m.value, list(m.headers)) for o, m in self.records]

    def latest(self, upto: int | None = None, tombstones: bool = True) -> list[tuple]:
        """Records left after compacting everything below offset `upto` (default: all):
        the last of each key there, every record from `upto` on."""
        last: dict[bytes, int] = {}
        for o, m in self.records:
            if upto is None or o < upto:
                last[m.key] = o
        out = []
        for o, m in self.records:
            if upto is not None and o >= upto:
                out.append((o, m.key, m.value, list(m.headers)))
            elif last[m.key] == o and (tombstones or m.value is not None):
                out.append((o, m.key, m.value, list(m.headers)))
        return out


def wait_compacted(bootstrap: str, topic: str, want: list[tuple], what: str,
                   timeout: float = 60) -> None:
    """Waits until a confluent-kafka consumer reads exactly `want` from the beginning."""
    last: list = []

    def done():
        last[:] = view(read_confluent(bootstrap, topic))
        return last == want

    try:
        wait_until(done, timeout, what, interval=0.3)
    except AssertionError:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}:\n"
                             f"  want {summary(want)}\n  read {summary(last)}") from None


def summary(rows: list[tuple]) -> str:
    return "[" + ", ".join(f"{o}:{k!r}={'None' if v is None else v[:12]!r}"
                           for o, k, v, *_ in rows) + "]"


def roller(ts: int, tag: str = "roller") -> list[Msg]:
    return [Msg(tag.encode(), b"r", timestamp=ts)]


# ------------------------------------------------------------------ last value per key


def test_compaction_keeps_the_last_value_per_key(cbroker, topic):
    bs = cbroker.bootstrap
    create_topic(bs, topic, config=COMPACT)
    base = now_ms() - HOUR
    w = Written()
    groups = []
    for g in range(4):
        group = []
        for k in range(30):
            if k >= 25 and g > 0:
                continue  # keys 25-29 are written once, in the first group
            key = b"key-%02d" % ((k * 7 + g) % 30 if k < 25 else k)
            if key in {m.key for m in group}:
                continue
            value = None if g == 3 and k % 7 == 0 else b"%s-v%d" % (key, g) + b"." * (k % 5)
            headers = [("gen", str(g).encode()), ("gen", b"again")] if k % 3 == 0 else []
            group.append(Msg(key, value, headers, base + g * GROUP_GAP_MS + k))
        groups.append(group)
    groups.append(roller(base + 4 * GROUP_GAP_MS))
    w.produce(bs, topic, groups)
    end = w.records[-1][0] + 1
    want = w.latest()
    assert len(want) < len(w.records)
    assert any(v is None for _, _, v, _ in want)  # tombstones stay (delete.retention.ms: 1 day)

    wait_compacted(bs, topic, want, "compaction to leave the last record of each key")
    assert view(read_kafka_python(bs, topic)) == want
    got = JAVA.consume(bs, topic, len(want), partition=0)
    assert view(got) == want
    # Offsets are those they were written at; the log's bounds do not move.
    assert offsets(bs, topic) == (0, end)
    # Fetching from a removed offset continues at the next kept record.
    removed = next(o for o, *_ in w.all() if o not in {r[0] for r in want})
    assert view(read_confluent(bs, topic, offset=removed)) == [r for r in want if r[0] > removed]
    assert view(read_kafka_python(bs, topic, offset=removed)) == \
        [r for r in want if r[0] > removed]
    # Appends go on at the log end.
    [[off]] = produce_groups(bs, topic, [[Msg(b"key-00", b"after", timestamp=now_ms())]])
    assert off == end


def test_compact_delete_compacts_and_expires(cbroker, topic):
    """cleanup.policy=compact,delete: superseded records go, and so does a segment older
    than retention.ms whose keys nothing superseded. 100 KB values and segment.bytes of
    1 MiB keep that old segment apart from the others when the cleaner rewrites them."""
    bs = cbroker.bootstrap
    create_topic(bs, topic, config={"cleanup.policy": "compact,delete", "retention.ms": str(HOUR),
                                    "segment.ms": "1000", "segment.bytes": "1048576",
                                    "min.cleanable.dirty.ratio": "0.01"})
    now = now_ms()
    big = b"x" * 100_000
    w = Written()
    w.produce(bs, topic, [
        [Msg(b"ancient-%d" % i, b"a%d" % i + big, timestamp=now - 3 * HOUR + i) for i in range(7)],
        [Msg(b"key-%d" % i, b"v1-%d" % i + big, timestamp=now - 600_000 + i) for i in range(7)],
        [Msg(b"key-%d" % i, b"v2-%d" % i + big,
             timestamp=now - 600_000 + GROUP_GAP_MS + i) for i in range(7)],
        roller(now - 600_000 + 2 * GROUP_GAP_MS)])
    want = [r for r in w.latest() if not r[1].startswith(b"ancient")]
    assert [r[0] for r in want] == list(range(14, 22))
    wait_compacted(bs, topic, want, "compaction and retention of the 3 h old segment")
    assert 7 <= log_start(bs, topic) <= 14
    assert [(g.offset, g.key) for g in read_kafka_python(bs, topic)] == \
        [(r[0], r[1]) for r in want]


# ------------------------------------------------------------------ tombstones


def test_tombstones_vanish_after_delete_retention_ms(cbroker, topic):
    """Two topics get the same records (two hours old): tombstones survive the first
    cleaning in both; in a later cleaning, after delete.retention.ms=1 s has passed, they
    are gone from the first, and kept in the second (delete.retention.ms=1 h, counted from
    the first cleaning, not from the records' timestamps)."""
    bs = cbroker.bootstrap
    short, long_ = topic, topic + "-long"
    create_topic(bs, short, config=dict(COMPACT, **{"delete.retention.ms": "1000"}))
    create_topic(bs, long_, config=dict(COMPACT, **{"delete.retention.ms": str(HOUR)}))
    base = now_ms() - 2 * HOUR
    phase1 = [[Msg(b"k%d" % i, b"v0-%d" % i, timestamp=base + i) for i in range(5)],
              [Msg(b"k0", None, timestamp=base + GROUP_GAP_MS),
               Msg(b"k1", None, timestamp=base + GROUP_GAP_MS + 1),
               Msg(b"k2", b"v1-2", timestamp=base + GROUP_GAP_MS + 2)],
              roller(base + 2 * GROUP_GAP_MS, "roller1")]
    phase2 = [[Msg(b"k3", b"v2-3", timestamp=base + 3 * GROUP_GAP_MS),
               Msg(b"k4", b"v2-4", timestamp=base + 3 * GROUP_GAP_MS + 1)],
              roller(base + 4 * GROUP_GAP_MS, "roller2")]
    written = {short: Written(), long_: Written()}
    for t, w in written.items():
        w.produce(bs, t, phase1)
    for t, w in written.items():
        want = w.latest(upto=8)
        assert [r[:3] for r in want] == [(3, b"k3", b"v0-3"), (4, b"k4", b"v0-4"), (5, b"k0", None),
                                         (6, b"k1", None), (7, b"k2", b"v1-2"),
                                         (8, b"roller1", b"r")]
        wait_compacted(bs, t, want, f"the first cleaning of {t}")
    first_seen = time.monotonic()
    wait_until(lambda: time.monotonic() > first_seen + 1.5, 5, "delete.retention.ms to pass")
    for t, w in written.items():
        w.produce(bs, t, phase2)

    # Short delete.retention.ms: the next cleaning removes the tombstones.
    want = written[short].latest(upto=11, tombstones=False)
    assert [r[:2] for r in want] == [(7, b"k2"), (8, b"roller1"), (9, b"k3"), (10, b"k4"),
                                     (11, b"roller2")]
    wait_compacted(bs, short, want, "the second cleaning to drop the expired tombstones")
    # Long delete.retention.ms: the same cleaning keeps them.
    want = written[long_].latest(upto=11)
    assert [r[:3] for r in want][:2] == [(5, b"k0", None), (6, b"k1", None)]

    def cleaned_again():
        rows = view(read_confluent(bs, long_))
        return rows if not any(r[1] in (b"k3", b"k4") and r[0] < 5 for r in rows) else None

    rows = wait_until(cleaned_again, 60, "the second cleaning of the long-retention topic",
                      interval=0.3)
    assert rows == want, f"want {summary(want)}\nread {summary(rows)}"


# ------------------------------------------------------------------ when to clean


def test_min_cleanable_dirty_ratio_is_honoured(cbroker, topic):
    """After a first cleaning, a little new dirt (about 3 % of the log) leaves a topic with
    min.cleanable.dirty.ratio=0.5 alone, while a control topic (0.01) with the same records
    is cleaned, and cleaned again after more dirt; once the topic's dirty share passes 0.5
    it is cleaned too. Each phase's duplicates are written into one segment, so the
    dirty share crosses 0.5 exactly once, when the roller after them arrives."""
    bs = cbroker.bootstrap
    lazy, eager = topic, topic + "-eager"
    create_topic(bs, lazy, config=dict(COMPACT, **{"min.cleanable.dirty.ratio": "0.5"}))
    create_topic(bs, eager, config=COMPACT)
    base = now_ms() - HOUR
    pad = b"p" * 500
    ts = iter(range(base, base + 100 * GROUP_GAP_MS, GROUP_GAP_MS))
    written = {lazy: Written(), eager: Written()}

    def everywhere(groups, topics=(lazy, eager)):
        for t in topics:
            written[t].produce(bs, t, groups)

    def versions(*tags):
        t0 = next(ts)
        return [Msg(b"k%d" % i, b"%s%d" % (tag, i) + pad, timestamp=t0 + j * 10 + i)
                for j, tag in enumerate(tags) for i in range(10)]

    # Phase 1: two values of each key in one segment, rolled by roller1: dirty share 1.
    everywhere([versions(b"a", b"b"), roller(next(ts), "roller1")])
    for t in (lazy, eager):
        wait_compacted(bs, t, written[t].latest(upto=20), f"the first cleaning of {t}")

    # Phase 2, a little dirt: the roller1 segment and two small records.
    everywhere([[Msg(b"k0", b"c0", timestamp=next(ts)), Msg(b"k1", b"c1", timestamp=next(ts))],
                roller(next(ts), "roller2")])
    lazy_now = written[lazy].latest(upto=20)  # what the lazy topic must still hold
    assert (10, b"k0") in [(o, k) for o, k, *_ in lazy_now]
    wait_compacted(bs, eager, written[eager].latest(upto=23), "the control topic's cleaning")
    everywhere([[Msg(b"k2", b"c2", timestamp=next(ts))], roller(next(ts), "roller3")],
               topics=(eager,))
    wait_compacted(bs, eager, written[eager].latest(upto=25), "another cleaning of the control")
    assert view(read_confluent(bs, lazy)) == lazy_now, "cleaned below the dirty ratio"

    # Phase 3, enough dirt to pass 0.5 (two more values of each key): cleaned.
    everywhere([versions(b"d", b"e"), roller(next(ts), "roller4")], topics=(lazy,))
    wait_compacted(bs, lazy, written[lazy].latest(upto=44),
                   "the cleaning once the dirty share passes min.cleanable.dirty.ratio")


def test_min_compaction_lag_ms_is_honoured(cbroker, topic):
    """min.compaction.lag.ms=60000: the part of the log written more than a minute ago (by
    record time) is compacted, the recent part is not, not even its superseded records."""
    bs = cbroker.bootstrap
    create_topic(bs, topic, config=dict(COMPACT, **{"min.compaction.lag.ms": "60000"}))
    now = now_ms()
    w = Written()
    keys = [b"k%d" % i for i in range(5)]
    w.produce(bs, topic, [
        [Msg(k, b"old1-" + k, timestamp=now - 600_000) for k in keys],
        [Msg(k, b"old2-" + k, timestamp=now - 600_000 + GROUP_GAP_MS) for k in keys],
        [Msg(k, b"new1-" + k, timestamp=now) for k in keys],
        [Msg(k, b"new2-" + k, timestamp=now + GROUP_GAP_MS) for k in keys],
        roller(now + 2 * GROUP_GAP_MS)])
    want = w.latest(upto=10)
    assert [v for _, _, v, _ in want][:5] == [b"old2-" + k for k in keys]
    assert len(want) == 5 + 5 + 5 + 1
    wait_compacted(bs, topic, want, "the old part to be compacted, the recent part not")
    assert view(read_kafka_python(bs, topic)) == want


# ------------------------------------------------------------------ keys required


def test_records_without_a_key_are_refused(broker, topic):
    bs = broker.bootstrap
    for t, policy in ((topic, "compact"), (topic + "-cd", "compact,delete")):
        create_topic(bs, t, config={"cleanup.policy": policy})
        [d] = CONFLUENT.produce(bs, t, [Msg(None, b"no key")], extra={"retries": 0})
        assert d.error == "INVALID_RECORD", (policy, d)
        [d] = KAFKA_PYTHON.produce(bs, t, [Msg(None, b"no key")])
        assert d.error == "InvalidRecordError", (policy, d)
        [d] = JAVA.produce(bs, t, [Msg(None, b"no key")])
        assert d.error == "InvalidRecordException", (policy, d)
        with kwire.Conn.to(bs) as c:
            batch = kwire.record_batch([kwire.Record(None, b"no key")], now_ms())
            assert c.produce(t, 0, batch) == (kwire.INVALID_RECORD, -1)
            # One keyless record refuses its whole batch.
            batch = kwire.record_batch([kwire.Record(b"k", b"keyed"),
                                        kwire.Record(None, b"no key")], now_ms())
            assert c.produce(t, 0, batch) == (kwire.INVALID_RECORD, -1)
        assert offsets(bs, t) == (0, 0), "nothing refused may be stored"
        # The broker keeps serving: keyed records (tombstones too) are accepted.
        ds = CONFLUENT.produce(bs, t, [Msg(b"k", b"v"), Msg(b"k", None)])
        assert [(d.error, d.offset) for d in ds] == [(None, 0), (None, 1)]
        got = KAFKA_PYTHON.consume(bs, t, 2, partition=0)
        assert [(g.key, g.value) for g in got] == [(b"k", b"v"), (b"k", None)]
    # A delete-policy topic takes keyless records.
    create_topic(bs, topic + "-delete")
    [d] = CONFLUENT.produce(bs, topic + "-delete", [Msg(None, b"no key")])
    assert d.error is None


# ------------------------------------------------------------------ crash while cleaning


def test_kill9_while_cleaning_leaves_the_log_whole(cbroker, topic):
    """18 MB in 1 MiB segments, written while the topic is cleanup.policy=delete, then
    switched to compact so that one cleaning faces all of it (throttled to 10 MB/s).
    kill -9 as soon as a rewritten segment is being written (a file with ".cleaned" in its
    name: Kafka's <base>.log.cleaned, Weir's <base>.cleaned.tmp). After the restart every
    acknowledged record is either there at its offset or superseded by a later record of
    its key, each key's latest value is there, no offset appears twice; then compaction
    completes."""
    from confluent_kafka.admin import (AlterConfigOpType, ConfigEntry, ConfigResource,
                                       ResourceType)

    bs = cbroker.bootstrap
    create_topic(bs, topic, config={"cleanup.policy": "delete", "retention.ms": "-1",
                                    "segment.ms": "1000", "segment.bytes": "1048576",
                                    "min.cleanable.dirty.ratio": "0.01"})
    base = now_ms() - HOUR
    w = Written()
    w.produce(bs, topic, [
        [Msg(b"key-%05d" % k, b"%d-%d-" % (k, g) + b"x" * 4000, timestamp=base + g * GROUP_GAP_MS)
         for k in range(1500)] for g in range(3)] + [roller(base + 3 * GROUP_GAP_MS)])
    acked = {o: (m.key, m.value) for o, m in w.records}
    latest = w.latest()
    d = partition_dir(cbroker, topic)
    assert d is not None

    entries = [ConfigEntry("cleanup.policy", "compact",
                           incremental_operation=AlterConfigOpType.SET)]
    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=entries)
    a = admin(bs)
    a.incremental_alter_configs([res], request_timeout=30)[res].result(timeout=60)
    del a  # no client left to complain while the broker is down
    wait_until(lambda: any(".cleaned" in n for n in os.listdir(d)), 60,
               "the cleaner to write a rewritten segment", interval=0.001)
    cbroker.kill9()
    cbroker.start()

    got = read_confluent(bs, topic, timeout=90)
    offs = [g.offset for g in got]
    assert len(set(offs)) == len(offs) and offs == sorted(offs), "offsets repeated or unordered"
    wrong = [g.offset for g in got if acked.get(g.offset) != (g.key, g.value)]
    assert not wrong, f"records not as acknowledged at offsets {wrong[:5]}"
    present = {g.offset for g in got}
    missing = [o for o, *_ in latest if o not in present]
    assert not missing, f"latest values missing at offsets {missing[:5]}"
    assert offsets(bs, topic)[1] == len(acked)

    wait_compacted(bs, topic, latest, "compaction to finish after the restart", timeout=90)
