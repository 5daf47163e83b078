"""Durability across restarts: a clean stop/start keeps every record, topic and config;
after kill -9 every acks=all-acknowledged record is still there at its offset."""

from __future__ import annotations

import threading

from confluent_kafka import Producer

from clients import CONFLUENT, JAVA, Msg
from helpers import admin, create_topic, wait_partitions, wait_until


def _describe(bootstrap, topic, key):
    from confluent_kafka.admin import ConfigResource, ResourceType

    a = admin(bootstrap)
    res = ConfigResource(ResourceType.TOPIC, topic)
    return a.describe_configs([res])[res].result(timeout=60)[key].value


def test_clean_restart_keeps_everything(new_broker, topic):
    b = new_broker()
    multi = topic + "-multi"
    create_topic(b.bootstrap, topic, config={"max.message.bytes": "3000000"})
    create_topic(b.bootstrap, multi, partitions=3)
    msgs = [Msg(f"k{i}".encode(), f"value-{i}".encode(), [("i", str(i).encode())])
            for i in range(1000)]
    assert all(d.error is None for d in CONFLUENT.produce(b.bootstrap, topic, msgs))
    multi_msgs = [Msg(None, f"m{i}".encode(), [], None, i % 3) for i in range(90)]
    assert all(d.error is None for d in CONFLUENT.produce(b.bootstrap, multi, multi_msgs))

    b.restart()

    got = CONFLUENT.consume(b.bootstrap, topic, len(msgs))
    assert [(g.offset, g.key, g.value, g.headers) for g in got] == \
        [(i, m.key, m.value, m.headers) for i, m in enumerate(msgs)]
    wait_partitions(b.bootstrap, multi, 3)
    got = JAVA.consume(b.bootstrap, multi, len(multi_msgs))
    assert sorted((g.partition, g.offset, g.value) for g in got) == \
        sorted((i % 3, i // 3, f"m{i}".encode()) for i in range(90))
    assert _describe(b.bootstrap, topic, "max.message.bytes") == "3000000"
    # Appends continue after the last offset.
    [d] = CONFLUENT.produce(b.bootstrap, topic, [Msg(b"after", b"restart")])
    assert (d.error, d.offset) == (None, 1000)


def test_kill9_keeps_acknowledged_records(new_broker, topic):
    b = new_broker()
    create_topic(b.bootstrap, topic)
    msgs = [Msg(f"k{i}".encode(), f"acked-{i}".encode()) for i in range(2000)]
    deliveries = CONFLUENT.produce(b.bootstrap, topic, msgs, acks="all")
    assert all(d.error is None for d in deliveries)

    b.kill9()
    b.start()

    got = CONFLUENT.consume(b.bootstrap, topic, len(msgs), timeout=120)
    assert [(g.offset, g.value) for g in got] == [(d.offset, m.value)
                                                  for d, m in zip(deliveries, msgs, strict=True)]
    [d] = CONFLUENT.produce(b.bootstrap, topic, [Msg(b"k", b"next")])
    assert (d.error, d.offset) == (None, len(msgs))


def test_kill9_under_load_loses_no_acknowledged_record(new_broker, topic):
    """A producer keeps sending (acks=all) while the broker is killed; every record it
    got an acknowledgement for, before or after the crash, is found at its offset."""
    b = new_broker()
    create_topic(b.bootstrap, topic)
    acked: dict[int, bytes] = {}
    duplicate_offsets: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 2,
                  "message.timeout.ms": 60000, "retry.backoff.ms": 100})

    def on_delivery(err, m):
        if err is None:
            with lock:
                if m.offset() in acked:
                    duplicate_offsets.append(m.offset())
                acked[m.offset()] = m.value()

    def run():
        i = 0
        while not stop.is_set():
            try:
                p.produce(topic, value=f"load-{i}".encode(), on_delivery=on_delivery)
                i += 1
            except BufferError:
                pass
            p.poll(0.001 if i % 50 else 0.01)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        wait_until(lambda: len(acked) >= 3000, 120, "3000 acknowledged records")
        b.kill9()
        with lock:
            before_crash = dict(acked)
        b.start()
        wait_until(lambda: len(acked) >= len(before_crash) + 500, 120,
                   "acknowledgements to resume after the restart")
    finally:
        stop.set()
        t.join(timeout=30)
        p.flush(60)
    assert not t.is_alive()
    assert not duplicate_offsets, f"two records acknowledged at one offset: {duplicate_offsets[:5]}"
    with lock:
        final = dict(acked)
    assert before_crash.items() <= final.items()
    end = max(final) + 1
    got = CONFLUENT.consume(b.bootstrap, topic, end, timeout=120)
    stored = {g.offset: g.value for g in got}
    missing = [o for o in final if stored.get(o) != final[o]]
    assert not missing, f"{len(missing)} acknowledged records lost or changed, e.g. {missing[:5]}"
    assert sorted(stored) == list(range(end)), "offsets must stay dense"
