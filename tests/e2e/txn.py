"""Driving transactional producers from a test: each one a process (tests/e2e/txn_client.py
for confluent-kafka and kafka-python, `KafkaCli txn` for the Java client) speaking one
line protocol, so a test interleaves several, kills one with kill -9, and treats all three
clients alike. Also: plain (non-transactional) writes, reading a topic at either isolation
level with each client, and the transaction admin calls (ListTransactions,
DescribeTransactions, DescribeProducers) through the Java Admin and kafka-python.
Every wait is bounded by a deadline.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from clients import BY_NAME, REPO, Got, java_command

CLIENT = Path(__file__).resolve().parent / "txn_client.py"
# Kafka's own tools (kafka-features.sh is FeatureCommand), resolved by scripts/kafka-reference.
KAFKA_LIBS = REPO / ".cache" / "kafka-4.3.1" / "libs"
TXN_CLIENTS = ["confluent", "java", "kafka-python"]

# The names each client gives a producer fenced by a newer one with its transactional.id
# (librdkafka: its fatal _FENCED or the broker's PRODUCER_FENCED; Java: ProducerFenced-
# Exception; kafka-python: ProducerFencedError). INVALID_PRODUCER_EPOCH is what a partition
# leader answers a stale epoch with, and what the clients report when a Produce is the
# first request that meets the newer epoch.
FENCED = {"_FENCED", "PRODUCER_FENCED", "ProducerFencedException", "ProducerFencedError",
          "INVALID_PRODUCER_EPOCH", "InvalidProducerEpochException",
          "InvalidProducerEpochError"}


class TxnError(AssertionError):
    """A command the producer answered with an error."""

    def __init__(self, reply: dict):
        super().__init__(f"{reply.get('cmd')}: {reply.get('error')}: {reply.get('message')}")
        self.name = reply.get("error")
        self.reply = reply


def new_txn_id(tag: str = "t") -> str:
    return f"weir-e2e-{tag}-{uuid.uuid4().hex[:10]}"


class TxnClient:
    """One producer process. `cmd()` sends a command and returns its JSON reply; the typed
    helpers raise TxnError on an error reply."""

    def __init__(self, client: str, bootstrap: str, props: dict | None = None,
                 max_seconds: int = 300):
        self.client = client
        self.props = {k: str(v) for k, v in (props or {}).items()}
        self.errlog = tempfile.NamedTemporaryFile(prefix=f"txn-{client}-", suffix=".log",
                                                  delete=False)
        if client == "java":
            cmd = java_command() + ["txn", "--bootstrap", bootstrap,
                                    "--max-seconds", str(max_seconds)]
            for k, v in self.props.items():
                cmd += ["--prop", f"{k}={v}"]
        else:
            opts = {"client": client, "bootstrap": bootstrap, "props": self.props,
                    "max_seconds": max_seconds}
            cmd = [sys.executable, str(CLIENT), json.dumps(opts)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.errlog, text=True, start_new_session=True)
        self.replies: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        try:
            ready = self._next(60, "the producer to start")
            assert ready.get("ev") == "ready", ready
        except BaseException:
            self.kill9()
            raise

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.replies.put(json.loads(line))
            except ValueError:
                continue
        self.replies.put({"ev": "exited"})

    def stderr_tail(self, n: int = 3000) -> str:
        try:
            return Path(self.errlog.name).read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def _next(self, timeout: float, what: str) -> dict:
        try:
            r = self.replies.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"{self.client} producer: no answer to {what} within "
                                 f"{timeout}s; stderr:\n{self.stderr_tail()}") from None
        if r.get("ev") == "exited":
            raise AssertionError(f"{self.client} producer exited during {what}; stderr:\n"
                                 f"{self.stderr_tail()}")
        return r

    def cmd(self, *fields, timeout: float = 90) -> dict:
        line = "\t".join(str(f) for f in fields)
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self._next(timeout, repr(line))

    def ok(self, *fields, timeout: float = 90) -> dict:
        r = self.cmd(*fields, timeout=timeout)
        if "error" in r:
            raise TxnError(r)
        return r

    def init(self) -> None:
        self.ok("init")

    def begin(self) -> None:
        self.ok("begin")

    def commit(self) -> None:
        self.ok("commit")

    def abort(self) -> None:
        self.ok("abort")

    def send(self, topic: str, partition: int | None, value: str, key: str | None = None
             ) -> tuple[int, int]:
        assert "\t" not in value and "\n" not in value
        r = self.ok("send", topic, "-" if partition is None else partition,
                    value if key is None else key, value)
        return r["partition"], r["offset"]

    def batch(self, topic: str, partition: int | None, prefix: str, n: int
              ) -> list[tuple[int, int]]:
        r = self.ok("batch", topic, "-" if partition is None else partition, prefix, n)
        return [tuple(x) for x in r["offsets"]]

    def send_offsets(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        self.ok("offsets", group, ",".join(f"{t}:{p}={o}" for (t, p), o in offsets.items()))

    def close(self, timeout: float = 30) -> None:
        if self.proc.poll() is None:
            try:
                self.cmd("close", timeout=timeout)
            except (AssertionError, BrokenPipeError, OSError):
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill9()

    def kill9(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)


class TxnClients:
    """Every producer process a test started, so the fixture kills them all by PID."""

    def __init__(self):
        self.all: list[TxnClient] = []

    def start(self, client: str, bootstrap: str, txn_id: str | None = None,
              **props) -> TxnClient:
        p = {k.replace("_", "."): v for k, v in props.items()}
        if txn_id is not None:
            p["transactional.id"] = txn_id
        c = TxnClient(client, bootstrap, p)
        self.all.append(c)
        return c

    def close_all(self) -> None:
        for c in self.all:
            c.kill9()
            try:
                os.unlink(c.errlog.name)
            except OSError:
                pass


# ------------------------------------------------------------------ plain writes, reads


def plain_produce(bootstrap: str, topic: str, partition: int, values: list[str]
                  ) -> list[int]:
    """Non-transactional writes (confluent-kafka, idempotent by default), one partition,
    in order; returns their offsets."""
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                  "message.timeout.ms": 60000})
    out: list = [None] * len(values)

    def cb(i):
        def done(err, m):
            out[i] = err if err is not None else m.offset()
        return done

    for i, v in enumerate(values):
        p.produce(topic, key=v.encode(), value=v.encode(), partition=partition,
                  on_delivery=cb(i))
    assert p.flush(60) == 0, "plain producer did not deliver in time"
    assert all(isinstance(o, int) for o in out), out
    return out


ISOLATION_PROP = {"confluent": "isolation.level", "java": "isolation.level",
                  "kafka-python": "isolation_level"}


def read(client: str, bootstrap: str, topic: str, count: int, committed: bool,
         partition: int | None = None, timeout: float = 60) -> list[Got]:
    """`count` records of `topic` (all partitions, or one) read from the beginning with the
    given client at isolation level read_committed or read_uncommitted."""
    level = "read_committed" if committed else "read_uncommitted"
    return BY_NAME[client].consume(bootstrap, topic, count, partition=partition,
                                   extra={ISOLATION_PROP[client]: level}, timeout=timeout)


def values_by_partition(got: list[Got]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for g in got:
        out.setdefault(g.partition, []).append((g.value or b"").decode())
    return out


def list_offsets(bootstrap: str, topic: str, partitions: int, committed: bool
                 ) -> dict[int, int]:
    """Latest offsets through confluent-kafka's AdminClient at an isolation level (under
    read_committed: the last stable offset)."""
    from confluent_kafka import IsolationLevel, TopicPartition
    from confluent_kafka.admin import AdminClient, OffsetSpec

    a = AdminClient({"bootstrap.servers": bootstrap})
    req = {TopicPartition(topic, p): OffsetSpec.latest() for p in range(partitions)}
    level = IsolationLevel.READ_COMMITTED if committed else IsolationLevel.READ_UNCOMMITTED
    futs = a.list_offsets(req, isolation_level=level, request_timeout=30)
    return {tp.partition: f.result(60).offset for tp, f in futs.items()}


def list_offsets_kafka_python(bootstrap: str, topic: str, partitions: int, committed: bool
                              ) -> dict[int, int]:
    from kafka import KafkaAdminClient
    from kafka.admin import OffsetSpec
    from kafka.structs import TopicPartition

    a = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    try:
        level = "read_committed" if committed else "read_uncommitted"
        res = a.list_partition_offsets(
            {TopicPartition(topic, p): OffsetSpec.LATEST for p in range(partitions)},
            isolation_level=level)
        return {tp.partition: v.offset for tp, v in res.items()}
    finally:
        a.close()


# ------------------------------------------------------------------ transaction admin


def kafka_features(bootstrap: str, *args: str) -> subprocess.CompletedProcess:
    """Runs Kafka's kafka-features.sh (FeatureCommand) against `bootstrap`."""
    if not KAFKA_LIBS.is_dir():
        raise AssertionError("Kafka's tools are not resolved: run scripts/kafka-reference fetch")
    cmd = ["java", "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-cp", f"{KAFKA_LIBS}/*",
           "org.apache.kafka.tools.FeatureCommand", "--bootstrap-server", bootstrap, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def feature_fields(line: str) -> dict[str, str]:
    """One line of `kafka-features.sh describe` ("Feature: x   SupportedMinVersion: 0 ...")
    as a dict."""
    return dict(re.findall(r"(\w+): (\S+)", line))


def transaction_version(bootstrap: str) -> int:
    """The cluster's finalized transaction.version, as kafka-features.sh describes it."""
    res = kafka_features(bootstrap, "describe")
    assert res.returncode == 0, res.stderr[-3000:]
    for line in res.stdout.splitlines():
        fields = feature_fields(line)
        if fields.get("Feature") == "transaction.version":
            return int(fields["FinalizedVersionLevel"])
    raise AssertionError(f"no transaction.version in: {res.stdout}")


def set_transaction_version(bootstrap: str, level: int) -> None:
    """Finalizes transaction.version at `level` with kafka-features.sh (an upgrade or a
    downgrade, whichever it is)."""
    current = transaction_version(bootstrap)
    if current == level:
        return
    verb = "upgrade" if level > current else "downgrade"
    res = kafka_features(bootstrap, verb, "--feature", f"transaction.version={level}")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    assert transaction_version(bootstrap) == level


class JavaTxnAdmin:
    name = "java"

    def __init__(self, bootstrap: str):
        self.bootstrap = bootstrap

    def _run(self, *args) -> object:
        cmd = java_command() + ["txns", "--bootstrap", self.bootstrap] + list(args)
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=90,
                             stdin=subprocess.DEVNULL)
        assert res.returncode == 0, res.stderr[-3000:]
        return json.loads(res.stdout)

    def list(self, states: list[str] | None = None) -> dict[str, tuple[int, str]]:
        """{transactional id: (producer id, state)}"""
        args = ["--action", "list"]
        if states:
            args += ["--states", ",".join(states)]
        return {t["txn"]: (t["pid"], t["state"]) for t in self._run(*args)}

    def describe(self, txn_id: str) -> dict:
        """{"state", "pid", "epoch", "timeout_ms", "partitions": {(topic, p)}} or
        {"error": name}"""
        d = self._run("--action", "describe", "--txn", txn_id)[txn_id]
        if "error" in d:
            return {"error": d["error"]}
        return {"state": d["state"], "pid": d["pid"], "epoch": d["epoch"],
                "timeout_ms": d["timeoutMs"], "start_ms": d["startMs"],
                "partitions": {(tp.rsplit(":", 1)[0], int(tp.rsplit(":", 1)[1]))
                               for tp in d["partitions"]}}

    def producers(self, topic: str, partition: int) -> list[dict]:
        """Active producers of one partition: [{"pid", "epoch", "last_seq",
        "txn_start_offset"}] (txn_start_offset -1 when none is open)."""
        r = self._run("--action", "producers", "--topic", topic, "--partitions", str(partition))
        rows = r[f"{topic}:{partition}"]
        assert not isinstance(rows, dict), rows
        return [{"pid": x["pid"], "epoch": x["epoch"], "last_seq": x["lastSeq"],
                 "txn_start_offset": x["txnStartOffset"]} for x in rows]


class KafkaPythonTxnAdmin:
    name = "kafka-python"

    def __init__(self, bootstrap: str):
        from kafka import KafkaAdminClient

        self.a = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)

    def close(self) -> None:
        self.a.close()

    def list(self, states: list[str] | None = None) -> dict[str, tuple[int, str]]:
        out = {}
        for rows in self.a.list_transactions(state_filters=states).values():
            for t in rows:
                out[t.transactional_id] = (t.producer_id, t.state.value)
        return out

    def describe(self, txn_id: str) -> dict:
        try:
            d = self.a.describe_transactions([txn_id])[txn_id]
        except Exception as e:  # noqa: BLE001 - the error class is the outcome
            return {"error": type(e).__name__}
        return {"state": d.state.value, "pid": d.producer_id, "epoch": d.producer_epoch,
                "timeout_ms": d.transaction_timeout_ms, "start_ms": d.transaction_start_time_ms,
                "partitions": {(tp.topic, tp.partition) for tp in d.topic_partitions}}

    def producers(self, topic: str, partition: int) -> list[dict]:
        from kafka.structs import TopicPartition

        res = self.a.describe_producers([TopicPartition(topic, partition)])
        [st] = res.values()
        return [{"pid": p.producer_id, "epoch": p.producer_epoch, "last_seq": p.last_sequence,
                 "txn_start_offset": p.current_transaction_start_offset}
                for p in st.active_producers]


def txn_admin(name: str, bootstrap: str):
    return JavaTxnAdmin(bootstrap) if name == "java" else KafkaPythonTxnAdmin(bootstrap)


def wait_state(adm, txn_id: str, states: set[str], timeout: float = 60) -> dict:
    """Waits until DescribeTransactions reports one of `states`; returns the description."""
    deadline = time.monotonic() + timeout
    while True:
        d = adm.describe(txn_id)
        if d.get("state") in states:
            return d
        if time.monotonic() >= deadline:
            raise AssertionError(f"{txn_id} not in {states} after {timeout}s: {d}")
        time.sleep(0.2)


# ------------------------------------------------------------------ consume-transform-produce

WORKER = Path(__file__).resolve().parent / "txn_worker.py"


class Worker:
    """One tests/e2e/txn_worker.py process and the events it reported."""

    def __init__(self, **opts):
        self.opts = opts
        self.events: list[dict] = []
        self.lock = threading.Lock()
        self.errlog = tempfile.NamedTemporaryFile(prefix="txn-worker-", suffix=".log",
                                                  delete=False)
        self.proc = subprocess.Popen([sys.executable, str(WORKER), json.dumps(opts)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.errlog, text=True, start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                self.events.append(ev)

    def of(self, kind: str) -> list[dict]:
        with self.lock:
            return [e for e in self.events if e["ev"] == kind]

    def errors(self) -> list[str]:
        return [e["what"] for e in self.of("error")]

    def committed(self) -> int:
        """Transactions this worker committed."""
        return len(self.of("committed"))

    def wait(self, kind: str, timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            evs = self.of(kind)
            if evs:
                return evs[0]
            errs = self.errors()
            assert not errs, f"worker failed: {errs[0]}"
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; "
                                     f"events: {self.events[-5:]}")
            time.sleep(0.05)

    def close(self, timeout: float = 60) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("close\n")
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError):
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill9()

    def kill9(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)


class Workers:
    def __init__(self):
        self.all: list[Worker] = []

    def start(self, **opts) -> Worker:
        w = Worker(**opts)
        self.all.append(w)
        return w

    def close_all(self) -> None:
        for w in self.all:
            w.kill9()
            try:
                os.unlink(w.errlog.name)
            except OSError:
                pass
