"""Topic and broker configs with Kafka's names, types, defaults, sources and synonyms, through
confluent-kafka's AdminClient, kafka-python's KafkaAdminClient, the Java Admin client
(`KafkaCli configs`) and the `weir topic` CLI:

- DescribeConfigs of a topic: every config Kafka describes, its value, type, source
  (DYNAMIC_TOPIC_CONFIG / STATIC_BROKER_CONFIG / DEFAULT_CONFIG) and synonyms (the topic
  override first, then the broker settings it falls back to, most specific first);
  broker settings from the broker's own config file (`log.retention.minutes`,
  `log.cleaner.min.cleanable.ratio`, `log.segment.bytes`) are what a topic inherits;
- CreateTopics with configs, AlterConfigs (replaces the whole set), IncrementalAlterConfigs
  (SET, DELETE, APPEND and SUBTRACT on list configs), validate_only;
- invalid values refused with INVALID_CONFIG (topics) or INVALID_REQUEST (broker configs)
  and a message naming the key, with nothing changed;
- dynamic broker configs: the cluster-wide default (BROKER resource "") and one broker's
  own (its id) override the config file; a topic without an override inherits them, with
  the whole chain in its synonyms; deleting them falls back again; a dynamic
  `log.retention.ms` default really deletes old records;
- everything survives a broker restart;
- `weir topic create --config`, `describe` and `alter --config/--delete-config`.

The module's broker gets its own static settings (STATIC below) and a 500 ms retention
check; Kafka also gets `log.initial.task.delay.ms=0` (its first retention pass otherwise
waits 30 s after startup).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

import kwire
from brokers import BrokerSet
from clients import Msg
from helpers import admin, create_topic, now_ms, wait_partitions, wait_until
from logtools import java_configs, log_start, produce_groups

REPO = Path(__file__).resolve().parents[2]
# confluent-kafka deprecates alter_configs (AlterConfigs), which the tests use on purpose.
pytestmark = pytest.mark.filterwarnings(
    "ignore:alter_configs has been deprecated:DeprecationWarning")
WEIR = Path(os.environ.get("WEIR_BIN", REPO / "target" / "debug" / "weir"))

STATIC = {
    "log.cleaner.min.cleanable.ratio": "0.4",
    "log.retention.minutes": "4320",  # 3 days
    "log.segment.bytes": "268435456",
    "log.retention.check.interval.ms": "500",
}
THREE_DAYS_MS = "259200000"
KAFKA_ONLY = {"log.initial.task.delay.ms": "0"}

DYN_TOPIC = "DYNAMIC_TOPIC_CONFIG"
DYN_BROKER = "DYNAMIC_BROKER_CONFIG"
DYN_DEFAULT = "DYNAMIC_DEFAULT_BROKER_CONFIG"
STATIC_SRC = "STATIC_BROKER_CONFIG"
DEFAULT = "DEFAULT_CONFIG"

# Every topic config the issue names (Kafka describes more).
TOPIC_KEYS = {
    "cleanup.policy", "retention.ms", "retention.bytes", "segment.bytes", "segment.ms",
    "delete.retention.ms", "min.cleanable.dirty.ratio", "min.compaction.lag.ms",
    "max.compaction.lag.ms", "max.message.bytes", "message.timestamp.type",
    "compression.type", "min.insync.replicas", "segment.jitter.ms", "file.delete.delay.ms",
    "index.interval.bytes", "segment.index.bytes", "flush.messages", "flush.ms",
    "preallocate", "unclean.leader.election.enable", "message.timestamp.before.max.ms",
    "message.timestamp.after.max.ms",
}

# A topic without overrides on the module's broker, as Kafka 4.3.1 describes it:
# value, source, type, synonyms (name, value, source), most specific first.
INHERITED = {
    "min.cleanable.dirty.ratio": ("0.4", STATIC_SRC, "DOUBLE", [
        ("log.cleaner.min.cleanable.ratio", "0.4", STATIC_SRC),
        ("log.cleaner.min.cleanable.ratio", "0.5", DEFAULT)]),
    "segment.bytes": ("268435456", STATIC_SRC, "INT", [
        ("log.segment.bytes", "268435456", STATIC_SRC),
        ("log.segment.bytes", "1073741824", DEFAULT)]),
    "retention.bytes": ("-1", DEFAULT, "LONG", [("log.retention.bytes", "-1", DEFAULT)]),
    "delete.retention.ms": ("86400000", DEFAULT, "LONG", [
        ("log.cleaner.delete.retention.ms", "86400000", DEFAULT)]),
    "min.compaction.lag.ms": ("0", DEFAULT, "LONG", [
        ("log.cleaner.min.compaction.lag.ms", "0", DEFAULT)]),
    "max.compaction.lag.ms": ("9223372036854775807", DEFAULT, "LONG", [
        ("log.cleaner.max.compaction.lag.ms", "9223372036854775807", DEFAULT)]),
    "message.timestamp.type": ("CreateTime", DEFAULT, "STRING", [
        ("log.message.timestamp.type", "CreateTime", DEFAULT)]),
    "cleanup.policy": ("delete", DEFAULT, "LIST", [("log.cleanup.policy", "delete", DEFAULT)]),
    "max.message.bytes": ("1048588", DEFAULT, "INT", [("message.max.bytes", "1048588", DEFAULT)]),
}


@pytest.fixture(scope="module")
def _cfg_broker(target, tmp_path_factory):
    if os.environ.get("WEIR_TEST_BOOTSTRAP"):
        pytest.skip("needs its own broker; WEIR_TEST_BOOTSTRAP points at an external one")
    brokers = BrokerSet(target, tmp_path_factory)
    config = dict(STATIC, **(KAFKA_ONLY if target == "kafka" else {}))
    try:
        yield brokers.make(name="configs", config=config)
    finally:
        brokers.close_all()


@pytest.fixture
def cfg_broker(_cfg_broker):
    """The module's broker (static settings STATIC), started again if a test left it down."""
    if not _cfg_broker.alive():
        _cfg_broker.start()
    return _cfg_broker


# ------------------------------------------------------------------ describing


def kp_admin(bootstrap: str):
    from kafka import KafkaAdminClient

    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000,
                            client_id="weir-e2e-kafka-python")


def kp_describe(bootstrap: str, rtype: str, name: str, keys=None) -> dict:
    """kafka-python describe_configs (all configs, with synonyms): {key: (value, source,
    type, [(synonym, value, source), ...])}."""
    from kafka.admin import ConfigResource, ConfigResourceType

    a = kp_admin(bootstrap)
    try:
        res = ConfigResource(ConfigResourceType[rtype.upper()], name, keys)
        out = a.describe_configs([res], include_synonyms=True, config_filter="all")
    finally:
        a.close()
    entries = out[rtype.lower()][name]
    return {k: (e["value"], e["config_source"], e.get("config_type"),
                [(s["name"], s["value"], s["source"]) for s in e["synonyms"]])
            for k, e in entries.items()}


def described(bootstrap: str, rtype: str, name: str, want: dict, timeout: float = 30) -> dict:
    """kp_describe once it shows `want` ({key: (value, source)}): a change is answered
    before every broker has applied it (Kafka's brokers learn it from the metadata log)."""
    keys = list(want)

    def check():
        d = kp_describe(bootstrap, rtype, name)
        return d if all(d.get(k, (None, None))[:2] == tuple(v) for k, v in want.items()) \
            else None

    try:
        return wait_until(check, timeout, f"{rtype} {name!r} to show {want}", interval=0.2)
    except AssertionError:
        d = kp_describe(bootstrap, rtype, name, keys)
        raise AssertionError(f"{rtype} {name!r}: wanted {want}, described "
                             f"{ {k: d.get(k, (None,))[:2] for k in keys} }") from None


def cf_describe(bootstrap: str, rtype: str, name: str) -> dict:
    """confluent-kafka describe_configs: {key: ConfigEntry}."""
    from confluent_kafka.admin import ConfigResource, ResourceType

    a = admin(bootstrap)
    res = ConfigResource(ResourceType[rtype.upper()], name)
    return a.describe_configs([res], request_timeout=30)[res].result(timeout=60)


def source_name(entry) -> str:
    from confluent_kafka.admin import ConfigSource

    return ConfigSource(entry.source).name


def broker_id(bootstrap: str) -> str:
    with kwire.Conn.to(bootstrap) as c:
        return str(c.metadata([])["brokers"][0][0])


def cf_incremental(bootstrap: str, rtype: str, name: str, ops: list[tuple],
                   validate_only: bool = False):
    """confluent-kafka incremental_alter_configs; ops: (op, key, value) with op a name of
    AlterConfigOpType. Returns None or raises KafkaException."""
    from confluent_kafka.admin import (AlterConfigOpType, ConfigEntry, ConfigResource,
                                       ResourceType)

    entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType[op])
               for op, k, v in ops]
    res = ConfigResource(ResourceType[rtype.upper()], name, incremental_configs=entries)
    a = admin(bootstrap)
    return a.incremental_alter_configs([res], validate_only=validate_only,
                                       request_timeout=30)[res].result(timeout=60)


def cf_error(call) -> tuple[str, str]:
    """(error name, message) of a confluent-kafka admin call that must fail."""
    from confluent_kafka import KafkaException

    with pytest.raises(KafkaException) as e:
        call()
    err = e.value.args[0]
    return err.name(), err.str()


# ------------------------------------------------------------------ describe


def test_topic_configs_defaults_types_sources_and_synonyms(cfg_broker, topic):
    """CreateTopics with configs; DescribeConfigs as kafka-python and confluent-kafka see
    it: overrides are DYNAMIC_TOPIC_CONFIG with the broker fallbacks behind them, the rest
    come from the broker's file (STATIC_BROKER_CONFIG) or Kafka's defaults."""
    from confluent_kafka.admin import NewTopic

    bs = cfg_broker.bootstrap
    a = admin(bs)
    a.create_topics([NewTopic(topic, 1, 1, config={
        "cleanup.policy": "compact", "retention.ms": "3600000",
        "max.message.bytes": "2000000"})], request_timeout=30)[topic].result(timeout=60)
    wait_partitions(bs, topic, 1)

    d = kp_describe(bs, "topic", topic)
    assert TOPIC_KEYS <= set(d), f"not described: {sorted(TOPIC_KEYS - set(d))}"
    assert d["cleanup.policy"] == ("compact", DYN_TOPIC, "LIST", [
        ("cleanup.policy", "compact", DYN_TOPIC), ("log.cleanup.policy", "delete", DEFAULT)])
    assert d["max.message.bytes"] == ("2000000", DYN_TOPIC, "INT", [
        ("max.message.bytes", "2000000", DYN_TOPIC), ("message.max.bytes", "1048588", DEFAULT)])
    value, source, ctype, synonyms = d["retention.ms"]
    assert (value, source, ctype) == ("3600000", DYN_TOPIC, "LONG")
    assert synonyms[0] == ("retention.ms", "3600000", DYN_TOPIC)
    for key, want in INHERITED.items():
        if key not in ("cleanup.policy", "max.message.bytes"):
            assert d[key] == want, key
    assert d["segment.ms"][:3] == ("604800000", DEFAULT, "LONG")

    # confluent-kafka: the same values and sources, is_default only for Kafka's defaults.
    cf = cf_describe(bs, "topic", topic)
    assert TOPIC_KEYS <= set(cf)
    for key in ("cleanup.policy", "retention.ms", "max.message.bytes",
                "min.cleanable.dirty.ratio", "retention.bytes"):
        assert cf[key].value == d[key][0], key
        assert source_name(cf[key]) == d[key][1], key
        assert cf[key].is_default == (d[key][1] == DEFAULT), key
        assert not cf[key].is_read_only and not cf[key].is_sensitive, key

    # A topic without overrides: the broker's file is what it inherits;
    # log.retention.minutes=4320 is a retention.ms of three days.
    plain = topic + "-plain"
    create_topic(bs, plain)
    d = kp_describe(bs, "topic", plain)
    for key, want in INHERITED.items():
        assert d[key] == want, key
    assert d["retention.ms"][0] == THREE_DAYS_MS


def test_broker_configs_described_with_static_and_default_sources(cfg_broker):
    """The BROKER resource: settings from the config file are STATIC_BROKER_CONFIG (with
    Kafka's default behind them), the rest DEFAULT_CONFIG."""
    bs = cfg_broker.bootstrap
    bid = broker_id(bs)
    d = kp_describe(bs, "broker", bid)
    assert d["log.cleaner.min.cleanable.ratio"] == ("0.4", STATIC_SRC, "DOUBLE", [
        ("log.cleaner.min.cleanable.ratio", "0.4", STATIC_SRC),
        ("log.cleaner.min.cleanable.ratio", "0.5", DEFAULT)])
    assert d["log.segment.bytes"] == ("268435456", STATIC_SRC, "INT", [
        ("log.segment.bytes", "268435456", STATIC_SRC),
        ("log.segment.bytes", "1073741824", DEFAULT)])
    assert d["log.retention.minutes"][:3] == ("4320", STATIC_SRC, "INT")
    assert d["log.retention.check.interval.ms"][:3] == ("500", STATIC_SRC, "LONG")
    assert d["log.retention.bytes"][:3] == ("-1", DEFAULT, "LONG")
    assert d["log.cleanup.policy"][:3] == ("delete", DEFAULT, "LIST")
    assert d["message.max.bytes"][:3] == ("1048588", DEFAULT, "INT")
    assert d["log.cleaner.delete.retention.ms"][:3] == ("86400000", DEFAULT, "LONG")
    # confluent-kafka addresses the broker by its id too.
    cf = cf_describe(bs, "broker", bid)
    assert cf["log.cleaner.min.cleanable.ratio"].value == "0.4"
    assert source_name(cf["log.cleaner.min.cleanable.ratio"]) == STATIC_SRC


# ------------------------------------------------------------------ altering


def test_alter_configs_confluent(cfg_broker, topic):
    """IncrementalAlterConfigs SET / DELETE / APPEND / SUBTRACT and validate_only, then the
    legacy AlterConfigs, which replaces the whole set of overrides."""
    from confluent_kafka.admin import ConfigResource, ResourceType

    bs = cfg_broker.bootstrap
    create_topic(bs, topic, config={"cleanup.policy": "compact", "max.message.bytes": "2000000"})

    cf_incremental(bs, "topic", topic, [("SET", "retention.ms", "7200000"),
                                        ("DELETE", "max.message.bytes", None),
                                        ("APPEND", "cleanup.policy", "delete")])
    described(bs, "topic", topic, {"retention.ms": ("7200000", DYN_TOPIC),
                                   "max.message.bytes": ("1048588", DEFAULT),
                                   "cleanup.policy": ("compact,delete", DYN_TOPIC)})
    cf_incremental(bs, "topic", topic, [("SUBTRACT", "cleanup.policy", "compact")])
    described(bs, "topic", topic, {"cleanup.policy": ("delete", DYN_TOPIC)})

    # validate_only: checked, not applied (a later real change is seen, this one never).
    cf_incremental(bs, "topic", topic, [("SET", "retention.ms", "5000")], validate_only=True)
    cf_incremental(bs, "topic", topic, [("SET", "segment.ms", "3600000")])
    described(bs, "topic", topic, {"segment.ms": ("3600000", DYN_TOPIC),
                                   "retention.ms": ("7200000", DYN_TOPIC)})

    # AlterConfigs (the legacy call): the given set replaces every override.
    a = admin(bs)
    res = ConfigResource(ResourceType.TOPIC, topic, set_config={"retention.bytes": "123456789"})
    a.alter_configs([res], request_timeout=30)[res].result(timeout=60)
    d = described(bs, "topic", topic, {"retention.bytes": ("123456789", DYN_TOPIC),
                                       "cleanup.policy": ("delete", DEFAULT),
                                       "segment.ms": ("604800000", DEFAULT)})
    assert d["retention.ms"][0] == THREE_DAYS_MS and d["retention.ms"][1] != DYN_TOPIC
    d = cf_describe(bs, "topic", topic)
    assert d["retention.bytes"].value == "123456789" and not d["retention.bytes"].is_default
    assert d["cleanup.policy"].is_default


def test_alter_configs_kafka_python(cfg_broker, topic):
    """kafka-python's alter_configs (IncrementalAlterConfigs by default, AlterConfigs with
    incremental=False, which re-sends the other overrides so they stay) and
    reset_configs (DELETE)."""
    from kafka.admin import ConfigResource, ConfigResourceType

    bs = cfg_broker.bootstrap
    create_topic(bs, topic, config={"segment.ms": "100000"})
    a = kp_admin(bs)
    try:
        ok = {"topic": {topic: "OK"}}
        assert a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                               {"retention.ms": "7000000"})]) == ok
        described(bs, "topic", topic, {"retention.ms": ("7000000", DYN_TOPIC)})
        assert a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                               {"delete.retention.ms": "1000"})],
                               incremental=False) == ok
        d = described(bs, "topic", topic, {"retention.ms": ("7000000", DYN_TOPIC),
                                           "delete.retention.ms": ("1000", DYN_TOPIC),
                                           "segment.ms": ("100000", DYN_TOPIC)})
        assert d["delete.retention.ms"][3] == [
            ("delete.retention.ms", "1000", DYN_TOPIC),
            ("log.cleaner.delete.retention.ms", "86400000", DEFAULT)]
        assert a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                               {"segment.ms": "5000"})],
                               validate_only=True) == ok
        assert a.reset_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                               ["retention.ms"])]) == ok
    finally:
        a.close()
    d = wait_until(lambda: (lambda d: d if d["retention.ms"].value == THREE_DAYS_MS else None)(
        cf_describe(bs, "topic", topic)), 30, "retention.ms back to the broker's")
    assert source_name(d["retention.ms"]) != DYN_TOPIC
    assert d["segment.ms"].value == "100000"  # validate_only changed nothing
    assert d["delete.retention.ms"].value == "1000"


# Invalid topic config values: (key, value); Kafka answers INVALID_CONFIG and names the key.
BAD_TOPIC_VALUES = [
    ("retention.ms", "abc"), ("retention.ms", "-2"), ("segment.bytes", "100"),
    ("segment.ms", "0"), ("cleanup.policy", "bogus"), ("min.cleanable.dirty.ratio", "1.5"),
    ("message.timestamp.type", "Bogus"), ("delete.retention.ms", "-1"),
    ("max.message.bytes", "-1"), ("min.compaction.lag.ms", "-1"), ("nosuch.key", "1"),
]


def test_invalid_configs_are_rejected_naming_the_key(cfg_broker, topic):
    from kafka.admin import ConfigResource, ConfigResourceType

    bs = cfg_broker.bootstrap
    create_topic(bs, topic, config={"retention.ms": "3600000"})
    before = kp_describe(bs, "topic", topic)
    a = admin(bs)
    from confluent_kafka.admin import ConfigResource as CfResource
    from confluent_kafka.admin import NewTopic, ResourceType

    for key, value in BAD_TOPIC_VALUES:
        what = f"{key}={value}"
        # CreateTopics with the bad config: refused, nothing created.
        bad = f"{topic}-bad"
        name, msg = cf_error(lambda: a.create_topics(
            [NewTopic(bad, 1, 1, config={key: value})], request_timeout=30)[bad].result(60))
        assert name == "INVALID_CONFIG" and key in msg, (what, name, msg)
        # IncrementalAlterConfigs and AlterConfigs through confluent-kafka.
        name, msg = cf_error(lambda: cf_incremental(bs, "topic", topic, [("SET", key, value)]))
        assert name == "INVALID_CONFIG" and key in msg, (what, name, msg)
        res = CfResource(ResourceType.TOPIC, topic, set_config={key: value})
        name, msg = cf_error(lambda: a.alter_configs([res], request_timeout=30)[res].result(60))
        assert name == "INVALID_CONFIG" and key in msg, (what, name, msg)
    with kwire.Conn.to(bs) as c:
        assert c.metadata([f"{topic}-bad"])["topics"][f"{topic}-bad"]["error"] == \
            kwire.UNKNOWN_TOPIC_OR_PARTITION

    # kafka-python reports each resource's error as a string; its create_topics raises.
    from kafka.errors import InvalidConfigurationError

    k = kp_admin(bs)
    try:
        for key, value in (("retention.ms", "abc"), ("segment.bytes", "100"),
                           ("nosuch.key", "1")):
            for incremental in (True, False):
                r = k.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                                    {key: value})],
                                    raise_on_unknown=False, incremental=incremental)
                err = r["topic"][topic]
                assert err.startswith("[Error 40] InvalidConfigurationError") and key in err, err
        with pytest.raises(InvalidConfigurationError) as e:
            k.create_topics({f"{topic}-bad": {"num_partitions": 1, "replication_factor": 1,
                                              "configs": {"cleanup.policy": "bogus"}}})
        assert "cleanup.policy" in str(e.value)
        # Broker configs: Kafka answers INVALID_REQUEST, naming the key.
        bid = broker_id(bs)
        r = k.alter_configs([ConfigResource(ConfigResourceType.BROKER, bid,
                                            {"log.retention.ms": "abc"})])
        err = r["broker"][bid]
        assert err.startswith("[Error 42] InvalidRequestError") and "log.retention.ms" in err, err
    finally:
        k.close()
    bid = broker_id(bs)
    for key, value in (("log.retention.ms", "abc"), ("log.cleaner.min.cleanable.ratio", "2"),
                       ("log.segment.bytes", "10")):
        name, msg = cf_error(lambda: cf_incremental(bs, "broker", bid, [("SET", key, value)]))
        assert name == "INVALID_REQUEST" and key in msg, (key, name, msg)

    # The Java Admin client: the broker's exception class and message.
    r = java_configs(bs, "alter", "topic", topic, ops=[("SET", "retention.ms", "abc")])
    assert r["error"] == "InvalidConfigurationException" and "retention.ms" in r["message"], r
    r = java_configs(bs, "alter", "broker", "", ops=[("SET", "log.retention.ms", "abc")])
    assert r["error"] == "InvalidRequestException" and "log.retention.ms" in r["message"], r

    # Nothing changed.
    assert kp_describe(bs, "topic", topic) == before
    d = kp_describe(bs, "broker", bid, ["log.retention.ms", "log.cleaner.min.cleanable.ratio"])
    assert d["log.cleaner.min.cleanable.ratio"][:2] == ("0.4", STATIC_SRC)
    assert d["log.retention.ms"][1] in (DEFAULT, STATIC_SRC)


# ------------------------------------------------------------------ dynamic broker configs


def test_dynamic_broker_configs_default_and_per_broker(cfg_broker, topic):
    """A cluster-wide default (BROKER "") set with the Java Admin, one broker's own value
    (BROKER <id>) with confluent-kafka, described by all three admin clients; a topic
    without an override inherits the most specific one and lists the whole chain; deleting
    each falls back to the next."""
    from kafka.admin import ConfigResource, ConfigResourceType

    bs = cfg_broker.bootstrap
    bid = broker_id(bs)
    create_topic(bs, topic)
    ratio = "log.cleaner.min.cleanable.ratio"
    topic_ratio = "min.cleanable.dirty.ratio"
    try:
        r = java_configs(bs, "alter", "broker", "", ops=[("SET", ratio, "0.25"),
                                                         ("SET", "log.retention.ms", "7200000")])
        assert r == {"ok": True}, r
        d = described(bs, "topic", topic, {topic_ratio: ("0.25", DYN_DEFAULT),
                                           "retention.ms": ("7200000", DYN_DEFAULT)})
        assert d[topic_ratio] == ("0.25", DYN_DEFAULT, "DOUBLE", [
            (ratio, "0.25", DYN_DEFAULT), (ratio, "0.4", STATIC_SRC), (ratio, "0.5", DEFAULT)])
        assert d["retention.ms"][2] == "LONG"
        assert d["retention.ms"][3][0] == ("log.retention.ms", "7200000", DYN_DEFAULT)
        cluster = java_configs(bs, "describe", "broker", "")["configs"]
        assert (cluster[ratio]["value"], cluster[ratio]["source"]) == ("0.25", DYN_DEFAULT)
        assert (cluster["log.retention.ms"]["value"], cluster["log.retention.ms"]["source"]) \
            == ("7200000", DYN_DEFAULT)
        d = described(bs, "broker", bid, {ratio: ("0.25", DYN_DEFAULT)})
        assert d[ratio][3] == [(ratio, "0.25", DYN_DEFAULT), (ratio, "0.4", STATIC_SRC),
                               (ratio, "0.5", DEFAULT)]

        # This broker's own value wins over the cluster default.
        cf_incremental(bs, "broker", bid, [("SET", ratio, "0.3")])
        d = described(bs, "broker", bid, {ratio: ("0.3", DYN_BROKER)})
        assert d[ratio] == ("0.3", DYN_BROKER, "DOUBLE", [
            (ratio, "0.3", DYN_BROKER), (ratio, "0.25", DYN_DEFAULT),
            (ratio, "0.4", STATIC_SRC), (ratio, "0.5", DEFAULT)])
        d = described(bs, "topic", topic, {topic_ratio: ("0.3", DYN_BROKER)})
        assert d[topic_ratio][3] == [(ratio, "0.3", DYN_BROKER), (ratio, "0.25", DYN_DEFAULT),
                                     (ratio, "0.4", STATIC_SRC), (ratio, "0.5", DEFAULT)]
        cf = cf_describe(bs, "broker", bid)
        assert (cf[ratio].value, source_name(cf[ratio])) == ("0.3", DYN_BROKER)
        # A topic override still wins, with everything behind it.
        cf_incremental(bs, "topic", topic, [("SET", topic_ratio, "0.9")])
        d = described(bs, "topic", topic, {topic_ratio: ("0.9", DYN_TOPIC)})
        assert d[topic_ratio][3] == [
            (topic_ratio, "0.9", DYN_TOPIC), (ratio, "0.3", DYN_BROKER),
            (ratio, "0.25", DYN_DEFAULT), (ratio, "0.4", STATIC_SRC), (ratio, "0.5", DEFAULT)]
        cf_incremental(bs, "topic", topic, [("DELETE", topic_ratio, None)])
        described(bs, "topic", topic, {topic_ratio: ("0.3", DYN_BROKER)})

        # Deleting the broker's own value (kafka-python reset_configs) falls back to the
        # cluster default.
        k = kp_admin(bs)
        try:
            assert k.reset_configs([ConfigResource(ConfigResourceType.BROKER, bid, [ratio])]) \
                == {"broker": {bid: "OK"}}
        finally:
            k.close()
        described(bs, "topic", topic, {topic_ratio: ("0.25", DYN_DEFAULT)})
        described(bs, "broker", bid, {ratio: ("0.25", DYN_DEFAULT)})
    finally:
        cf_incremental(bs, "broker", bid, [("DELETE", ratio, None)])
        java_configs(bs, "alter", "broker", "", ops=[("DELETE", ratio),
                                                     ("DELETE", "log.retention.ms")])
    d = described(bs, "topic", topic, {topic_ratio: ("0.4", STATIC_SRC)})
    assert d["retention.ms"][0] == THREE_DAYS_MS
    cluster = java_configs(bs, "describe", "broker", "")["configs"]
    assert ratio not in cluster and "log.retention.ms" not in cluster, cluster


def test_dynamic_retention_default_deletes_old_records(cfg_broker, topic):
    """A cluster-wide log.retention.ms set at runtime applies to a topic without an
    override: records older than it go, newer ones stay; a topic with its own retention.ms
    keeps its records."""
    bs = cfg_broker.bootstrap
    kept = topic + "-own"
    create_topic(bs, topic, config={"segment.ms": "1000"})
    create_topic(bs, kept, config={"segment.ms": "1000", "retention.ms": "-1"})
    now = now_ms()
    groups = [[Msg(b"k", b"old-%d" % i, timestamp=now - 7_200_000 + i) for i in range(3)],
              [Msg(b"k", b"new-%d" % i, timestamp=now + i) for i in range(2)]]
    for t in (topic, kept):
        assert produce_groups(bs, t, groups) == [[0, 1, 2], [3, 4]]
    try:
        java_configs(bs, "alter", "broker", "", ops=[("SET", "log.retention.ms", "3600000")])
        wait_until(lambda: log_start(bs, topic) == 3, 30,
                   "the cluster-wide retention to delete the 2 h old segment")
    finally:
        java_configs(bs, "alter", "broker", "", ops=[("DELETE", "log.retention.ms")])
    assert log_start(bs, kept) == 0
    from logtools import read_confluent

    assert [g.value for g in read_confluent(bs, topic)] == [b"new-0", b"new-1"]
    assert len(read_confluent(bs, kept)) == 5


# ------------------------------------------------------------------ restart


def test_configs_survive_a_restart(cfg_broker, topic):
    """Topic configs (created with, altered, deleted) and dynamic broker configs (cluster
    default and per broker) are the same after a clean restart."""
    bs = cfg_broker.bootstrap
    bid = broker_id(bs)
    create_topic(bs, topic, config={"cleanup.policy": "compact,delete", "retention.ms": "86400000",
                                    "max.message.bytes": "3000000"})
    cf_incremental(bs, "topic", topic, [("SET", "segment.ms", "3600000"),
                                        ("DELETE", "max.message.bytes", None),
                                        ("SET", "min.compaction.lag.ms", "1000")])
    try:
        java_configs(bs, "alter", "broker", "", ops=[("SET", "log.cleaner.delete.retention.ms",
                                                      "3600000")])
        cf_incremental(bs, "broker", bid, [("SET", "log.cleaner.min.cleanable.ratio", "0.35")])
        keys = ["cleanup.policy", "retention.ms", "max.message.bytes", "segment.ms",
                "min.compaction.lag.ms", "delete.retention.ms", "min.cleanable.dirty.ratio"]

        described(bs, "topic", topic, {
            "cleanup.policy": ("compact,delete", DYN_TOPIC),
            "retention.ms": ("86400000", DYN_TOPIC),
            "max.message.bytes": ("1048588", DEFAULT),
            "segment.ms": ("3600000", DYN_TOPIC),
            "min.compaction.lag.ms": ("1000", DYN_TOPIC),
            "delete.retention.ms": ("3600000", DYN_DEFAULT),
            "min.cleanable.dirty.ratio": ("0.35", DYN_BROKER)})
        before = kp_describe(bs, "topic", topic, keys)
        broker_before = kp_describe(bs, "broker", bid, ["log.cleaner.delete.retention.ms",
                                                        "log.cleaner.min.cleanable.ratio"])

        cfg_broker.restart()
        wait_partitions(bs, topic, 1)
        assert kp_describe(bs, "topic", topic, keys) == before
        assert kp_describe(bs, "broker", bid, ["log.cleaner.delete.retention.ms",
                                               "log.cleaner.min.cleanable.ratio"]) == broker_before
        cluster = java_configs(bs, "describe", "broker", "")["configs"]
        assert cluster["log.cleaner.delete.retention.ms"]["value"] == "3600000"
    finally:
        cf_incremental(bs, "broker", bid, [("DELETE", "log.cleaner.min.cleanable.ratio", None)])
        java_configs(bs, "alter", "broker", "", ops=[("DELETE", "log.cleaner.delete.retention.ms")])


# ------------------------------------------------------------------ the weir CLI


def weir_topic(bootstrap: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run([str(WEIR), "topic", "--bootstrap", bootstrap, *args],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "RUST_BACKTRACE": "0"})
    if ok:
        assert res.returncode == 0, res.stderr
    return res


def cli_configs(out: str) -> dict[str, tuple[str, str]]:
    """The `configs:` section of `weir topic describe`: {key: (value, origin)}."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "configs:")
    got = {}
    for line in lines[start + 1:]:
        m = re.fullmatch(r"\s+(\S+?)=(\S*) \((\w+)\)", line)
        if m:
            got[m.group(1)] = (m.group(2), m.group(3))
    return got


def cli_partitions(out: str) -> dict[int, tuple[int, int]]:
    """{partition: (start, end)} from `weir topic describe`'s table."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == ["PARTITION"])
    header = lines[start].split()
    rows = {}
    for line in lines[start + 1:]:
        f = line.split()
        if len(f) != len(header) or not f[0].isdigit():
            break
        r = dict(zip(header, f))
        rows[int(r["PARTITION"])] = (int(r["START"]), int(r["END"]))
    return rows


def test_weir_topic_cli_create_describe_alter(broker, topic):
    """`weir topic` against the broker under test: create with --config, describe (the
    overrides, and log start/end offsets that follow DeleteRecords), alter --config and
    --delete-config, and a refused value reported with the broker's error and the key."""
    from confluent_kafka import TopicPartition

    bs = broker.bootstrap
    weir_topic(bs, "create", topic, "--partitions", "2", "--config", "retention.ms=3600000",
               "--config", "cleanup.policy=compact,delete")
    wait_partitions(bs, topic, 2)
    out = weir_topic(bs, "describe", topic).stdout
    cfg = cli_configs(out)
    assert cfg["retention.ms"] == ("3600000", "topic"), out
    assert cfg["cleanup.policy"] == ("compact,delete", "topic"), out
    assert "max.message.bytes" not in cfg, out  # a default is not an override
    assert cli_partitions(out) == {0: (0, 0), 1: (0, 0)}, out
    d = cf_describe(bs, "topic", topic)
    assert (d["retention.ms"].value, source_name(d["retention.ms"])) == ("3600000", DYN_TOPIC)

    weir_topic(bs, "alter", topic, "--config", "retention.ms=7200000",
               "--config", "max.message.bytes=2000000")
    cfg = cli_configs(weir_topic(bs, "describe", topic).stdout)
    assert cfg["retention.ms"] == ("7200000", "topic")
    assert cfg["max.message.bytes"] == ("2000000", "topic")
    weir_topic(bs, "alter", topic, "--delete-config", "max.message.bytes")
    cfg = cli_configs(weir_topic(bs, "describe", topic).stdout)
    assert "max.message.bytes" not in cfg and cfg["retention.ms"] == ("7200000", "topic")
    d = cf_describe(bs, "topic", topic)
    assert d["max.message.bytes"].is_default and d["retention.ms"].value == "7200000"

    # Refusals name the error and the key; nothing changes.
    res = weir_topic(bs, "alter", topic, "--config", "retention.ms=abc", ok=False)
    assert res.returncode != 0 and "INVALID_CONFIG" in res.stderr \
        and "retention.ms" in res.stderr, res.stderr
    res = weir_topic(bs, "create", topic + "-bad", "--config", "segment.bytes=100", ok=False)
    assert res.returncode != 0 and "INVALID_CONFIG" in res.stderr \
        and "segment.bytes" in res.stderr, res.stderr
    assert cli_configs(weir_topic(bs, "describe", topic).stdout)["retention.ms"] == \
        ("7200000", "topic")

    # Start and end offsets as records arrive and DeleteRecords moves the start.
    produce_groups(bs, topic, [[Msg(b"k%d" % i, b"v%d" % i) for i in range(5)]], partition=1)
    a = admin(bs)
    [fut] = a.delete_records([TopicPartition(topic, 1, 3)], request_timeout=30).values()
    assert fut.result(timeout=60).low_watermark == 3
    assert cli_partitions(weir_topic(bs, "describe", topic).stdout) == {0: (0, 0), 1: (3, 5)}
