"""Transactions (KIP-98, KIP-447, KIP-664) with real clients, each transactional producer a
process (txn_client.py for confluent-kafka and kafka-python, `KafkaCli txn` for Java):

- aborted transactions are invisible to read_committed consumers (confluent-kafka,
  kafka-python, Java) and visible to read_uncommitted ones; committed ones are visible to
  both; with committed, aborted and non-transactional writes interleaved on the same
  partitions, each consumer gets exactly the expected records in offset order, and the
  log holds the expected commit/abort markers and aborted-transaction index;
- the last stable offset: a read_committed consumer stops before an open transaction
  until it commits; ListOffsets latest under read_committed is the LSO;
- consume-transform-produce with sendOffsetsToTransaction (txn_worker.py) gives exactly one
  output record per input record across kill -9 of the worker, mid-transaction and at an
  arbitrary point;
- a zombie producer (an older epoch of the same transactional.id) is fenced;
- a broker restart (clean, and kill -9) in the middle of transactions: one left open by a
  producer that went away is aborted after transaction.timeout.ms, one committed right
  before the restart ends committed, one whose producer survives the restart commits;
  nothing is left hanging;
- DescribeTransactions, ListTransactions and DescribeProducers through the Java Admin and
  kafka-python.

Every test runs at transaction version 2 (KIP-890 part 2, a new cluster's default) and at
version 1, set with kafka-features.sh; only the Java client changes protocol with it
(librdkafka and kafka-python speak version 1 either way).

Transaction timeouts are checked by Kafka every
transaction.abort.timed.out.transaction.cleanup.interval.ms (default 10 s): the restart
tests' broker sets it to 1000.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

import kwire
import txnwire as tw
from brokers import BrokerSet
from clients import ConsumeTimeout, unique_group
from helpers import create_topic, wait_until
from txn import (FENCED, TXN_CLIENTS, TxnClients, Workers, list_offsets,
                 list_offsets_kafka_python, new_txn_id, plain_produce, read,
                 set_transaction_version, txn_admin, values_by_partition, wait_state)

CONSUMERS = ["confluent", "kafka-python", "java"]
# What a fenced producer's commit fails with, per client.
COMMIT_FENCED = {"_FENCED", "ProducerFencedException", "ProducerFencedError"}
FAST_ABORT = {"transaction.abort.timed.out.transaction.cleanup.interval.ms": "1000"}


@pytest.fixture(scope="module", params=[2, 1], ids=["tv2", "tv1"], autouse=True)
def transaction_version(request):
    """The module's tests at each transaction version, on the shared broker (and on the
    restart tests' own); version 2 is put back afterwards."""
    bootstrap = request.getfixturevalue("broker").bootstrap
    set_transaction_version(bootstrap, request.param)
    yield request.param
    set_transaction_version(bootstrap, 2)


@pytest.fixture
def txns():
    t = TxnClients()
    yield t
    t.close_all()


@pytest.fixture
def workers():
    w = Workers()
    yield w
    w.close_all()


@pytest.fixture(scope="module")
def _restartable(target, tmp_path_factory):
    if os.environ.get("WEIR_TEST_BOOTSTRAP"):
        pytest.skip("needs its own broker; WEIR_TEST_BOOTSTRAP points at an external one")
    brokers = BrokerSet(target, tmp_path_factory)
    try:
        yield brokers.make(name="transactions", config=FAST_ABORT)
    finally:
        brokers.close_all()


@pytest.fixture
def restartable(_restartable, transaction_version):
    """A broker of this module's own (so it can be restarted), with timed-out transactions
    aborted within a second; started again if a test left it down."""
    if not _restartable.alive():
        _restartable.start()
    set_transaction_version(_restartable.bootstrap, transaction_version)
    return _restartable


class Log:
    """What a test wrote to a partition, in log order, with each record's fate: visible
    (committed or plain), invisible (aborted) or pending (in an open transaction)."""

    def __init__(self, partitions: int):
        self.entries: dict[int, list[list]] = {p: [] for p in range(partitions)}

    def add(self, partition: int, value: str, txn: list | None = None) -> None:
        e = [value, txn is None]
        self.entries[partition].append(e)
        if txn is not None:
            txn.append(e)

    @staticmethod
    def end(txn: list, committed: bool) -> None:
        for e in txn:
            e[1] = committed
        txn.clear()

    def committed(self) -> dict[int, list[str]]:
        return {p: [v for v, ok in es if ok] for p, es in self.entries.items() if es}

    def everything(self) -> dict[int, list[str]]:
        return {p: [v for v, _ in es] for p, es in self.entries.items() if es}


def settled_ends(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    """Waits until every transaction's markers are written (the last stable offset is the
    log end on each partition); returns the log ends."""
    def same():
        end = list_offsets(bootstrap, topic, partitions, committed=False)
        return end if list_offsets(bootstrap, topic, partitions, committed=True) == end else None

    return wait_until(same, 30, "the last stable offsets to reach the log ends")


def count(by_partition: dict[int, list[str]]) -> int:
    return sum(len(v) for v in by_partition.values())


# ------------------------------------------------------------------ visibility


@pytest.mark.parametrize("producer", TXN_CLIENTS)
def test_aborted_invisible_committed_visible(broker, topic, txns, producer):
    bs = broker.bootstrap
    create_topic(bs, topic, partitions=2)
    log = Log(2)

    def plain(p, v):
        plain_produce(bs, topic, p, [v])
        log.add(p, v)

    x = txns.start(producer, bs, new_txn_id("x"))
    y = txns.start(producer, bs, new_txn_id("y"))
    x.init()
    y.init()
    tx: list = []
    ty: list = []

    def send(prod, t, p, v):
        prod.send(topic, p, v)
        log.add(p, v, t)

    plain(0, "plain-a-0")
    plain(1, "plain-a-1")
    x.begin()
    send(x, tx, 0, "x1-0")
    send(x, tx, 1, "x1-1")
    x.commit()
    log.end(tx, True)
    x.begin()
    send(x, tx, 0, "x2-0")
    send(x, tx, 1, "x2-1")
    x.abort()
    log.end(tx, False)
    plain(0, "plain-b-0")
    plain(1, "plain-b-1")
    # Two transactions at once, and a plain write between their records.
    x.begin()
    y.begin()
    send(x, tx, 0, "x3-0")
    send(y, ty, 0, "y1-0")
    plain(0, "plain-c-0")
    send(y, ty, 1, "y1-1")
    send(x, tx, 1, "x3-1")
    send(x, tx, 0, "x3-0b")
    x.abort()
    log.end(tx, False)
    send(y, ty, 0, "y1-0b")
    y.commit()
    log.end(ty, True)
    x.begin()
    send(x, tx, 0, "x4-0")
    send(x, tx, 0, "x4-0b")
    x.commit()
    log.end(tx, True)
    plain(0, "end-0")
    plain(1, "end-1")

    committed, everything = log.committed(), log.everything()
    ends = settled_ends(bs, topic, 2)

    for client in CONSUMERS:
        got_c = read(client, bs, topic, count(committed), committed=True)
        got_u = read(client, bs, topic, count(everything), committed=False)
        assert values_by_partition(got_c) == committed, f"{client} read_committed"
        assert values_by_partition(got_u) == everything, f"{client} read_uncommitted"
        # Committed records keep their offsets; read_committed just skips the rest.
        at = {(g.partition, g.offset): g.value for g in got_u}
        assert all(at.get((g.partition, g.offset)) == g.value for g in got_c), client

    # As stored: data batches in order, a marker after each transaction's records, and
    # the aborted transactions (producer id, first offset) a read_committed Fetch lists.
    markers = {0: ["COMMIT", "ABORT", "ABORT", "COMMIT", "COMMIT"],
               1: ["COMMIT", "ABORT", "ABORT", "COMMIT"]}
    with kwire.Conn.to(bs) as c:
        for p in (0, 1):
            res, batches = tw.fetch_all(c, topic, p, tw.READ_UNCOMMITTED)
            assert res.error == kwire.NONE
            data = [(b, r) for b in batches if not b.control for r in b.records]
            assert [r.value.decode() for _, r in data] == everything[p]
            assert [b.marker() for b in batches if b.control] == markers[p]
            first = {r.value.decode(): (b.producer_id, r.offset) for b, r in data}
            assert all(b.transactional for b, r in data if r.value[:1] in (b"x", b"y"))
            assert not any(b.transactional for b, r in data if r.value[:1] in (b"p", b"e"))
            rc, _ = tw.fetch_all(c, topic, p, tw.READ_COMMITTED)
            assert rc.last_stable_offset == rc.high_watermark == ends[p]
            res_c = tw.fetch(c, topic, p, 0, tw.READ_COMMITTED)
            assert set(res_c.aborted) == {first[f"x2-{p}"], first[f"x3-{p}"]}, res_c.aborted


# ------------------------------------------------------------------ last stable offset


def test_read_committed_stops_at_the_open_transaction(broker, topic, txns):
    from confluent_kafka import Consumer, TopicPartition

    bs = broker.bootstrap
    create_topic(bs, topic)
    before = ["before-0", "before-1", "before-2"]
    opened = ["open-0", "open-1", "open-2"]
    after = ["after-0", "after-1", "after-2"]
    assert plain_produce(bs, topic, 0, before) == [0, 1, 2]
    t = txns.start("java", bs, new_txn_id("lso"))
    t.init()
    t.begin()
    assert t.batch(topic, 0, "open", 3) == [(0, 3), (0, 4), (0, 5)]
    assert plain_produce(bs, topic, 0, after) == [6, 7, 8]

    # ListOffsets latest: the log end under read_uncommitted, the open transaction's first
    # offset (the LSO) under read_committed.
    assert list_offsets(bs, topic, 1, committed=False) == {0: 9}
    assert list_offsets(bs, topic, 1, committed=True) == {0: 3}
    assert list_offsets_kafka_python(bs, topic, 1, committed=False) == {0: 9}
    assert list_offsets_kafka_python(bs, topic, 1, committed=True) == {0: 3}
    with kwire.Conn.to(bs) as c:
        assert tw.list_offset(c, topic, 0, -1, tw.READ_COMMITTED) == (kwire.NONE, 3)
        assert tw.list_offset(c, topic, 0, -1, tw.READ_UNCOMMITTED) == (kwire.NONE, 9)
        # A read_committed Fetch returns nothing at or past the LSO.
        rc = tw.fetch(c, topic, 0, 0, tw.READ_COMMITTED)
        assert (rc.error, rc.high_watermark, rc.last_stable_offset) == (kwire.NONE, 9, 3)
        assert [r.value.decode() for b in rc.batches for r in b.records] == before
        ru = tw.fetch(c, topic, 0, 0, tw.READ_UNCOMMITTED)
        assert (ru.high_watermark, ru.last_stable_offset) == (9, 3)
        assert [r.value.decode() for b in ru.batches for r in b.records] == \
            before + opened + after

    # A consumer that stays subscribed across the commit.
    live = Consumer({"bootstrap.servers": bs, "group.id": unique_group(),
                     "isolation.level": "read_committed", "enable.auto.commit": False})
    try:
        live.assign([TopicPartition(topic, 0, 0)])
        seen: list[str] = []

        def poll_live():
            for m in live.consume(num_messages=100, timeout=0.2):
                if m.error() is None:
                    seen.append(m.value().decode())
            return seen

        wait_until(lambda: len(poll_live()) >= 3, 30, "the records before the transaction")
        for client in ("kafka-python", "java"):
            assert [g.value.decode() for g in read(client, bs, topic, 3, committed=True)] \
                == before
        assert [g.value.decode() for g in read("kafka-python", bs, topic, 9, committed=False)] \
            == before + opened + after

        # While the transaction is open, no read_committed consumer gets past it: each
        # asked for a fourth record gets none within a bounded window.
        def window(client):
            try:
                got = read(client, bs, topic, 4, committed=True, timeout=4)
            except ConsumeTimeout as e:
                return [g.value.decode() for g in e.got]
            return [g.value.decode() for g in got]

        with ThreadPoolExecutor(2) as pool:
            futs = {c: pool.submit(window, c) for c in ("kafka-python", "java")}
            for _ in range(10):  # ~2 s of polling by the live consumer meanwhile
                poll_live()
            for client, fut in futs.items():
                assert fut.result(60) == before, client
        assert seen == before

        t.commit()
        wait_until(lambda: list_offsets(bs, topic, 1, committed=True) == {0: 10}, 30,
                   "the LSO to move past the commit marker (offset 9)")
        wait_until(lambda: len(poll_live()) >= 9, 30,
                   "the live consumer to read past the committed transaction")
        assert seen == before + opened + after
    finally:
        live.close()
    for client in ("kafka-python", "java"):
        assert [g.value.decode() for g in read(client, bs, topic, 9, committed=True)] == \
            before + opened + after


# ------------------------------------------------------------------ exactly-once pipeline


@pytest.mark.parametrize("client", ["confluent", "kafka-python"])
def test_consume_transform_produce_exactly_once_across_kill9(broker, topic, workers, client):
    bs = broker.bootstrap
    src, dst = topic + "-in", topic + "-out"
    parts, per = 3, 400
    create_topic(bs, src, partitions=parts)
    create_topic(bs, dst, partitions=parts)
    for p in range(parts):
        plain_produce(bs, src, p, [f"v-{p}-{i}" for i in range(per)])
    opts = dict(client=client, bootstrap=bs, input=src, output=dst, group=unique_group(),
                txn_id=new_txn_id("ctp"), batch=25)

    # Worker 1 commits five transactions, then is killed with the sixth open (its output
    # written, its offsets not yet sent).
    w1 = workers.start(pause_after=5, **opts)
    w1.wait("in_txn", 90, "worker 1 to hold a transaction open")
    assert w1.committed() == 5
    w1.kill9()
    # Worker 2 fences it (its open transaction is aborted), resumes from the committed
    # offsets, and is killed wherever it happens to be after a few transactions.
    w2 = workers.start(**opts)
    wait_until(lambda: w2.committed() >= 4 or w2.errors(), 90,
               "worker 2 to commit transactions")
    assert not w2.errors(), w2.errors()[0]
    w2.kill9()
    # Worker 3 finishes the input.
    w3 = workers.start(**opts)

    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import AdminClient

    a = AdminClient({"bootstrap.servers": bs})

    def group_done():
        assert not w3.errors(), w3.errors()[0]
        req = ConsumerGroupTopicPartitions(opts["group"],
                                           [TopicPartition(src, p) for p in range(parts)])
        res = a.list_consumer_group_offsets([req], require_stable=True)[opts["group"]]
        offs = {tp.partition: tp.offset for tp in res.result(30).topic_partitions}
        return offs == {p: per for p in range(parts)}

    wait_until(group_done, 120, "the group's committed offsets to reach the input's end")
    w3.close()
    assert w3.proc.returncode == 0 and not w3.errors()

    # Exactly one output per input record, in input order per partition.
    for p in range(parts):
        plain_produce(bs, dst, p, [f"end-{p}"])
    expected = {p: [f"{p}:{i}:v-{p}-{i}" for i in range(per)] + [f"end-{p}"]
                for p in range(parts)}
    for reader in ("confluent", "java"):
        got = read(reader, bs, dst, parts * (per + 1), committed=True, timeout=90)
        assert values_by_partition(got) == expected, reader
    # The killed worker's open transaction really wrote output, which was aborted.
    with kwire.Conn.to(bs) as c:
        stored = aborted = 0
        for p in range(parts):
            _, batches = tw.fetch_all(c, dst, p, tw.READ_UNCOMMITTED)
            stored += sum(len(b.records) for b in batches if not b.control)
            aborted += len(tw.fetch(c, dst, p, 0, tw.READ_COMMITTED).aborted)
    assert stored > parts * (per + 1) and aborted >= 1, (stored, aborted)


# ------------------------------------------------------------------ fencing


@pytest.mark.parametrize("client", TXN_CLIENTS)
def test_zombie_producer_is_fenced(broker, topic, txns, client):
    bs = broker.bootstrap
    create_topic(bs, topic)
    tid = new_txn_id("zombie")

    # The zombie's next call after being fenced is a commit.
    zombie = txns.start(client, bs, tid)
    zombie.init()
    zombie.begin()
    zombie.send(topic, 0, "zombie-a")
    new = txns.start(client, bs, tid)
    new.init()  # bumps the epoch, aborting the zombie's transaction
    r = zombie.cmd("commit")
    assert r.get("error") in COMMIT_FENCED, r
    new.begin()
    new.send(topic, 0, "new-a")
    new.commit()

    # The zombie's next call after being fenced is a produce: refused (nothing stored),
    # and its transaction cannot commit.
    zombie2 = txns.start(client, bs, tid)
    zombie2.init()
    zombie2.begin()
    zombie2.send(topic, 0, "zombie-b")
    new2 = txns.start(client, bs, tid)
    new2.init()
    r = zombie2.cmd("send", topic, 0, "zombie-c", "zombie-c")
    assert r.get("error") in FENCED, r
    r = zombie2.cmd("commit")
    assert "error" in r, r
    new2.begin()
    new2.send(topic, 0, "new-b")
    new2.commit()
    plain_produce(bs, topic, 0, ["end"])

    got = read("confluent", bs, topic, 3, committed=True)
    assert [g.value.decode() for g in got] == ["new-a", "new-b", "end"]
    got = read("confluent", bs, topic, 5, committed=False)
    assert [g.value.decode() for g in got] == ["zombie-a", "new-a", "zombie-b", "new-b", "end"]


# ------------------------------------------------------------------ broker restarts


@pytest.mark.parametrize("how", ["clean", "kill9"])
def test_broker_restart_mid_transaction(restartable, topic, txns, how):
    """Three transactions on one partition across a broker restart: one left open by a
    producer that is killed (aborted once its timeout passes), one committed right before
    the restart, one whose producer survives the restart and then commits. read_committed
    consumers end up past all three, with exactly the committed records.

    Kafka 4.3.1 as a single combined KRaft node has a window after kill -9: until the
    controller fences the node's previous incarnation (broker.session.timeout.ms), the
    restarted transaction coordinator can drop the markers of a transaction completing
    then ("Couldn't find leader endpoint ... likely deleted already"), leaving it hanging.
    So after kill -9 the commit's markers are in the log before the crash, and the
    abandoned transaction's timeout (20 s) ends after the restarted broker serves."""
    b = restartable
    bs = b.bootstrap
    create_topic(bs, topic)
    plain_produce(bs, topic, 0, ["before"])
    gone_id, done_id, alive_id = new_txn_id("gone"), new_txn_id("done"), new_txn_id("alive")
    # Left open by a producer that goes away: aborted once its timeout passes.
    gone = txns.start("java", bs, gone_id,
                      transaction_timeout_ms=8000 if how == "clean" else 20000)
    # Open across the restart, its producer alive: commits afterwards.
    alive = txns.start("confluent", bs, alive_id, transaction_timeout_ms=120000)
    # Committed right before the restart.
    done = txns.start("kafka-python", bs, done_id)
    for p in (gone, alive, done):
        p.init()
        p.begin()
    gone.send(topic, 0, "gone-0")
    alive.send(topic, 0, "alive-0")
    gone.send(topic, 0, "gone-1")
    done.send(topic, 0, "done-0")
    done.send(topic, 0, "done-1")
    gone.kill9()
    done.commit()
    if how == "clean":
        b.restart()
    else:
        adm = txn_admin("kafka-python", bs)
        try:
            wait_state(adm, done_id, {"CompleteCommit"}, 30)
        finally:
            adm.close()
        b.kill9()
        b.start()

    alive.send(topic, 0, "alive-1")
    alive.commit()
    plain_produce(bs, topic, 0, ["after"])

    visible = ["before", "alive-0", "done-0", "done-1", "alive-1", "after"]
    for client in ("confluent", "java"):
        got = read(client, bs, topic, len(visible), committed=True, timeout=90)
        assert [g.value.decode() for g in got] == visible, client
    got = read("confluent", bs, topic, len(visible) + 2, committed=False)
    assert [g.value.decode() for g in got] == \
        ["before", "gone-0", "alive-0", "gone-1", "done-0", "done-1", "alive-1", "after"]

    adm = txn_admin("kafka-python", bs)
    try:
        assert wait_state(adm, gone_id, {"CompleteAbort"}, 60)["state"] == "CompleteAbort"
        assert wait_state(adm, done_id, {"CompleteCommit"}, 60)["state"] == "CompleteCommit"
        assert wait_state(adm, alive_id, {"CompleteCommit"}, 60)["state"] == "CompleteCommit"
    finally:
        adm.close()
    # Nothing hangs: the last stable offset is the log end.
    settled_ends(bs, topic, 1)


# ------------------------------------------------------------------ admin


@pytest.mark.parametrize("admin_client,producer", [("java", "confluent"),
                                                   ("kafka-python", "java")])
def test_describe_and_list_transactions(broker, topic, txns, admin_client, producer,
                                       transaction_version):
    bs = broker.bootstrap
    create_topic(bs, topic, partitions=2)
    adm = txn_admin(admin_client, bs)
    try:
        tid = new_txn_id("describe")
        p = txns.start(producer, bs, tid, transaction_timeout_ms=45000)
        p.init()
        d = adm.describe(tid)
        assert (d["state"], d["partitions"], d["timeout_ms"]) == ("Empty", set(), 45000), d
        pid, epoch = d["pid"], d["epoch"]
        assert pid >= 0 and epoch >= 0

        p.begin()
        _, first0 = p.send(topic, 0, "a")
        p.send(topic, 1, "b")
        p.send(topic, 0, "c")
        d = adm.describe(tid)
        assert (d["state"], d["pid"], d["epoch"]) == ("Ongoing", pid, epoch), d
        assert d["partitions"] == {(topic, 0), (topic, 1)}
        assert d["start_ms"] > 0
        assert adm.list().get(tid) == (pid, "Ongoing")
        assert adm.list(["Ongoing"]).get(tid) == (pid, "Ongoing")
        assert tid not in adm.list(["CompleteCommit"])
        # The partition leader's view of the producer (DescribeProducers).
        [st] = [x for x in adm.producers(topic, 0) if x["pid"] == pid]
        assert (st["epoch"], st["txn_start_offset"]) == (epoch, first0), st

        p.commit()
        d = wait_state(adm, tid, {"CompleteCommit"})
        # The Java client speaks transaction version 2 (KIP-890 part 2) when the cluster's
        # transaction.version is 2: the coordinator bumps the epoch as each transaction
        # ends. At version 1, and with librdkafka and kafka-python, the epoch stays.
        bumped = epoch + 1 if producer == "java" and transaction_version == 2 else epoch
        assert (d["pid"], d["epoch"], d["partitions"]) == (pid, bumped, set()), d
        assert adm.list().get(tid) == (pid, "CompleteCommit")
        assert tid not in adm.list(["Ongoing"])
        [st] = [x for x in adm.producers(topic, 0) if x["pid"] == pid]
        assert st["txn_start_offset"] == -1, st

        p.begin()
        p.send(topic, 1, "d")
        p.abort()
        d = wait_state(adm, tid, {"CompleteAbort"})
        assert (d["pid"], d["partitions"]) == (pid, set()), d

        assert adm.describe(new_txn_id("unknown"))["error"] in (
            "TransactionalIdNotFoundException", "TransactionalIdNotFoundError")
    finally:
        if hasattr(adm, "close"):
            adm.close()

