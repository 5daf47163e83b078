"""Fetch sessions (KIP-227): a full fetch opens a session, the next fetches carry only what
changed and are answered with only the partitions that have something new, a close drops
the session, and session errors answer the whole fetch. Pinned on the wire (Fetch v8) and
with the Java client, whose FetchSessionHandler checks every response against its session
(it logs "sent an invalid ... fetch response" when one names a partition it did not ask
for). Every case holds on Apache Kafka 4.3.1 too."""

from __future__ import annotations

import subprocess
import time

import kwire
from clients import Confluent, Msg, java_command
from helpers import create_topic

FETCH_SESSION_ID_NOT_FOUND = 70
INVALID_FETCH_SESSION_EPOCH = 71


def one(conn: kwire.Conn, topic: str, partition: int, value: bytes) -> None:
    batch = kwire.record_batch([kwire.Record(b"k", value)], int(time.time() * 1000))
    err, _ = conn.produce(topic, partition, batch, acks=1)
    assert err == kwire.NONE


def test_a_fetch_session_answers_only_what_changed(broker, topic):
    create_topic(broker.bootstrap, topic, partitions=2)
    with kwire.Conn.to(broker.bootstrap) as c:
        one(c, topic, 0, b"first")

        # A full fetch (epoch 0) opens a session and answers every partition it names.
        full = c.fetch_session(0, 0, [(topic, 0, 0), (topic, 1, 0)])
        assert full["error"] == kwire.NONE
        sid = full["session_id"]
        assert sid != 0, "a full fetch opens a session"
        assert set(full["partitions"]) == {(topic, 0), (topic, 1)}
        assert full["partitions"][(topic, 0)][2] > 0, "with the record"

        # The next fetch moves partition 0 past the record: nothing new anywhere.
        inc = c.fetch_session(sid, 1, [(topic, 0, 1)])
        assert (inc["error"], inc["session_id"], inc["partitions"]) == (kwire.NONE, sid, {})

        # A record on partition 1 (still read from 0, as the session remembers): only it.
        one(c, topic, 1, b"second")
        inc = c.fetch_session(sid, 2, [])
        assert inc["session_id"] == sid
        assert list(inc["partitions"]) == [(topic, 1)]
        assert inc["partitions"][(topic, 1)][:2] == (kwire.NONE, 1)

        # Session errors answer the whole fetch, and do not move the session on.
        bad = c.fetch_session(sid, 7, [])
        assert (bad["error"], bad["partitions"]) == (INVALID_FETCH_SESSION_EPOCH, {})
        other = sid + 1 if sid < 2**31 - 1 else 1
        unknown = c.fetch_session(other, 1, [])
        assert (unknown["error"], unknown["partitions"]) == (FETCH_SESSION_ID_NOT_FOUND, {})

        # Forgotten partitions leave the session: a new record there is not answered.
        inc = c.fetch_session(sid, 3, [(topic, 1, 1)], forgotten=[(topic, [0])])
        assert inc["error"] == kwire.NONE and inc["partitions"] == {}
        one(c, topic, 0, b"third")
        inc = c.fetch_session(sid, 4, [])
        assert inc["error"] == kwire.NONE and inc["partitions"] == {}

        # A close (epoch -1) drops the session and is answered without one.
        closed = c.fetch_session(sid, -1, [(topic, 0, 0)])
        assert (closed["error"], closed["session_id"]) == (kwire.NONE, 0)
        assert set(closed["partitions"]) == {(topic, 0)}
        gone = c.fetch_session(sid, 5, [])
        assert gone["error"] == FETCH_SESSION_ID_NOT_FOUND

        # Sessionless (id 0, epoch -1): every partition named, no session.
        plain = c.fetch_session(0, -1, [(topic, 0, 0), (topic, 1, 0)])
        assert (plain["error"], plain["session_id"]) == (kwire.NONE, 0)
        assert set(plain["partitions"]) == {(topic, 0), (topic, 1)}


def test_the_java_client_fetches_incrementally_and_finds_every_response_valid(broker, topic):
    """The Java consumer reads three rounds of records one batch per partition per fetch,
    so it fetches several times in one session; its FetchSessionHandler (at DEBUG) says
    what it made of every response."""
    create_topic(broker.bootstrap, topic, partitions=3)
    rounds, per_round = 3, 30
    for r in range(rounds):
        msgs = [Msg(f"k{i}".encode(), f"round{r}-{i}".encode()) for i in range(per_round)]
        assert all(d.error is None for d in Confluent().produce(broker.bootstrap, topic, msgs))
    cmd = java_command()
    cmd.insert(cmd.index("-jar"),
               "-Dorg.slf4j.simpleLogger.log.org.apache.kafka.clients.FetchSessionHandler=debug")
    cmd += ["consume", "--bootstrap", broker.bootstrap, "--topic", topic,
            "--count", str(rounds * per_round), "--timeout-ms", "60000",
            "--prop", "max.partition.fetch.bytes=1"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                         stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr[-3000:]
    assert len(res.stdout.splitlines()) == rounds * per_round
    log = res.stderr
    assert "created a new incremental fetch session" in log, log[-3000:]
    assert "sent an incremental fetch response" in log, log[-3000:]
    invalid = [line for line in log.splitlines() if "sent an invalid" in line]
    assert not invalid, "\n".join(invalid[:5])
