"""Idempotent producers (KIP-98, KIP-360): retries never duplicate or reorder.

Clients produce keyed, numbered records with acks=all and idempotence on (the Java client
and kafka-python by default; librdkafka needs enable.idempotence=true) while

- a fault proxy (tests/e2e/proxy.py) cuts connections after the broker has answered a
  Produce and before the client sees the answer, so the client resends batches the broker
  already stored, and
- the broker is killed with kill -9 mid-flight and restarted on the same data,

then every record is read back: each acknowledged record is stored exactly once, at the
offset its acknowledgement named, in send order per partition, and the partitions hold
nothing else.

The raw-protocol test pins the broker's sequence checks as Kafka 4.3.1 answers them: a
retried batch gets its first answer (same base offset), a gap or an overlap is
OUT_OF_ORDER_SEQUENCE_NUMBER, an older epoch is INVALID_PRODUCER_EPOCH, a new epoch must
start at sequence 0, and a producer id the partition has never seen may start anywhere.
"""

from __future__ import annotations

import base64
import json
import subprocess
import tempfile
import time

import pytest

import kwire
import txnwire as tw
from brokers import BrokerSet
from clients import CONFLUENT, java_command
from helpers import create_topic, now_ms, wait_until
from proxy import FaultProxy

PARTITIONS = 3
CLIENTS = ["confluent", "java", "kafka-python"]


@pytest.fixture(scope="module")
def proxied(target, tmp_path_factory):
    """One broker for the module that advertises a fault proxy's address: clients that
    bootstrap from either end up talking through the proxy."""
    import os

    if os.environ.get("WEIR_TEST_BOOTSTRAP"):
        pytest.skip("needs its own broker; WEIR_TEST_BOOTSTRAP points at an external one")
    proxy = FaultProxy()
    brokers = BrokerSet(target, tmp_path_factory)
    try:
        b = brokers.make(name="idempotence", advertise=proxy.port)
        proxy.upstream = b.bootstrap
        yield b, proxy
    finally:
        try:
            brokers.close_all()  # first: a broker shuts down faster with its address up
        finally:
            proxy.close()


@pytest.fixture
def pbroker(proxied):
    """The module's broker, started again if a test left it down."""
    b, _ = proxied
    if not b.alive():
        b.start()
    return b


@pytest.fixture
def proxy(proxied):
    """The module's fault proxy, with no fault armed."""
    _, p = proxied
    p.disarm()
    yield p
    p.disarm()


def key_of(i: int) -> str:
    return f"k{i % 40}"


# ------------------------------------------------------------------ producers


class ConfluentLoad:
    """librdkafka, in process."""

    def __init__(self, bootstrap: str, direct: str, topic: str):
        from confluent_kafka import Producer

        self.topic = topic

        self.p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                           "acks": "all", "linger.ms": 5, "message.timeout.ms": 150000,
                           "retry.backoff.ms": 100, "client.id": "weir-e2e-idempotence"})
        self.results: dict[int, tuple] = {}

    def send(self, lo: int, hi: int) -> None:
        for i in range(lo, hi):
            def done(err, m, i=i):
                self.results[i] = ((err.name(),) if err is not None
                                   else (m.partition(), m.offset()))
            while True:
                try:
                    self.p.produce(self.topic, key=key_of(i).encode(),
                                   value=str(i).encode(), on_delivery=done)
                    break
                except BufferError:
                    self.p.poll(0.05)
        self.p.poll(0)

    def poll(self) -> None:
        self.p.poll(0.05)

    def acked(self) -> int:
        self.p.poll(0)
        return sum(1 for r in self.results.values() if len(r) == 2)

    def finish(self, n: int, timeout: float) -> dict[int, tuple]:
        left = self.p.flush(timeout)
        assert left == 0, f"{left} records undelivered after {timeout}s"
        return dict(self.results)


class KafkaPythonLoad:
    """kafka-python, in process (idempotent by default)."""

    def __init__(self, bootstrap: str, direct: str, topic: str):
        from kafka import KafkaProducer

        self.topic = topic

        self.p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                               delivery_timeout_ms=150000, request_timeout_ms=15000,
                               client_id="weir-e2e-idempotence")
        self.futs: dict[int, object] = {}

    def send(self, lo: int, hi: int) -> None:
        for i in range(lo, hi):
            self.futs[i] = self.p.send(self.topic, key=key_of(i).encode(),
                                       value=str(i).encode())

    def poll(self) -> None:
        time.sleep(0.05)  # kafka-python's sender is a background thread

    def acked(self) -> int:
        return sum(1 for f in list(self.futs.values()) if f.is_done and f.succeeded())

    def finish(self, n: int, timeout: float) -> dict[int, tuple]:
        self.p.flush(timeout=timeout)
        out = {}
        for i, f in self.futs.items():
            try:
                md = f.get(timeout=5)
                out[i] = (md.partition, md.offset)
            except Exception as e:  # noqa: BLE001 - the error class is the outcome
                out[i] = (type(e).__name__,)
        self.p.close(timeout=10)
        return out


class JavaLoad:
    """`KafkaCli produce` fed through stdin as the test goes, so faults land mid-stream.
    It reports per record only at the end; progress is read from the broker instead."""

    def __init__(self, bootstrap: str, direct: str, topic: str):
        self.bootstrap = bootstrap
        self.direct = direct
        self.topic = topic
        self.proc: subprocess.Popen | None = None

    def _start(self) -> None:
        props = {"acks": "all", "linger.ms": "5", "delivery.timeout.ms": "150000",
                 "request.timeout.ms": "15000", "retry.backoff.ms": "100"}
        cmd = java_command() + ["produce", "--bootstrap", self.bootstrap, "--topic", self.topic]
        for k, v in props.items():
            cmd += ["--prop", f"{k}={v}"]
        # stderr (the client's log, long with reconnects) to a file: a pipe nobody reads
        # until the end could fill up and stall the producer.
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err, text=True, start_new_session=True)

    def send(self, lo: int, hi: int) -> None:
        if self.proc is None:
            self._start()
        b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
        lines = "".join(f"{b64(key_of(i))}\t{b64(str(i))}\t-\t-\n" for i in range(lo, hi))
        self.proc.stdin.write(lines)
        self.proc.stdin.flush()

    def poll(self) -> None:
        time.sleep(0.05)

    def acked(self) -> int:
        # Stored records (the broker's log end), as the Java tool reports nothing until done.
        return sum(log_ends(self.direct, self.topic).values())

    def finish(self, n: int, timeout: float) -> dict[int, tuple]:
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("the Java producer did not finish in time") from None
        self.err.seek(0)
        assert self.proc.returncode in (0, 3), self.err.read()[-3000:].decode(errors="replace")
        res = {}
        for i, line in enumerate(out.splitlines()):
            j = json.loads(line)
            res[i] = (j["error"],) if "error" in j else (j["partition"], j["offset"])
        assert len(res) == n, f"java reported {len(res)} of {n} records"
        return res

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        if self.proc is not None:
            self.err.close()


def make_load(client: str, bootstrap: str, direct: str, topic: str):
    cls = {"confluent": ConfluentLoad, "kafka-python": KafkaPythonLoad, "java": JavaLoad}[client]
    return cls(bootstrap, direct, topic)


def log_ends(bootstrap: str, topic: str) -> dict[int, int]:
    out = {}
    with kwire.Conn.to(bootstrap) as c:
        for p in range(PARTITIONS):
            err, off = c.list_offsets(topic, p, -1)
            assert err == kwire.NONE, err
            out[p] = off
    return out


def check_exactly_once(bootstrap: str, topic: str, n: int, results: dict[int, tuple]) -> None:
    """Every record 0..n-1 was acknowledged; the topic holds each exactly once, at the
    acknowledged partition and offset, in send order per partition, and nothing else."""
    failed = {i: r for i, r in results.items() if len(r) != 2}
    assert not failed, f"{len(failed)} records failed, e.g. {list(failed.items())[:3]}"
    assert sorted(results) == list(range(n))
    ends = log_ends(bootstrap, topic)
    assert sum(ends.values()) == n, \
        f"the partitions hold {sum(ends.values())} records for {n} sent: {ends}"
    got = CONFLUENT.consume(bootstrap, topic, n, timeout=120)
    stored = {(g.partition, g.offset): int(g.value) for g in got}
    assert len(stored) == n
    acked = {(p, o): i for i, (p, o) in results.items()}
    assert stored == acked, "stored records differ from the acknowledgements: " + str(
        [(k, stored.get(k), acked.get(k)) for k in sorted(set(stored) | set(acked))
         if stored.get(k) != acked.get(k)][:5])
    for p in range(PARTITIONS):
        seqs = [stored[(q, o)] for (q, o) in sorted(stored) if q == p]
        assert seqs == sorted(seqs), f"partition {p}: records out of send order"
        # Keys pin partitions, so each partition holds exactly its keys' records.
        assert {key_of(i) for i in seqs} == {key_of(i) for i, r in results.items() if r[0] == p}


# ------------------------------------------------------------------ tests


@pytest.mark.parametrize("client", CLIENTS)
def test_cut_connections_mid_flight_no_duplicates(pbroker, proxy, topic, client):
    """The proxy cuts a connection right after the broker stored a Produce and before the
    client sees the answer, eight times during a 6,000-record run: the client resends,
    the broker recognises the batches and nothing is stored twice."""
    b = pbroker
    create_topic(b.bootstrap, topic, partitions=PARTITIONS)
    n, chunk, faults = 6000, 500, 8
    load = make_load(client, proxy.address, b.bootstrap, topic)
    try:
        before = proxy.cuts
        for k, lo in enumerate(range(0, n, chunk)):
            if k < faults:
                proxy.arm(1)
            load.send(lo, lo + chunk)
            if k < faults:
                deadline = time.monotonic() + 60
                while proxy.cuts < before + k + 1:
                    assert time.monotonic() < deadline, \
                        f"fault {k + 1} not injected within 60s (cuts {proxy.cuts - before})"
                    load.poll()
        results = load.finish(n, timeout=150)
    finally:
        if isinstance(load, JavaLoad):
            load.kill()
    assert proxy.cuts - before == faults
    check_exactly_once(b.bootstrap, topic, n, results)


def test_cut_connections_without_idempotence_duplicate(pbroker, proxy, topic):
    """The control for the test above: the same faults with idempotence off make the
    client resend batches the broker already stored, and the broker (rightly) stores them
    again. So the proxy's cuts do reach stored-but-unacknowledged batches."""
    from confluent_kafka import Producer

    b = pbroker
    create_topic(b.bootstrap, topic, partitions=PARTITIONS)
    p = Producer({"bootstrap.servers": proxy.address, "enable.idempotence": False,
                  "acks": "all", "linger.ms": 5, "message.timeout.ms": 60000,
                  "retries": 1000, "client.id": "weir-e2e-not-idempotent"})
    errors = []
    n, chunk, faults = 2000, 500, 4
    before = proxy.cuts
    for k, lo in enumerate(range(0, n, chunk)):
        proxy.arm(1)
        for i in range(lo, lo + chunk):
            p.produce(topic, key=key_of(i).encode(), value=str(i).encode(),
                      on_delivery=lambda err, _m: err and errors.append(err))
        wait_until(lambda k=k: (p.poll(0.05), proxy.cuts >= before + k + 1)[1], 60,
                   f"fault {k + 1} to be injected")
    assert p.flush(90) == 0 and not errors, errors[:3]
    assert proxy.cuts - before == faults
    stored = sum(log_ends(b.bootstrap, topic).values())
    assert stored > n, f"{stored} records stored for {n} sent: the cuts caused no resend"


@pytest.mark.parametrize("client", CLIENTS)
def test_broker_kill9_mid_flight_no_duplicates(pbroker, topic, client):
    """kill -9 of the broker while an idempotent producer has batches in flight, restart
    on the same data: the producer's retries reach the restarted broker, which still knows
    the producer's sequences (from its log), so nothing acknowledged is lost or doubled."""
    b = pbroker
    if not b.can_restart:
        pytest.skip("cannot restart this broker")
    create_topic(b.bootstrap, topic, partitions=PARTITIONS)
    n, chunk = 12000, 500
    load = make_load(client, b.bootstrap, b.bootstrap, topic)
    try:
        sent = 0
        # Keep sending until some records are stored, then kill the broker with more in
        # flight and queued.
        while sent < n // 2:
            load.send(sent, sent + chunk)
            sent += chunk
        wait_until(lambda: (load.poll(), load.acked() >= 2000)[1], 60,
                   "2,000 records stored before the crash")
        b.kill9()
        load.send(sent, sent + chunk)  # queued while the broker is down
        sent += chunk
        b.start()
        while sent < n:
            load.send(sent, sent + chunk)
            sent += chunk
        results = load.finish(n, timeout=170)
    finally:
        if isinstance(load, JavaLoad):
            load.kill()
    check_exactly_once(b.bootstrap, topic, n, results)


def test_sequence_numbers_raw(broker, topic):
    """The broker's per-partition sequence checks, request by request, as Kafka 4.3.1
    answers them."""
    create_topic(broker.bootstrap, topic)
    ts = now_ms()
    with kwire.Conn.to(broker.bootstrap) as c:
        err, pid, epoch = tw.init_producer_id_retry(c)
        assert err == kwire.NONE and pid >= 0 and epoch == 0, (err, pid, epoch)

        def send(values, seq, ep=epoch, producer=pid):
            data = tw.batch([v.encode() for v in values], producer, ep, seq, ts)
            return tw.produce(c, topic, 0, data)

        assert send(["a", "b", "c"], 0) == (kwire.NONE, 0)
        assert send(["d", "e"], 3) == (kwire.NONE, 3)
        # A retry of either of the last batches: acknowledged again with its first offsets,
        # nothing appended.
        assert send(["d", "e"], 3) == (kwire.NONE, 3)
        assert send(["a", "b", "c"], 0) == (kwire.NONE, 0)
        # A gap, and a batch overlapping what is stored.
        assert send(["x"], 10)[0] == tw.OUT_OF_ORDER_SEQUENCE_NUMBER
        assert send(["e", "f"], 4)[0] == tw.OUT_OF_ORDER_SEQUENCE_NUMBER
        assert send(["f"], 5) == (kwire.NONE, 5)
        for i in range(6):
            assert send([f"g{i}"], 6 + i) == (kwire.NONE, 6 + i)
        # The broker remembers the last five batches only: older retries are out of order.
        assert send(["a", "b", "c"], 0)[0] == tw.OUT_OF_ORDER_SEQUENCE_NUMBER
        assert send(["f"], 5)[0] == tw.OUT_OF_ORDER_SEQUENCE_NUMBER
        # A new epoch (an idempotent producer bumps its own, KIP-360) starts at sequence 0.
        assert send(["n"], 3, epoch + 1)[0] == tw.OUT_OF_ORDER_SEQUENCE_NUMBER
        assert send(["n"], 0, epoch + 1) == (kwire.NONE, 12)
        # Once the partition has seen the new epoch, the old one is refused.
        assert send(["o"], 12, epoch)[0] == tw.INVALID_PRODUCER_EPOCH
        assert send(["o"], 0, epoch)[0] == tw.INVALID_PRODUCER_EPOCH
        # A producer id new to the partition may start at any sequence, then must go on
        # from there.
        err, pid2, epoch2 = tw.init_producer_id_retry(c)
        assert err == kwire.NONE and pid2 != pid
        assert send(["u"], 77, epoch2, pid2) == (kwire.NONE, 13)
        assert send(["u2"], 78, epoch2, pid2) == (kwire.NONE, 14)
        assert send(["u3"], 80, epoch2, pid2)[0] == tw.OUT_OF_ORDER_SEQUENCE_NUMBER

        # The log holds each accepted batch once, with its producer fields.
        _, batches = tw.fetch_all(c, topic, 0, tw.READ_UNCOMMITTED)
    stored = [(x.base_offset, x.producer_id, x.producer_epoch, x.base_sequence,
               [r.value for r in x.records]) for x in batches]
    assert stored == [
        (0, pid, epoch, 0, [b"a", b"b", b"c"]),
        (3, pid, epoch, 3, [b"d", b"e"]),
        (5, pid, epoch, 5, [b"f"]),
        *[(6 + i, pid, epoch, 6 + i, [f"g{i}".encode()]) for i in range(6)],
        (12, pid, epoch + 1, 0, [b"n"]),
        (13, pid2, epoch2, 77, [b"u"]),
        (14, pid2, epoch2, 78, [b"u2"]),
    ]
