"""Helpers for the config, retention and compaction tests: writing records so that each
group lands in its own segment, reading a whole partition with each client however many
records compaction or retention left, log start/end offsets, config calls through the
confluent-kafka, kafka-python and Java Admin clients, and the partition's files on disk.

Segments are rolled the way a client can roll them: a topic with a small `segment.ms`
rolls when a batch's timestamp is more than `segment.ms` past the first one of the active
segment (Kafka judges by record timestamps, not the clock), so `produce_groups` writes each
group with its own flush and the tests give each group timestamps `GROUP_GAP_MS` apart.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import kwire
from clients import Got, Msg, java_command, unique_group

GROUP_GAP_MS = 5_000  # between the timestamps of consecutive groups; topics use segment.ms=1000


# ------------------------------------------------------------------ writing


def produce_groups(bootstrap: str, topic: str, groups: list[list[Msg]], partition: int = 0,
                   timeout: float = 60.0) -> list[list[int]]:
    """Produces each group (acks=all) and waits for it before the next, so no batch mixes
    two groups; returns the offsets, group by group. Any delivery error fails."""
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                  "message.timeout.ms": int(timeout * 1000), "client.id": "weir-e2e-logtools"})
    out: list[list[int]] = []
    deadline = time.monotonic() + timeout
    for group in groups:
        res: list = [None] * len(group)

        def cb(i):
            def done(err, m):
                res[i] = err if err is not None else m.offset()
            return done

        for i, m in enumerate(group):
            kw = {"headers": list(m.headers)} if m.headers else {}
            if m.timestamp is not None:
                kw["timestamp"] = m.timestamp
            while True:
                try:
                    p.produce(topic, key=m.key, value=m.value, partition=partition,
                              on_delivery=cb(i), **kw)
                    break
                except BufferError:
                    p.poll(0.05)
                    if time.monotonic() > deadline:
                        raise TimeoutError("producer queue stayed full") from None
        left = p.flush(max(1.0, deadline - time.monotonic()))
        assert left == 0, f"{left} records undelivered at the deadline"
        bad = [r for r in res if not isinstance(r, int)]
        assert not bad, f"{len(bad)} records failed: {bad[0]}"
        out.append(res)
    return out


# ------------------------------------------------------------------ offsets


def offsets(bootstrap: str, topic: str, partition: int = 0) -> tuple[int, int]:
    """(log start offset, log end offset) from raw ListOffsets earliest and latest."""
    with kwire.Conn.to(bootstrap) as c:
        e1, start = c.list_offsets(topic, partition, -2)
        e2, end = c.list_offsets(topic, partition, -1)
    assert (e1, e2) == (kwire.NONE, kwire.NONE), f"ListOffsets errors {e1}, {e2}"
    return start, end


def log_start(bootstrap: str, topic: str, partition: int = 0) -> int:
    return offsets(bootstrap, topic, partition)[0]


# ------------------------------------------------------------------ reading everything


def read_confluent(bootstrap: str, topic: str, partition: int = 0, offset: int | None = None,
                   extra: dict | None = None, timeout: float = 30.0) -> list[Got]:
    """Every record from `offset` (default: the beginning) to the end of the partition with
    a librdkafka consumer (enable.partition.eof tells where the end is)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    from clients import ClientError, ConsumeTimeout

    conf = {"bootstrap.servers": bootstrap, "group.id": unique_group(),
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "enable.partition.eof": True, "client.id": "weir-e2e-confluent"}
    conf.update(extra or {})
    c = Consumer(conf)
    got: list[Got] = []
    deadline = time.monotonic() + timeout
    try:
        c.assign([TopicPartition(topic, partition,
                                 OFFSET_BEGINNING if offset is None else offset)])
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConsumeTimeout(got, -1, "(no end of partition reached)")
            m = c.poll(min(1.0, left))
            if m is None:
                continue
            if m.error() is not None:
                if m.error().code() == KafkaError._PARTITION_EOF:
                    return got
                raise ClientError(m.error().name(), m.error().str())
            ts_type, ts = m.timestamp()
            got.append(Got(m.partition(), m.offset(), ts,
                           "LogAppendTime" if ts_type == 2 else "CreateTime",
                           m.key(), m.value(), list(m.headers() or [])))
    finally:
        c.close()


def read_kafka_python(bootstrap: str, topic: str, partition: int = 0, offset: int | None = None,
                      extra: dict | None = None, timeout: float = 30.0) -> list[Got]:
    """Every record from `offset` (default: the beginning) to the log end offset, read
    with kafka-python until its position reaches the end."""
    from kafka import KafkaConsumer, TopicPartition

    from clients import ConsumeTimeout

    conf = {"bootstrap_servers": bootstrap, "group_id": None, "enable_auto_commit": False,
            "auto_offset_reset": "earliest", "client_id": "weir-e2e-kafka-python"}
    conf.update(extra or {})
    c = KafkaConsumer(**conf)
    tp = TopicPartition(topic, partition)
    got: list[Got] = []
    deadline = time.monotonic() + timeout
    try:
        c.assign([tp])
        if offset is None:
            c.seek_to_beginning(tp)
        else:
            c.seek(tp, offset)
        end = c.end_offsets([tp])[tp]
        while c.position(tp) < end:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConsumeTimeout(got, -1, f"(position {c.position(tp)} of end {end})")
            for records in c.poll(timeout_ms=int(min(1.0, left) * 1000),
                                  max_records=10000).values():
                for r in records:
                    got.append(Got(r.partition, r.offset, r.timestamp,
                                   "LogAppendTime" if r.timestamp_type == 1 else "CreateTime",
                                   r.key, r.value, [(k, v) for k, v in r.headers]))
    finally:
        c.close()
    return got


def view(got: list[Got]) -> list[tuple]:
    """(offset, key, value, headers) of each record, for comparisons."""
    return [(g.offset, g.key, g.value, list(g.headers)) for g in got]


# ------------------------------------------------------------------ files


def partition_dir(broker, topic: str, partition: int = 0) -> Path | None:
    """The partition's directory under the broker's data dir (same name on both targets:
    <topic>-<partition>)."""
    found = [p for p in broker.data_dir.rglob(f"{topic}-{partition}") if p.is_dir()]
    return found[0] if found else None


# ------------------------------------------------------------------ Java Admin (configs)


def java_configs(bootstrap: str, action: str, rtype: str, name: str, keys: list[str] = (),
                 ops: list[tuple] = (), validate_only: bool = False, timeout: float = 90) -> dict:
    """`KafkaCli configs`: describeConfigs (with synonyms) or incrementalAlterConfigs of one
    resource through the Java Admin client. `ops`: (op, key[, value]) with op SET, DELETE,
    APPEND or SUBTRACT. Returns the JSON line it printed."""
    cmd = java_command() + ["configs", "--bootstrap", bootstrap, "--action", action,
                            "--type", rtype, "--name", name]
    if keys:
        cmd += ["--keys", ",".join(keys)]
    if validate_only:
        cmd += ["--validate-only", "true"]
    stdin = "".join("\t".join(op) + "\n" for op in ops)
    res = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"java configs exited {res.returncode}:\n{res.stderr[-3000:]}"
    return json.loads(res.stdout.strip().splitlines()[-1])
