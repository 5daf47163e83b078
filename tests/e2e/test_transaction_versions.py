"""Transaction version 2 (KIP-890 part 2) and the feature that selects it, on both targets:

- Kafka's kafka-features.sh (FeatureCommand) describes `transaction.version` (supported 0-2,
  finalized 2 on a new cluster), downgrades it to 1 and upgrades it back; a level out of
  range, an unknown feature and a downgrade asked for as an upgrade are refused and change
  nothing;
- by hand (Produce v12, EndTxn v5): the leader adds the partition to the transaction, each
  EndTxn bumps the epoch and answers the producer id and epoch to go on with, the markers
  carry the new epoch so a late batch of the ended transaction is refused, the retry of an
  answer that was lost is recognised, a wrong or stale one refused;
- with the Java client at version 2 and at version 1: committed records and offsets are
  visible, aborted ones are not, and the producer's epoch moves per transaction at version
  2 only (DescribeTransactions, DescribeProducers).

The feature is cluster-wide: tests that lower it put it back, and run one at a time.
"""

from __future__ import annotations

import pytest

import kwire
import txnwire as tw
from clients import unique_group
from helpers import create_topic, wait_until
from txn import (TxnClients, feature_fields, kafka_features, list_offsets, new_txn_id, read,
                 set_transaction_version, transaction_version, txn_admin)


@pytest.fixture
def txns():
    t = TxnClients()
    yield t
    t.close_all()


@pytest.fixture
def version_restored(broker):
    """Puts transaction.version back to 2 after the test, whatever it did."""
    yield
    set_transaction_version(broker.bootstrap, 2)


def test_kafka_features_describes_and_sets_transaction_version(broker, version_restored):
    bs = broker.bootstrap
    res = kafka_features(bs, "describe")
    assert res.returncode == 0, res.stderr[-3000:]
    rows = [feature_fields(x) for x in res.stdout.splitlines()]
    [tv] = [r for r in rows if r.get("Feature") == "transaction.version"]
    assert (tv["SupportedMinVersion"], tv["SupportedMaxVersion"],
            tv["FinalizedVersionLevel"]) == ("0", "2", "2"), res.stdout

    # Refused, and nothing changes: out of range, unknown, a downgrade asked as an upgrade.
    for args in (["upgrade", "--feature", "transaction.version=3"],
                 ["upgrade", "--feature", "no.such.feature=1"],
                 ["upgrade", "--feature", "transaction.version=1"]):
        res = kafka_features(bs, *args)
        assert res.returncode != 0 or "failed" in res.stdout.lower(), (args, res.stdout)
        assert transaction_version(bs) == 2, args

    res = kafka_features(bs, "downgrade", "--feature", "transaction.version=1", "--dry-run")
    assert res.returncode == 0, res.stdout + res.stderr[-3000:]
    assert transaction_version(bs) == 2, "a dry run changes nothing"
    set_transaction_version(bs, 1)
    set_transaction_version(bs, 2)


def wait_settled(bs: str, topic: str) -> None:
    """Waits until the partition's markers are written (last stable offset = log end)."""
    def same():
        end = list_offsets(bs, topic, 1, committed=False)
        return list_offsets(bs, topic, 1, committed=True) == end
    wait_until(same, 30, "the transaction's markers")


def end_txn(c: kwire.Conn, tid: str, pid: int, epoch: int, commit: bool,
            timeout: float = 30) -> tuple[int, int, int]:
    """EndTxn v5, retried while the previous transaction's markers are being written."""
    out = {}

    def answered():
        out["r"] = tw.end_txn_v5(c, tid, pid, epoch, commit)
        return out["r"][0] != tw.CONCURRENT_TRANSACTIONS
    wait_until(answered, timeout, "EndTxn to stop answering CONCURRENT_TRANSACTIONS")
    return out["r"]


def produce(c: kwire.Conn, tid: str, topic: str, value: bytes, pid: int, epoch: int,
            seq: int) -> int:
    data = tw.batch([value], pid, epoch, seq, 1_700_000_000_000, transactional=True)
    return tw.produce_v12(c, topic, 0, data, tid)[0]


def test_each_end_txn_bumps_the_epoch_and_fences_the_old_one(broker, topic):
    bs = broker.bootstrap
    create_topic(bs, topic)
    tid = new_txn_id("tv2")
    with kwire.Conn.to(bs, timeout=30) as c:
        tw.find_txn_coordinator(c, tid)
        err, pid, e = tw.init_producer_id_retry(c, tid)
        assert err == 0
        # The partition joins the transaction through the leader (no AddPartitionsToTxn).
        assert produce(c, tid, topic, b"a", pid, e, 0) == 0
        assert tw.end_txn_v5(c, tid, pid, e, True) == (0, pid, e + 1)
        wait_settled(bs, topic)
        # The commit marker carries the new epoch: a late batch of the old one is refused.
        assert produce(c, tid, topic, b"late", pid, e, 1) == tw.INVALID_PRODUCER_EPOCH
        # The next transaction runs at the new epoch, its sequence from 0.
        assert produce(c, tid, topic, b"b", pid, e + 1, 0) == 0
        assert tw.end_txn_v5(c, tid, pid, e + 1, False) == (0, pid, e + 2)
        # A retry of that EndTxn (its answer lost) gets the same answer; the other outcome
        # with the old epoch, committing nothing and an epoch two back are refused.
        assert end_txn(c, tid, pid, e + 1, False) == (0, pid, e + 2)
        assert tw.end_txn_v5(c, tid, pid, e + 1, True)[0] == tw.INVALID_TXN_STATE
        assert tw.end_txn_v5(c, tid, pid, e + 2, True)[0] == tw.INVALID_TXN_STATE
        assert tw.end_txn_v5(c, tid, pid, e, False)[0] == tw.PRODUCER_FENCED
        # Aborting with nothing open still bumps.
        assert tw.end_txn_v5(c, tid, pid, e + 2, False) == (0, pid, e + 3)
    wait_settled(bs, topic)
    got = read("confluent", bs, topic, 1, committed=True)
    assert [g.value for g in got] == [b"a"]
    got = read("confluent", bs, topic, 2, committed=False)
    assert [g.value for g in got] == [b"a", b"b"]


@pytest.mark.parametrize("version", [2, 1])
def test_java_transactions_at_each_version(broker, topic, txns, version_restored, version):
    bs = broker.bootstrap
    set_transaction_version(bs, version)
    create_topic(bs, topic)
    tid = new_txn_id(f"tv{version}")
    group = unique_group()
    p = txns.start("java", bs, tid)
    p.init()
    start = txn_admin("java", bs).describe(tid)["epoch"]
    for i in range(3):
        p.begin()
        p.send(topic, 0, f"c{i}")
        p.send_offsets(group, {(topic, 0): i + 1})
        p.commit()
    p.begin()
    p.send(topic, 0, "aborted")
    p.abort()
    p.begin()
    p.send(topic, 0, "last")
    p.commit()

    got = read("java", bs, topic, 4, committed=True)
    assert [g.value.decode() for g in got] == ["c0", "c1", "c2", "last"]
    got = read("java", bs, topic, 5, committed=False)
    assert [g.value.decode() for g in got] == ["c0", "c1", "c2", "aborted", "last"]
    # Version 2 bumps the epoch at each of the five EndTxn; version 1 keeps it.
    bumps = 5 if version == 2 else 0
    adm = txn_admin("java", bs)
    assert adm.describe(tid)["epoch"] == start + bumps
    [producer] = adm.producers(topic, 0)
    assert producer["epoch"] == start + bumps
    # The offsets of the committed transactions are the group's.
    from confluent_kafka import ConsumerGroupTopicPartitions
    from confluent_kafka.admin import AdminClient
    a = AdminClient({"bootstrap.servers": bs})
    fut = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group]
    [tp] = fut.result(30).topic_partitions
    assert (tp.topic, tp.partition, tp.offset) == (topic, 0, 3)
    p.close()
