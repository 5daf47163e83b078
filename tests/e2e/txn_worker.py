"""A consume-transform-produce worker (KIP-98/KIP-447 exactly-once) as a process of its
own, so a test can kill -9 it mid-transaction and start another with the same
transactional.id.

    python txn_worker.py '<json options>'

Options: client ("confluent" | "kafka-python"), bootstrap, input, output, group, txn_id,
batch (records per transaction, default 25), pause_after (after that many committed
transactions, the next one produces its output, flushes it and then waits, open, until
the process is killed), session_ms (default 6000), max_seconds (default 300).

The worker reads `input` in consumer group `group` with isolation.level=read_committed,
and for each transaction: begins, writes one record per input record to the same
partition of `output` (key: the input key; value: "PARTITION:OFFSET:INPUT_VALUE"), adds
the consumer's positions to the transaction (sendOffsetsToTransaction with the consumer's
group metadata), and commits. Its producer is initialised (init_transactions) before the
consumer joins, which fences an earlier worker with the same transactional.id and aborts
its open transaction.

Writes JSON lines: {"ev": "ready"}, {"ev": "committed", "txn": k, "n": records},
{"ev": "in_txn"} when paused, {"ev": "error", "what": ...}, {"ev": "closed"}. Reads
"close" on stdin (or EOF): finish the current transaction, leave the group, exit.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback

TIMEOUT = 60


def emit(**ev) -> None:
    sys.stdout.write(json.dumps(ev) + "\n")
    sys.stdout.flush()


def transform(partition: int, offset: int, value: bytes | None) -> bytes:
    return f"{partition}:{offset}:".encode() + (value or b"")


def run_confluent(o: dict, stop: threading.Event) -> None:
    from confluent_kafka import Consumer, Producer

    producer = Producer({"bootstrap.servers": o["bootstrap"], "transactional.id": o["txn_id"],
                         "acks": "all", "linger.ms": 5, "transaction.timeout.ms": 30000,
                         "client.id": "weir-e2e-ctp"})
    producer.init_transactions(TIMEOUT)
    consumer = Consumer({"bootstrap.servers": o["bootstrap"], "group.id": o["group"],
                         "isolation.level": "read_committed", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest",
                         "session.timeout.ms": o.get("session_ms", 6000),
                         "heartbeat.interval.ms": 500, "client.id": "weir-e2e-ctp"})
    consumer.subscribe([o["input"]])
    emit(ev="ready")
    txns = 0
    try:
        while not stop.is_set():
            msgs = [m for m in consumer.consume(num_messages=o.get("batch", 25), timeout=0.5)
                    if m.error() is None]
            if not msgs:
                continue
            producer.begin_transaction()
            for m in msgs:
                while True:
                    try:
                        producer.produce(o["output"], key=m.key(),
                                         value=transform(m.partition(), m.offset(), m.value()),
                                         partition=m.partition())
                        break
                    except BufferError:
                        producer.poll(0.05)
            if o.get("pause_after") is not None and txns == o["pause_after"]:
                producer.flush(TIMEOUT)
                emit(ev="in_txn", n=len(msgs))
                while True:  # open until killed
                    time.sleep(1)
            positions = consumer.position(consumer.assignment())
            producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(),
                                                 TIMEOUT)
            producer.commit_transaction(TIMEOUT)
            txns += 1
            emit(ev="committed", txn=txns, n=len(msgs))
    finally:
        consumer.close()


def run_kafka_python(o: dict, stop: threading.Event) -> None:
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.structs import OffsetAndMetadata

    producer = KafkaProducer(bootstrap_servers=o["bootstrap"], transactional_id=o["txn_id"],
                             acks="all", linger_ms=5, transaction_timeout_ms=30000,
                             max_block_ms=TIMEOUT * 1000, client_id="weir-e2e-ctp")
    producer.init_transactions()
    consumer = KafkaConsumer(bootstrap_servers=o["bootstrap"], group_id=o["group"],
                             isolation_level="read_committed", enable_auto_commit=False,
                             auto_offset_reset="earliest",
                             session_timeout_ms=o.get("session_ms", 6000),
                             heartbeat_interval_ms=500, client_id="weir-e2e-ctp")
    deadline = time.monotonic() + TIMEOUT
    while not consumer.partitions_for_topic(o["input"]) and time.monotonic() < deadline:
        time.sleep(0.1)  # as group_member.py: know the topic before joining
    consumer.subscribe([o["input"]])
    emit(ev="ready")
    txns = 0
    try:
        while not stop.is_set():
            batches = consumer.poll(timeout_ms=500, max_records=o.get("batch", 25))
            recs = [r for rs in batches.values() for r in rs]
            if not recs:
                continue
            producer.begin_transaction()
            futs = [producer.send(o["output"], key=r.key,
                                  value=transform(r.partition, r.offset, r.value),
                                  partition=r.partition) for r in recs]
            if o.get("pause_after") is not None and txns == o["pause_after"]:
                producer.flush(timeout=TIMEOUT)
                for f in futs:
                    f.get(timeout=TIMEOUT)
                emit(ev="in_txn", n=len(recs))
                while True:  # open until killed
                    time.sleep(1)
            offsets = {tp: OffsetAndMetadata(consumer.position(tp), "", -1)
                       for tp in consumer.assignment()}
            producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
            producer.commit_transaction()
            txns += 1
            emit(ev="committed", txn=txns, n=len(recs))
    finally:
        consumer.close()


def main() -> None:
    o = json.loads(sys.argv[1])
    stop = threading.Event()

    def read_commands():
        for line in sys.stdin:
            if line.strip() == "close":
                break
        stop.set()

    threading.Thread(target=read_commands, daemon=True).start()
    limit = float(o.get("max_seconds", 300))
    threading.Thread(target=lambda: (time.sleep(limit), os._exit(5)), daemon=True).start()
    try:
        {"confluent": run_confluent, "kafka-python": run_kafka_python}[o["client"]](o, stop)
    except Exception:  # noqa: BLE001 - reported to the test, which fails on it
        emit(ev="error", what=traceback.format_exc())
        sys.stdout.flush()
        os._exit(3)
    emit(ev="closed")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
