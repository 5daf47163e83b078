"""Load for scripts/bench-partitions, through librdkafka (confluent-kafka), the same for
every broker:

  partitions_load.py every BOOT PREFIX TOPICS PARTS    one record to every partition of
      topics PREFIX-0..PREFIX-{TOPICS-1} (PARTS each), acks=all, retried until all are
      delivered (at most 600 s); exit 1 if some never are
  partitions_load.py produce BOOT PREFIX TOPICS PARTS RECORDS   RECORDS records of 100 B,
      round-robin over every partition, acks=all, linger.ms=5; prints records/s
"""

import sys
import time

from confluent_kafka import Producer


def targets(prefix: str, topics: int, parts: int) -> list[tuple[str, int]]:
    return [(f"{prefix}-{t}", p) for t in range(topics) for p in range(parts)]


def every(boot: str, prefix: str, topics: int, parts: int) -> None:
    deadline = time.monotonic() + 600
    left = set(targets(prefix, topics, parts))
    while left:
        p = Producer({"bootstrap.servers": boot, "acks": "all", "linger.ms": 5,
                      "message.timeout.ms": 20000, "topic.metadata.refresh.interval.ms": 500})
        failed = set()
        for tp in sorted(left):
            def cb(err, _m, tp=tp):
                if err is not None:
                    failed.add(tp)
            while True:
                try:
                    p.produce(tp[0], value=b"x" * 100, partition=tp[1], on_delivery=cb)
                    break
                except BufferError:
                    p.poll(0.1)
        p.flush(60)
        left = failed
        if left and time.monotonic() > deadline:
            sys.exit(f"{len(left)} partitions still refuse records")
        if left:
            time.sleep(0.5)


def produce(boot: str, prefix: str, topics: int, parts: int, records: int) -> None:
    tps = targets(prefix, topics, parts)
    errors = []
    p = Producer({"bootstrap.servers": boot, "acks": "all", "linger.ms": 5,
                  "message.timeout.ms": 300000, "queue.buffering.max.messages": 1000000})

    def cb(err, _m):
        if err is not None:
            errors.append(err)
    value = b"x" * 100
    start = time.monotonic()
    deadline = start + 900
    for i in range(records):
        topic, part = tps[i % len(tps)]
        while True:
            try:
                p.produce(topic, value=value, partition=part, on_delivery=cb)
                break
            except BufferError:
                p.poll(0.05)
                if time.monotonic() > deadline:
                    sys.exit("produce took longer than 900 s")
    left = p.flush(600)
    took = time.monotonic() - start
    if left or errors:
        sys.exit(f"{left} undelivered, {len(errors)} errors (first: {errors[:1]})")
    print(f"{records / took:.0f}")


if __name__ == "__main__":
    cmd, boot, prefix, topics, parts = sys.argv[1:6]
    if cmd == "every":
        every(boot, prefix, int(topics), int(parts))
    elif cmd == "produce":
        produce(boot, prefix, int(topics), int(parts), int(sys.argv[6]))
    else:
        sys.exit(f"unknown command {cmd}")
