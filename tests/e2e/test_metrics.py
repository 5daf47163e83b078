"""`GET /metrics`: what a real client does shows up in the Prometheus exposition, parsed by
the Prometheus project's parsers (and `promtool check metrics`): records and bytes per
topic, requests per API and version, errors per code, phase latencies, and consumer lag
per group, topic and partition that the broker computes itself, for classic and KIP-848
groups. Series stay bounded: per-partition series stop above a partition count, and a
deleted topic's series go.

The lag expectations are checked against Kafka's own view (the admin client's committed
offsets against the log end), so the lag tests also run on the Kafka reference, where only
the /metrics part is skipped."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from brokers import WeirBroker
from clients import unique_group
from cluster import NotYet
from helpers import create_topic, wait_until
from scrape import get, metrics_text, openmetrics, samples, value


def weir_only(broker) -> None:
    if not isinstance(broker, WeirBroker):
        pytest.skip("Weir's /metrics (Kafka exposes JMX)")


def produce(bootstrap: str, topic: str, n: int, partitions: int = 1, value: bytes = b"v" * 100) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(n):
        p.produce(topic, key=f"k{i}".encode(), value=value, partition=i % partitions)
    assert p.flush(30) == 0


def consume(bootstrap: str, topic: str, group: str, n: int, protocol: str = "classic") -> None:
    """Reads `n` records in group `group` and commits what it read."""
    conf = {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
            "enable.auto.commit": False}
    if protocol == "consumer":
        conf["group.protocol"] = "consumer"
    c = Consumer(conf)
    c.subscribe([topic])
    got = 0
    deadline = time.monotonic() + 60
    try:
        while got < n and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            got += 1
        assert got >= n, f"read {got} of {n}"
        c.commit(asynchronous=False)
    finally:
        c.close()


def kafka_lag(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """Lag per partition as Kafka's admin API shows it: log end minus committed offset."""
    a = AdminClient({"bootstrap.servers": bootstrap})
    req = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(partitions)])]
    committed = {tp.partition: tp.offset
                 for tp in a.list_consumer_group_offsets(req)[group].result(30).topic_partitions}
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_group()})
    try:
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
                for p in range(partitions)}
    finally:
        c.close()
    return {p: ends[p] - committed[p] for p in range(partitions) if committed.get(p, -1) >= 0}


def test_traffic_shows_in_metrics_that_real_parsers_accept(broker, topic):
    weir_only(broker)
    create_topic(broker.bootstrap, topic, partitions=2)
    group = unique_group()
    produce(broker.bootstrap, topic, 30, partitions=2)
    consume(broker.bootstrap, topic, group, 30)

    s = samples(broker.http)
    assert s[("weir_topic_records_in_total", (("topic", topic),))] == 30
    assert s[("weir_topic_bytes_in_total", (("topic", topic),))] > 30 * 100
    wait_until(lambda: value(broker.http, "weir_topic_records_out_total", topic=topic) == 30,
               30, "records out to count the consumer's 30")
    produce_requests = sum(v for (name, labels), v in s.items()
                           if name == "weir_requests_total" and ("api", "Produce") in labels)
    assert produce_requests >= 1
    assert s[("weir_request_time_seconds_count", (("api", "Produce"), ("phase", "total")))] >= 1
    assert s[("weir_log_segments", (("partition", "0"), ("topic", topic)))] >= 1
    assert s[("weir_partition_high_watermark", (("partition", "1"), ("topic", topic)))] == 15
    assert s[("weir_active_controller", ())] == 1
    # The consumer's group is known to this broker (it coordinates it), so its fetches
    # count toward the end-to-end latency of that group.
    assert s[("weir_fetch_record_age_seconds_count", (("group", group), ("topic", topic)))] >= 1

    # A request that fails is counted by its error code.
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    fut = a.create_topics([NewTopic(topic, 1)], request_timeout=30)[topic]
    with pytest.raises(Exception):
        fut.result(30)
    assert value(broker.http, "weir_request_errors_total", api="CreateTopics",
                 error="TOPIC_ALREADY_EXISTS") >= 1

    # OpenMetrics when asked for, through the strict parser.
    names = {f.name for f in openmetrics(broker.http)}
    assert {"weir_topic_records_in", "weir_consumer_group_lag", "weir_request_time_seconds"} <= names

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool (Debian's prometheus package) is not installed")
    check = subprocess.run([promtool, "check", "metrics"], input=metrics_text(broker.http),
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_the_broker_computes_consumer_lag(broker, topic, protocol):
    create_topic(broker.bootstrap, topic, partitions=2)
    group = unique_group()
    produce(broker.bootstrap, topic, 40, partitions=2)
    consume(broker.bootstrap, topic, group, 40, protocol)
    produce(broker.bootstrap, topic, 30, partitions=2)  # 15 more in each partition
    want = {0: 15, 1: 15}
    assert kafka_lag(broker.bootstrap, group, topic, 2) == want
    if not isinstance(broker, WeirBroker):
        return  # the expectation holds on Kafka; it has no /metrics to compare with

    def lag_seen():
        s = samples(broker.http)
        got = {p: s.get(("weir_consumer_group_lag",
                         (("group", group), ("partition", str(p)), ("topic", topic))))
               for p in want}
        return True if got == want else NotYet(got)
    wait_until(lag_seen, 30, f"the broker's lag of {group} to be {want}")
    s = samples(broker.http)
    assert s[("weir_consumer_group_topic_lag", (("group", group), ("topic", topic)))] == 30
    assert s[("weir_consumer_group_total_lag", (("group", group),))] == 30
    assert s[("weir_consumer_group_lag_stable",
              (("group", group), ("partition", "0"), ("topic", topic)))] == 15
    kind = "consumer" if protocol == "consumer" else "classic"
    states = [labels for (name, labels), v in s.items()
              if name == "weir_consumer_group_state" and ("group", group) in labels and v == 1]
    assert len(states) == 1 and ("type", kind) in states[0], states


def test_series_stay_bounded_and_go_with_their_topic(new_broker, target, topic):
    if target != "weir":
        pytest.skip("Weir's /metrics (Kafka exposes JMX)")
    b = new_broker(config={"metrics.partition.series.limit": "2",
                           "metrics.sample.interval.ms": "500"})
    wide, narrow = f"{topic}-wide", f"{topic}-narrow"
    create_topic(b.bootstrap, wide, partitions=3)
    create_topic(b.bootstrap, narrow, partitions=2)
    produce(b.bootstrap, wide, 9, partitions=3)
    produce(b.bootstrap, narrow, 4, partitions=2)
    group = unique_group()
    consume(b.bootstrap, wide, group, 9)

    s = samples(b.http)
    per_partition = {dict(labels).get("topic") for (name, labels) in s
                     if name == "weir_log_size_bytes"}
    assert narrow in per_partition and wide not in per_partition
    assert s[("weir_topic_records_in_total", (("topic", wide),))] == 9
    assert s[("weir_topic_log_size_bytes", (("topic", wide),))] > 0
    # The wide topic's lag is exported per topic, not per partition.
    wait_until(lambda: value(b.http, "weir_consumer_group_topic_lag", group=group, topic=wide) == 0,
               30, "the group's topic lag")
    assert not any(name == "weir_consumer_group_lag" and ("topic", wide) in labels
                   for (name, labels) in samples(b.http))
    assert value(b.http, "weir_fetch_record_age_seconds_count", topic=wide, group=group) >= 1

    a = AdminClient({"bootstrap.servers": b.bootstrap})
    for fut in a.delete_topics([wide, narrow], operation_timeout=30).values():
        fut.result(60)

    def gone():
        text = metrics_text(b.http)
        left = [line for line in text.splitlines()
                if f'topic="{wide}"' in line or f'topic="{narrow}"' in line]
        return True if not left else NotYet(left[:3])
    wait_until(gone, 30, "a deleted topic's series to disappear")


def test_metrics_bad_requests(broker):
    weir_only(broker)
    status, _, _ = get(broker.http, "/metrics/extra")
    assert status == 404
    # A scrape is a GET: anything else is refused without touching the broker.
    req = urllib.request.Request(f"http://{broker.http}/metrics", method="DELETE")
    try:
        urllib.request.urlopen(req, timeout=10)
        raise AssertionError("DELETE /metrics answered 2xx")
    except urllib.error.HTTPError as e:
        assert e.code == 405
    assert get(broker.http, "/healthz")[0] == 200
