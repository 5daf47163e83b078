"""Power loss: every broker's data directory (Kafka: log.dirs, which also holds the KRaft
metadata log) sits on its own lazyfs mount (lazyfs.py), which forgets every write that was
not fsynced when it "loses power". Under an idempotent acks=all producer, a three-node
cluster loses power (a) on every node at once, (b) on the followers and then on the leader,
(c) on every node at once, the old leader coming back last; a single node loses power right
after a topic's creation and first records. After each, the nodes come back, the cluster
heals (every broker registered, every partition led with a full ISR), and a checker reads
every partition from the start: every acknowledged record must be at its acknowledged
offset, exactly once.

Each scenario runs two topics side by side: one with default settings and one with
`flush.messages=1` (fsync every append before it counts). Apache Kafka 4.3.1 with default
settings acknowledges records that are only in the page cache, and loses them: its default
cases are expected failures whose reason records what it lost; its `flush.messages=1` cases
must pass. Weir must pass both.
"""

from __future__ import annotations

import collections
import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import kwire
from brokers import REPO, KafkaBroker, WeirBroker, free_port
from cluster import (HEARTBEAT_MS, LAG_MS, SESSION_MS, converged, kafka_nodes, make_nodes, read_all,
                     start_voters, state, wait_brokers)
from clients import Confluent, Msg
from helpers import create_topic, wait_partitions, wait_until
from lazyfs import LazyFs, require_fuse

NODES = (1, 2, 3)
PARTITIONS = 3
RATE = 500  # records a second over all of a scenario's topics
BEFORE = 600  # records acknowledged per topic before the power goes
HEAL_S = 120  # deadline for the cluster to heal after a power loss
VARIANTS = {"default": {}, "flush1": {"flush.messages": "1"}}
SCENARIOS = ("all-at-once", "followers-then-leader", "old-leader-last")
# Broker log lines worth reporting: a replica dropping or truncating what it had.
NOTABLE = ("removing it", "divergent", "below the log end", "truncat", "corrupt")

pytestmark = pytest.mark.timeout(300)


def backing_of(data_dir: Path) -> Path:
    return data_dir.with_name(data_dir.name + ".backing")


# ------------------------------------------------------------------ load and checks


class Load:
    """An idempotent acks=all producer (confluent-kafka) paced to `rate` records a second
    over `partitions` partitions of `topic`, recording every acknowledged
    (partition, offset, value)."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, rate: float):
        self.bootstrap, self.topic, self.partitions, self.rate = bootstrap, topic, partitions, rate
        self.lock = threading.Lock()
        self.acked: dict[int, list[tuple[int, bytes]]] = {}
        self.errors: collections.Counter = collections.Counter()
        self.fatal: str | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"load-{topic}", daemon=True)

    def start(self) -> Load:
        self.thread.start()
        return self

    def count(self) -> int:
        with self.lock:
            return sum(len(v) for v in self.acked.values())

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(150)
        assert not self.thread.is_alive(), f"the producer of {self.topic} did not stop"

    def _run(self, seconds: float = 280, limit: int = 300_000) -> None:
        from confluent_kafka import KafkaException, Producer

        p = Producer({"bootstrap.servers": self.bootstrap, "acks": "all",
                      "enable.idempotence": True, "linger.ms": 5,
                      "message.timeout.ms": 90_000, "reconnect.backoff.max.ms": 1000,
                      "client.id": "weir-e2e-powerloss"})

        def done(err, m):
            with self.lock:
                if err is None:
                    self.acked.setdefault(m.partition(), []).append((m.offset(), m.value()))
                else:
                    self.errors[err.name()] += 1

        start = time.monotonic()
        i = 0
        try:
            while not self.stop.is_set() and i < limit and time.monotonic() - start < seconds:
                ahead = i / self.rate - (time.monotonic() - start)
                if ahead > 0:
                    p.poll(min(ahead, 0.05))
                    continue
                try:
                    p.produce(self.topic, value=f"{self.topic}/{i:08d}".encode(),
                              partition=i % self.partitions, on_delivery=done)
                    i += 1
                except BufferError:
                    p.poll(0.05)
                p.poll(0)
        except KafkaException as e:  # a fatal producer error: nothing more is acknowledged
            self.fatal = str(e)
        # Every record still in flight is resolved (acknowledged or failed) before the
        # checker reads; what is left at the deadline is purged, i.e. failed.
        if p.flush(60):
            p.purge()
            p.flush(10)


@dataclass
class Outcome:
    acked: int
    lost: list = field(default_factory=list)  # (partition, offset, value) nowhere in the log
    moved: list = field(default_factory=list)  # in the log, not at the acknowledged offset
    twice: list = field(default_factory=list)  # in the log more than once
    ends: dict = field(default_factory=dict)  # partition -> log end after the heal

    def bad(self) -> bool:
        return bool(self.lost or self.moved or self.twice)

    def summary(self) -> str:
        s = (f"{len(self.lost)} of {self.acked} acknowledged records lost, {len(self.moved)} at "
             f"another offset, {len(self.twice)} twice (log ends {self.ends})")
        for name, xs in (("lost", self.lost), ("moved", self.moved), ("twice", self.twice)):
            if xs:
                s += f"; first {name}: {xs[:3]}"
        return s


def check(bootstrap: str, topic: str, partitions: int, load: Load) -> Outcome:
    """Reads every partition of `topic` from the start and judges each acknowledged record:
    present at its acknowledged offset, exactly once (values are unique)."""
    log = read_all(bootstrap, topic, partitions, timeout=120)
    count = collections.Counter(v for recs in log.values() for _, v in recs)
    with load.lock:
        acked = {p: list(v) for p, v in load.acked.items()}
    out = Outcome(acked=sum(len(v) for v in acked.values()),
                  ends={p: (recs[-1][0] + 1 if recs else 0) for p, recs in log.items()})
    for p, recs in sorted(acked.items()):
        at = dict(log[p])
        for offset, value in recs:
            if count[value] == 0:
                out.lost.append((p, offset, value))
            elif at.get(offset) != value:
                out.moved.append((p, offset, value))
            if count[value] > 1:
                out.twice.append((p, offset, value))
    return out


def notable_lines(path: Path, since: int) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(since)
            text = f.read().decode(errors="replace")
    except OSError:
        return []
    return [line.strip() for line in text.splitlines()
            if any(k in line.lower() for k in NOTABLE)]


def log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def judge(target: str, variant: str, what: str, out: Outcome, notes: list[str]) -> None:
    if not out.bad():
        return
    msg = f"{what}: {out.summary()}"
    if notes:
        msg += "\n" + "\n".join(notes[:30])
    if target == "kafka" and variant == "default":
        # Kafka acknowledges what only its page cache holds (flush.messages defaults to
        # Long.MAX_VALUE): the loss is Kafka's documented behaviour, recorded here.
        pytest.xfail(f"Kafka 4.3.1 with default flush settings, {what}: {out.summary()}")
    pytest.fail(msg, pytrace=False)


# ------------------------------------------------------------------ the cluster


class Rig:
    """Three nodes of the target, each on its own lazyfs mount; runs each scenario once
    (both variants' topics side by side) and keeps its outcome for the tests."""

    def __init__(self, target: str, nodes: dict, fss: dict[int, LazyFs]):
        self.target, self.nodes, self.fss = target, nodes, fss
        self.results: dict[str, object] = {}

    @property
    def bootstrap(self) -> str:
        return ",".join(b.bootstrap for b in self.nodes.values())

    def result(self, scenario: str):
        if scenario not in self.results:
            try:
                self.results[scenario] = self._run(scenario)
            except BaseException as e:  # noqa: BLE001 - the other variant reports it too
                self.results[scenario] = e
                raise
        r = self.results[scenario]
        if isinstance(r, BaseException):
            raise r
        return r

    # power

    def power_loss(self, which) -> None:
        """SIGKILL the brokers, then their file systems: what they had not fsynced is gone."""
        for n in which:
            if self.nodes[n].alive():
                os.kill(self.nodes[n].pid(), signal.SIGKILL)
        for n in which:
            self.nodes[n].kill9()
        for n in which:
            self.fss[n].crash()

    def power_on(self, which) -> None:
        for n in which:
            self.fss[n].mount()
            self.nodes[n].spawn()
        for n in which:
            self.nodes[n].wait_ready()

    # the scenarios

    def _create(self, topic: str, leader: int, config: dict[str, str]) -> None:
        """RF 3, min.insync.replicas 2, every partition led by `leader`."""
        from confluent_kafka.admin import AdminClient, NewTopic

        rest = [n for n in NODES if n != leader]
        assignment = [[leader, *(rest if p % 2 == 0 else rest[::-1])] for p in range(PARTITIONS)]
        new = NewTopic(topic, num_partitions=PARTITIONS, replica_assignment=assignment,
                       config={"min.insync.replicas": "2", **config})
        a = AdminClient({"bootstrap.servers": self.bootstrap})
        a.create_topics([new], operation_timeout=30, request_timeout=30)[topic].result(60)
        wait_until(lambda: converged(self.nodes, topic)
                   and all(s[0] == leader for s in state(self.nodes, topic).values()),
                   60, f"{topic} led by node {leader} with full ISRs")

    def _unacknowledged(self, leader: int, topics) -> bool:
        """True when an acks=all probe record to partition 0 of each topic (one second's
        timeout) comes back with an error from `leader`."""
        batch = kwire.record_batch([kwire.Record(b"probe", b"probe")], int(time.time() * 1000))
        try:
            with kwire.Conn.to(self.nodes[leader].bootstrap) as c:
                return all(c.produce(t, 0, batch, acks=-1, timeout_ms=1000)[0] != 0
                           for t in topics)
        except OSError:
            return False

    def _heal(self, topics: list[str], notes: list[str]) -> None:
        for b in self.nodes.values():
            wait_brokers(b, set(NODES), timeout=HEAL_S)
        for t in topics:
            try:
                wait_until(lambda t=t: converged(self.nodes, t), HEAL_S,
                           f"{t}: every partition led with a full ISR")
            except AssertionError as e:
                raise AssertionError(f"{e}\n" + "\n".join(notes[:30])) from None

    def _run(self, scenario: str) -> dict:
        leader = {"all-at-once": 1, "followers-then-leader": 2, "old-leader-last": 3}[scenario]
        rest = [n for n in NODES if n != leader]
        tag = uuid.uuid4().hex[:6]
        topics = {v: f"power-{scenario}-{v}-{tag}" for v in VARIANTS}
        for v, t in topics.items():
            self._create(t, leader, VARIANTS[v])
        marks = {n: log_size(b.log_path) for n, b in self.nodes.items()}
        loads = {v: Load(self.bootstrap, t, PARTITIONS, RATE / len(topics)).start()
                 for v, t in topics.items()}
        steps: list[str] = []
        try:
            wait_until(lambda: all(ld.count() >= BEFORE for ld in loads.values()), 60,
                       f"{BEFORE} acknowledged records per topic")
            if scenario == "all-at-once":
                self.power_loss(NODES)
                self.power_on(NODES)
            elif scenario == "followers-then-leader":
                self.power_loss(rest)
                # The followers were the controller quorum's majority too, so no ISR can
                # shrink: the leader goes on taking writes it can no longer acknowledge.
                # Once it answers a probe with an error, it holds records no follower has.
                wait_until(lambda: self._unacknowledged(leader, topics.values()), 60,
                           f"node {leader} to stop acknowledging acks=all writes")
                steps.append(f"acknowledged when the leader lost power: "
                             f"{ {v: ld.count() for v, ld in loads.items()} }")
                self.power_loss([leader])
                self.power_on(NODES)
            else:  # old-leader-last
                self.power_loss(NODES)
                self.power_on(rest)
                for n in rest:
                    wait_brokers(self.nodes[n], set(rest), timeout=HEAL_S)
                up = {n: self.nodes[n] for n in rest}
                # Weir: back from an unclean shutdown, neither may lead or count as in sync
                # before it has caught up with the old leader, which may hold acknowledged
                # records they lack (KIP-966's idea): no leader, the old leader alone in the
                # ISR. Kafka 4.3.1 elects one of them once the old leader is fenced (leader
                # 1, ISR [1, 2] here): recorded, not asserted.
                def eligible_elsewhere():
                    return [(t, s) for t in topics.values() for s in state(up, t).values()
                            if s[0] in rest or set(s[2]) & set(rest)]

                wait_until(lambda: not any(s[0] == leader for t in topics.values()
                                           for s in state(up, t).values()), HEAL_S,
                           f"node {leader} to be fenced")
                if self.target == "weir":
                    assert eligible_elsewhere() == [], \
                        "a node back from an unclean shutdown leads or is in sync too early"
                else:
                    steps.append(f"with node {leader} fenced: "
                                 f"{[state(up, t) for t in topics.values()]}")
                self.power_on([leader])
            self._heal(list(topics.values()), steps)
            # Writes are acknowledged again (not required: a producer may have failed).
            at = {v: ld.count() for v, ld in loads.items()}
            try:
                wait_until(lambda: all(ld.count() >= at[v] + 200 for v, ld in loads.items()), 45,
                           "acknowledgements after the heal")
            except AssertionError:
                steps.append(f"no new acknowledgements after the heal: {at}, "
                             f"errors { {v: dict(ld.errors) for v, ld in loads.items()} }, "
                             f"fatal { {v: ld.fatal for v, ld in loads.items()} }")
        finally:
            for ld in loads.values():
                ld.finish()
        notes = list(steps)
        for n, b in self.nodes.items():
            lines = notable_lines(b.log_path, marks[n])
            notes += [f"node {n}: {line}" for line in lines[:8]]
            if len(lines) > 8:
                notes.append(f"node {n}: ... and {len(lines) - 8} more such lines")
        outcomes = {v: check(self.bootstrap, t, PARTITIONS, loads[v]) for v, t in topics.items()}
        for v, o in outcomes.items():
            print(f"[{scenario} {v}] {o.summary()}; producer errors {dict(loads[v].errors)}")
        for line in notes:
            print(f"[{scenario}] {line}")
        return {"outcomes": outcomes, "notes": notes}


@pytest.fixture(scope="module")
def rig(target, tmp_path_factory):
    require_fuse()
    if os.environ.get("WEIR_TEST_BOOTSTRAP"):
        pytest.skip("needs brokers it starts itself")
    tmp = tmp_path_factory.mktemp("powerloss")
    if target == "kafka":
        nodes = kafka_nodes(tmp)
    else:
        nodes = make_nodes(tmp, NODES, NODES,
                           ["--broker-session-timeout-ms", str(SESSION_MS),
                            "--broker-heartbeat-interval-ms", str(HEARTBEAT_MS),
                            "--replica-lag-time-max-ms", str(LAG_MS),
                            "--auto-leader-rebalance-enable", "false"])
    fss = {n: LazyFs(backing_of(b.data_dir), b.data_dir) for n, b in nodes.items()}
    try:
        for f in fss.values():
            f.mount()
        start_voters(nodes, NODES)
        # The scenarios are about acknowledged records on a cluster that has been up for a
        # while: what the nodes wrote while starting is on disk, as the kernel's writeback
        # would have put it there (a fresh node's power loss: test_a_node_comes_back_...).
        for f in fss.values():
            f.sync_all()
        yield Rig(target, nodes, fss)
    finally:
        for b in nodes.values():
            b.kill9()
        for f in fss.values():
            f.unmount()


@pytest.mark.parametrize("scenario,variant", [(s, v) for s in SCENARIOS for v in VARIANTS])
def test_acknowledged_records_survive_a_power_loss(rig, target, scenario, variant):
    r = rig.result(scenario)
    judge(target, variant, f"power loss {scenario}", r["outcomes"][variant], r["notes"])


# ------------------------------------------------------------------ one node


def single_node(target: str, tmp: Path):
    """One broker of the target (not started) and a lazyfs for its data directory."""
    port = free_port()
    if target == "kafka":
        b = KafkaBroker(tmp / "kafka", port)
    else:
        binary = Path(os.environ.get("WEIR_BIN", REPO / "target" / "debug" / "weir"))
        b = WeirBroker(binary, tmp / "data", port)
    return b, LazyFs(backing_of(b.data_dir), b.data_dir)


def test_a_node_comes_back_after_losing_power_right_after_its_first_start(target, tmp_path):
    """Whatever a new node writes before it serves (Kafka: `format`'s meta.properties and
    bootstrap.checkpoint) must be durable by the time it serves: a power loss then must not
    leave a node that cannot start."""
    require_fuse()
    if os.environ.get("WEIR_TEST_BOOTSTRAP"):
        pytest.skip("needs a broker it starts itself")
    b, fs = single_node(target, tmp_path)
    try:
        fs.mount()
        b.start()
        b.kill9()
        fs.power_loss()
        try:
            b.start()
        except RuntimeError as e:
            if target == "kafka" and "bootstrap.checkpoint" in str(e):
                why = next((line.strip() for line in str(e).splitlines()
                            if "Exception" in line and ":" in line), str(e)[-300:])
                pytest.xfail("Kafka 4.3.1's storage format does not fsync "
                             f"bootstrap.checkpoint; after a power loss: "
                             f"{why.replace(str(tmp_path), '...')}")
            raise
        topic = f"power-fresh-{uuid.uuid4().hex[:6]}"
        create_topic(b.bootstrap, topic)
        out = Confluent().produce(b.bootstrap, topic, [Msg(b"k", b"v")])
        assert out[0].error is None, out
    finally:
        b.kill9()
        fs.unmount()


class Single:
    """One broker of the target on lazyfs: a topic per variant is created, a few records
    produced acks=all right after, the power goes, the broker comes back."""

    def __init__(self, target: str, tmp: Path):
        self.broker, self.fs = single_node(target, tmp)
        self.outcome: dict | BaseException | None = None

    def result(self) -> dict:
        if self.outcome is None:
            try:
                self.outcome = self._run()
            except BaseException as e:  # noqa: BLE001 - the other variant reports it too
                self.outcome = e
                raise
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome

    def _run(self) -> dict:
        from confluent_kafka import Producer
        from confluent_kafka.admin import AdminClient, NewTopic

        b = self.broker
        self.fs.mount()
        b.start()
        self.fs.sync_all()  # the broker's own start is not what this test is about
        tag = uuid.uuid4().hex[:6]
        topics = {v: f"power-new-{v}-{tag}" for v in VARIANTS}
        a = AdminClient({"bootstrap.servers": b.bootstrap})
        futs = a.create_topics([NewTopic(t, num_partitions=2, replication_factor=1,
                                         config=VARIANTS[v]) for v, t in topics.items()],
                               operation_timeout=30, request_timeout=30)
        for f in futs.values():
            f.result(60)
        # Right after the creation: the producer retries until the partitions are served.
        # (Loads never started: each records one topic's acknowledgements for check().)
        loads = {v: Load(b.bootstrap, t, 2, 1.0) for v, t in topics.items()}
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all",
                      "enable.idempotence": True, "linger.ms": 0,
                      "message.timeout.ms": 60_000, "client.id": "weir-e2e-powerloss"})
        for v, t in topics.items():
            ld = loads[v]
            for i in range(10):
                def done(err, m, ld=ld):
                    if err is None:
                        ld.acked.setdefault(m.partition(), []).append((m.offset(), m.value()))
                    else:
                        ld.errors[err.name()] += 1
                p.produce(t, value=f"{t}/{i:08d}".encode(), partition=i % 2, on_delivery=done)
        assert p.flush(60) == 0, "records still unacknowledged"
        assert all(ld.count() == 10 for ld in loads.values()), \
            f"every record acknowledged; errors { {v: dict(ld.errors) for v, ld in loads.items()} }"
        mark = log_size(b.log_path)
        b.kill9()
        self.fs.power_loss()
        b.start()
        for t in topics.values():
            wait_partitions(b.bootstrap, t, 2, timeout=60)
        outcomes = {v: check(b.bootstrap, t, 2, loads[v]) for v, t in topics.items()}
        notes = notable_lines(b.log_path, mark)
        for v, o in outcomes.items():
            print(f"[single node {v}] {o.summary()}")
        for line in notes:
            print(f"[single node] {line}")
        return {"outcomes": outcomes, "notes": notes}

    def close(self) -> None:
        try:
            self.broker.kill9()
        finally:
            self.fs.unmount()


@pytest.fixture(scope="module")
def single(target, tmp_path_factory):
    require_fuse()
    if os.environ.get("WEIR_TEST_BOOTSTRAP"):
        pytest.skip("needs a broker it starts itself")
    s = Single(target, tmp_path_factory.mktemp("powerloss-single"))
    try:
        yield s
    finally:
        s.close()


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_records_acknowledged_right_after_a_topic_is_created_survive_a_power_loss(
        single, target, variant):
    r = single.result()
    judge(target, variant, "power loss after creating a topic", r["outcomes"][variant],
          r["notes"])
