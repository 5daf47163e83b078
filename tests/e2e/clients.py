"""Real Kafka clients behind one small interface, so tests compare them record for record.

Clients: confluent-kafka (librdkafka), kafka-python, the Java client (tests/java KafkaCli)
and kcat. Each has `produce(bootstrap, topic, msgs, ...) -> [Delivery]` and
`consume(bootstrap, topic, count, ...) -> [Got]`; every call is bounded in time.
Consumers use no consumer group (assign + seek), so they need nothing beyond
Metadata/ListOffsets/Fetch; confluent-kafka insists on a group.id, so it gets a unique
one with auto-commit off.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
JAVA_JAR = REPO / "tests" / "java" / "target" / "kafka-cli.jar"
BIG = 8 * 1024 * 1024  # request/fetch size limits for the 1 MB-message tests
CODECS = ("none", "gzip", "snappy", "lz4", "zstd")


@dataclass
class Msg:
    """A record to produce. timestamp None: the client's clock; partition None: the
    client's partitioner."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)
    timestamp: int | None = None
    partition: int | None = None


@dataclass
class Delivery:
    """Outcome of one produced record; `error` is the client's error name or None."""

    partition: int | None
    offset: int | None
    timestamp: int | None = None
    error: str | None = None


@dataclass
class Got:
    """A consumed record."""

    partition: int
    offset: int
    timestamp: int
    ts_type: str  # "CreateTime" | "LogAppendTime"
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]


class ConsumeTimeout(AssertionError):
    def __init__(self, got: list[Got], want: int, detail: str = ""):
        super().__init__(f"consumed {len(got)} of {want} records before the deadline {detail}")
        self.got = got


class ClientError(AssertionError):
    """A client reported an error while consuming (e.g. offset out of range)."""

    def __init__(self, name: str, detail: str = ""):
        super().__init__(f"{name}: {detail}")
        self.name = name


def all_ok(deliveries: list[Delivery]) -> list[Delivery]:
    bad = [d for d in deliveries if d.error]
    assert not bad, f"{len(bad)} of {len(deliveries)} records failed, first: {bad[0].error}"
    return deliveries


def unique_group() -> str:
    return "weir-e2e-" + uuid.uuid4().hex[:12]


# --------------------------------------------------------------------- confluent-kafka


class Confluent:
    name = "confluent"
    codecs = CODECS
    timestamps = True
    null_header_values = True

    def producer_config(self, bootstrap: str, acks="all", compression="none", big=False):
        conf = {
            "bootstrap.servers": bootstrap,
            "acks": str(acks),
            "compression.type": compression,
            "linger.ms": 5,
            "message.timeout.ms": 60000,
            "client.id": "weir-e2e-confluent",
        }
        if big:
            conf["message.max.bytes"] = BIG
        return conf

    def produce(self, bootstrap, topic, msgs, acks="all", compression="none", big=False,
                extra=None, timeout=120) -> list[Delivery]:
        from confluent_kafka import Producer

        conf = self.producer_config(bootstrap, acks, compression, big)
        conf.update(extra or {})
        p = Producer(conf)
        out: list[Delivery | None] = [None] * len(msgs)

        def cb(i):
            def done(err, m):
                if err is not None:
                    out[i] = Delivery(None, None, None, err.name())
                else:
                    out[i] = Delivery(m.partition(), m.offset(), m.timestamp()[1])
            return done

        deadline = time.monotonic() + timeout
        for i, m in enumerate(msgs):
            kw = {}
            if m.headers:
                kw["headers"] = list(m.headers)
            if m.timestamp is not None:
                kw["timestamp"] = m.timestamp
            if m.partition is not None:
                kw["partition"] = m.partition
            while True:
                try:
                    p.produce(topic, value=m.value, key=m.key, on_delivery=cb(i), **kw)
                    break
                except BufferError:
                    p.poll(0.1)
                    if time.monotonic() > deadline:
                        raise TimeoutError("producer queue stayed full") from None
            if i % 1000 == 0:
                p.poll(0)
        left = p.flush(max(1.0, deadline - time.monotonic()))
        assert left == 0, f"{left} records still undelivered at the deadline"
        return out  # type: ignore[return-value]

    def consume(self, bootstrap, topic, count, partition=None, offset=None, big=False,
                extra=None, timeout=60) -> list[Got]:
        from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

        conf = {
            "bootstrap.servers": bootstrap,
            "group.id": unique_group(),
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "client.id": "weir-e2e-confluent",
        }
        if big:
            conf["fetch.max.bytes"] = BIG
            conf["max.partition.fetch.bytes"] = BIG
            conf["receive.message.max.bytes"] = BIG + 1024 * 1024
        conf.update(extra or {})
        c = Consumer(conf)
        deadline = time.monotonic() + timeout
        got: list[Got] = []
        try:
            parts = [partition] if partition is not None else partitions_of(c, topic, deadline)
            start = OFFSET_BEGINNING if offset is None else offset
            c.assign([TopicPartition(topic, p, start) for p in parts])
            while len(got) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ConsumeTimeout(got, count)
                for m in c.consume(num_messages=min(10000, count - len(got)),
                                   timeout=min(1.0, left)):
                    if m.error() is not None:
                        if m.error().code() == KafkaError._PARTITION_EOF:
                            continue
                        raise ClientError(m.error().name(), m.error().str())
                    ts_type, ts = m.timestamp()
                    got.append(Got(m.partition(), m.offset(), ts,
                                   "LogAppendTime" if ts_type == 2 else "CreateTime",
                                   m.key(), m.value(), list(m.headers() or [])))
        finally:
            c.close()
        return got


def partitions_of(consumer, topic, deadline) -> list[int]:
    """Partition ids of `topic` from librdkafka metadata, waiting until it exists."""
    while True:
        md = consumer.list_topics(topic, timeout=5)
        t = md.topics.get(topic)
        if t is not None and t.error is None and t.partitions:
            return sorted(t.partitions)
        if time.monotonic() > deadline:
            raise ConsumeTimeout([], 1, f"(topic {topic} has no partitions: {t and t.error})")
        time.sleep(0.1)


# --------------------------------------------------------------------- kafka-python


class KafkaPython:
    """kafka-python's producer takes only (str, bytes) headers: no null header values."""

    name = "kafka-python"
    codecs = CODECS
    timestamps = True
    null_header_values = False

    def produce(self, bootstrap, topic, msgs, acks="all", compression="none", big=False,
                extra=None, timeout=120) -> list[Delivery]:
        from kafka import KafkaProducer

        conf = {
            "bootstrap_servers": bootstrap,
            "acks": "all" if acks in ("all", -1) else int(acks),
            "compression_type": None if compression == "none" else compression,
            "linger_ms": 5,
            "client_id": "weir-e2e-kafka-python",
            "request_timeout_ms": 30000,
        }
        if conf["acks"] != "all":
            conf["enable_idempotence"] = False
        if big:
            conf["max_request_size"] = BIG
        conf.update(extra or {})
        p = KafkaProducer(**conf)
        try:
            futs = []
            for m in msgs:
                futs.append(p.send(topic, key=m.key, value=m.value, headers=list(m.headers),
                                   partition=m.partition, timestamp_ms=m.timestamp))
            p.flush(timeout=timeout)
            out = []
            for f in futs:
                try:
                    md = f.get(timeout=10)
                    out.append(Delivery(md.partition, md.offset, md.timestamp))
                except Exception as e:  # noqa: BLE001 - the error's class is the outcome
                    out.append(Delivery(None, None, None, type(e).__name__))
            return out
        finally:
            p.close(timeout=10)

    def consume(self, bootstrap, topic, count, partition=None, offset=None, big=False,
                extra=None, timeout=60) -> list[Got]:
        from kafka import KafkaConsumer, TopicPartition

        conf = {
            "bootstrap_servers": bootstrap,
            "group_id": None,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "client_id": "weir-e2e-kafka-python",
        }
        if big:
            conf["max_partition_fetch_bytes"] = BIG
            conf["fetch_max_bytes"] = BIG
        conf.update(extra or {})
        c = KafkaConsumer(**conf)
        deadline = time.monotonic() + timeout
        got: list[Got] = []
        try:
            if partition is not None:
                parts = [partition]
            else:
                while True:
                    ps = c.partitions_for_topic(topic)
                    if ps:
                        parts = sorted(ps)
                        break
                    if time.monotonic() > deadline:
                        raise ConsumeTimeout(got, count, f"(no partitions for {topic})")
                    time.sleep(0.1)
            tps = [TopicPartition(topic, p) for p in parts]
            c.assign(tps)
            if offset is None:
                c.seek_to_beginning(*tps)
            else:
                for tp in tps:
                    c.seek(tp, offset)
            while len(got) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ConsumeTimeout(got, count)
                batches = c.poll(timeout_ms=int(min(1.0, left) * 1000), max_records=10000)
                for tp in sorted(batches, key=lambda t: t.partition):
                    for r in batches[tp]:
                        got.append(Got(r.partition, r.offset, r.timestamp,
                                       "LogAppendTime" if r.timestamp_type == 1 else "CreateTime",
                                       r.key, r.value, [(k, v) for k, v in r.headers]))
        finally:
            c.close()
        return got


# --------------------------------------------------------------------- Java (kafka-clients)


def _b64(b: bytes | None) -> str:
    return "-" if b is None else base64.b64encode(b).decode()


def _unb64(s: str | None) -> bytes | None:
    return None if s is None else base64.b64decode(s)


def java_command() -> list[str]:
    """The command line that runs tests/java's KafkaCli."""
    if not JAVA_JAR.exists():
        raise AssertionError(f"{JAVA_JAR.name} not built: run scripts/test (it builds tests/java)")
    return ["java", "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-jar", str(JAVA_JAR)]


class Java:
    name = "java"
    codecs = CODECS
    timestamps = True
    null_header_values = True

    def produce(self, bootstrap, topic, msgs, acks="all", compression="none", big=False,
                extra=None, timeout=120) -> list[Delivery]:
        props = {"acks": str(acks), "compression.type": compression, "linger.ms": "5",
                 "delivery.timeout.ms": "60000", "request.timeout.ms": "30000"}
        if big:
            props["max.request.size"] = str(BIG)
            props["buffer.memory"] = str(4 * BIG)
        props.update(extra or {})
        lines = []
        for m in msgs:
            f = [_b64(m.key), _b64(m.value),
                 "-" if m.timestamp is None else str(m.timestamp),
                 "-" if m.partition is None else str(m.partition)]
            f += [base64.b64encode(k.encode()).decode() + ":" + _b64(v) for k, v in m.headers]
            lines.append("\t".join(f))
        cmd = java_command() + ["produce", "--bootstrap", bootstrap, "--topic", topic]
        for k, v in props.items():
            cmd += ["--prop", f"{k}={v}"]
        res = subprocess.run(cmd, input="\n".join(lines) + "\n", capture_output=True, text=True,
                             timeout=timeout + 30)
        if res.returncode not in (0, 3):
            raise AssertionError(f"java produce exited {res.returncode}:\n{res.stderr[-3000:]}")
        out = []
        for line in res.stdout.splitlines():
            j = json.loads(line)
            if "error" in j:
                out.append(Delivery(None, None, None, j["error"]))
            else:
                out.append(Delivery(j["partition"], j["offset"], j["timestamp"]))
        assert len(out) == len(msgs), f"java printed {len(out)} results for {len(msgs)}"
        return out

    def consume(self, bootstrap, topic, count, partition=None, offset=None, big=False,
                extra=None, timeout=60) -> list[Got]:
        props = {}
        if big:
            props["max.partition.fetch.bytes"] = str(BIG)
            props["fetch.max.bytes"] = str(BIG)
        props.update(extra or {})
        cmd = java_command() + ["consume", "--bootstrap", bootstrap, "--topic", topic, "--count",
                         str(count), "--timeout-ms", str(int(timeout * 1000))]
        if partition is not None:
            cmd += ["--partition", str(partition)]
        if offset is not None:
            cmd += ["--offset", str(offset)]
        for k, v in props.items():
            cmd += ["--prop", f"{k}={v}"]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 30,
                             stdin=subprocess.DEVNULL)
        got = []
        for line in res.stdout.splitlines():
            j = json.loads(line)
            if "error" in j:
                raise ClientError(j["error"], j["message"])
            got.append(Got(j["partition"], j["offset"], j["timestamp"], j["timestampType"],
                           _unb64(j["key"]), _unb64(j["value"]),
                           [(k, _unb64(v)) for k, v in j["headers"]]))
        if res.returncode == 2:
            raise ConsumeTimeout(got, count)
        if res.returncode != 0:
            raise AssertionError(f"java consume exited {res.returncode}:\n{res.stderr[-3000:]}")
        return got

    def metadata(self, bootstrap, topics=(), timeout=60) -> dict:
        cmd = java_command() + ["metadata", "--bootstrap", bootstrap]
        for t in topics:
            cmd += ["--topic", t]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                             stdin=subprocess.DEVNULL)
        assert res.returncode == 0, res.stderr[-3000:]
        return json.loads(res.stdout)


# --------------------------------------------------------------------- kcat


def _utf8(s: str | None) -> bytes | None:
    return None if s is None else s.encode()


def kcat_bin() -> str:
    path = shutil.which("kcat")
    if path is None:
        raise AssertionError("kcat not installed: run scripts/test (it installs it)")
    return path


class Kcat:
    """kcat: text only (keys/values are lines), headers per invocation (-H), no producer
    timestamps, null keys/values as empty fields with -Z."""

    name = "kcat"
    codecs = CODECS
    timestamps = False
    null_header_values = True
    DELIM = "|"

    def produce(self, bootstrap, topic, msgs, acks="all", compression="none", big=False,
                extra=None, timeout=120) -> list[Delivery]:
        # One kcat run per stretch of records sharing headers and partition: -H and -p
        # apply to a whole run. Runs are sequential, so order is kept.
        runs: list[tuple[tuple, int | None, list[Msg]]] = []
        for m in msgs:
            assert m.timestamp is None, "kcat cannot set producer timestamps"
            assert m.key != b"" and m.value != b"", "kcat -Z maps empty to null"
            hk = tuple(m.headers)
            if runs and runs[-1][0] == hk and runs[-1][1] == m.partition:
                runs[-1][2].append(m)
            else:
                runs.append((hk, m.partition, [m]))
        deadline = time.monotonic() + timeout
        for headers, part, run in runs:
            cmd = [kcat_bin(), "-P", "-b", bootstrap, "-t", topic, "-K", self.DELIM, "-Z",
                   "-z", compression, "-X", f"acks={acks}", "-X", "linger.ms=5", "-q"]
            if big:
                cmd += ["-X", f"message.max.bytes={BIG}"]
            for k, v in (extra or {}).items():
                cmd += ["-X", f"{k}={v}"]
            if part is not None:
                cmd += ["-p", str(part)]
            for hk_, hv in headers:
                cmd += ["-H", hk_ if hv is None else f"{hk_}={hv.decode()}"]
            lines = []
            for m in run:
                k = b"" if m.key is None else m.key
                v = b"" if m.value is None else m.value
                assert self.DELIM.encode() not in k and b"\n" not in k + v
                lines.append(k + self.DELIM.encode() + v)
            res = subprocess.run(cmd, input=b"\n".join(lines) + b"\n", capture_output=True,
                                 timeout=max(5.0, deadline - time.monotonic()))
            if res.returncode != 0:
                raise AssertionError(f"kcat -P exited {res.returncode}: {res.stderr[-2000:]!r}")
        return [Delivery(m.partition, None) for m in msgs]

    def consume(self, bootstrap, topic, count, partition=None, offset=None, big=False,
                extra=None, timeout=60) -> list[Got]:
        cmd = [kcat_bin(), "-C", "-b", bootstrap, "-t", topic, "-c", str(count), "-J", "-q",
               "-o", "beginning" if offset is None else str(offset)]
        if partition is not None:
            cmd += ["-p", str(partition)]
        if big:
            cmd += ["-X", f"fetch.max.bytes={BIG}", "-X", f"receive.message.max.bytes={BIG * 2}"]
        for k, v in (extra or {}).items():
            cmd += ["-X", f"{k}={v}"]
        try:
            res = subprocess.run(cmd, capture_output=True, timeout=timeout,
                                 stdin=subprocess.DEVNULL)
            out, rc = res.stdout, res.returncode
        except subprocess.TimeoutExpired as e:
            out, rc = e.stdout or b"", None
        got = []
        for line in out.splitlines():
            j = json.loads(line)
            h = j.get("headers") or []
            headers = [(h[i], None if h[i + 1] is None else h[i + 1].encode())
                       for i in range(0, len(h), 2)]
            got.append(Got(j["partition"], j["offset"], j["ts"],
                           "LogAppendTime" if j["tstype"] == "logappend" else "CreateTime",
                           _utf8(j["key"]), _utf8(j["payload"]), headers))
        if rc is None:
            raise ConsumeTimeout(got, count)
        if rc != 0 or len(got) != count:
            raise AssertionError(f"kcat -C exited {rc} with {len(got)} records")
        return got


CONFLUENT = Confluent()
KAFKA_PYTHON = KafkaPython()
JAVA = Java()
KCAT = Kcat()
ALL = [CONFLUENT, KAFKA_PYTHON, JAVA, KCAT]
BY_NAME = {c.name: c for c in ALL}
