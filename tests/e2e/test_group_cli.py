"""`weir group list|describe|reset-offsets|delete` against the broker under test (the CLI
speaks the Kafka protocol, so it runs against Apache Kafka too): members, committed offsets,
log end offsets and lag per partition, and offset resets of an inactive group."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from clients import unique_group
from groups import Member, wait_records
from helpers import create_topic, wait_until
from test_groups import everything, produce

REPO = Path(__file__).resolve().parents[2]
WEIR = Path(os.environ.get("WEIR_BIN", REPO / "target" / "debug" / "weir"))


def weir(bootstrap: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run([str(WEIR), "group", "--bootstrap", bootstrap, *args],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "RUST_BACKTRACE": "0"})
    if ok:
        assert res.returncode == 0, res.stderr
    return res


def table(out: str) -> list[dict[str, str]]:
    """The rows of the CLI's table whose header starts with TOPIC, as dicts."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("TOPIC"))
    header = lines[start].split()
    return [dict(zip(header, line.split())) for line in lines[start + 1:] if line.strip()
            and not line.startswith(("reset", "dry run"))]


def offsets(bootstrap: str, group: str) -> dict[int, tuple[str, str, str]]:
    rows = table(weir(bootstrap, "describe", group).stdout)
    return {int(r["PARTITION"]): (r["CURRENT-OFFSET"], r["LOG-END-OFFSET"], r["LAG"])
            for r in rows if r["TOPIC"] != "-"}


@pytest.fixture
def committed_group(broker, topic):
    """A group that consumed and committed 5 records in each of 2 partitions, then left."""
    create_topic(broker.bootstrap, topic, partitions=2)
    produce(broker.bootstrap, topic, 5, 2)
    group = unique_group()
    m = Member("confluent", broker.bootstrap, topic, group)
    try:
        wait_records(m, everything(5, 2))
        out = weir(broker.bootstrap, "describe", group).stdout
        assert "Stable" in out and "rdkafka" in out, out
        m.commit()
        m.close()
    finally:
        m.kill9()
    return group


def test_list_and_describe_show_offsets_and_lag(broker, topic, committed_group):
    group = committed_group
    listed = weir(broker.bootstrap, "list").stdout
    assert any(line.split()[:2] == [group, "Empty"] for line in listed.splitlines()), listed
    assert offsets(broker.bootstrap, group) == {0: ("5", "5", "0"), 1: ("5", "5", "0")}
    produce(broker.bootstrap, topic, 3, 1, tag="more")
    assert offsets(broker.bootstrap, group)[0] == ("5", "8", "3")


def test_reset_offsets_earliest_latest_offset_and_time(broker, topic, committed_group):
    group = committed_group
    dry = weir(broker.bootstrap, "reset-offsets", group, "--topic", topic, "--to-earliest")
    assert "dry run" in dry.stdout
    assert offsets(broker.bootstrap, group)[0][0] == "5", "a dry run changed the offsets"
    weir(broker.bootstrap, "reset-offsets", group, "--topic", topic, "--to-earliest", "--execute")
    assert offsets(broker.bootstrap, group) == {0: ("0", "5", "5"), 1: ("0", "5", "5")}
    weir(broker.bootstrap, "reset-offsets", group, "--topic", topic, "--to-offset", "2",
         "--execute")
    assert offsets(broker.bootstrap, group) == {0: ("2", "5", "3"), 1: ("2", "5", "3")}
    weir(broker.bootstrap, "reset-offsets", group, "--topic", topic, "--to-latest", "--execute")
    assert offsets(broker.bootstrap, group) == {0: ("5", "5", "0"), 1: ("5", "5", "0")}
    # By time: records produced from now on come after the reset point.
    cut = int(time.time() * 1000) + 1  # later than every record so far
    wait_until(lambda: time.time() * 1000 >= cut, 5, "the clock to pass the cut")
    produce(broker.bootstrap, topic, 2, 2, tag="late")
    weir(broker.bootstrap, "reset-offsets", group, "--all-topics", "--to-timestamp", str(cut),
         "--execute")
    assert offsets(broker.bootstrap, group) == {0: ("5", "7", "2"), 1: ("5", "7", "2")}
    # The group resumes where it was reset to.
    m = Member("kafka-python", broker.bootstrap, topic, group)
    try:
        wait_records(m, everything(2, 2, start=5))
        assert min(o for _, o in m.records()) == 5
    finally:
        m.kill9()


def test_reset_refused_while_the_group_is_active_and_delete(broker, topic):
    create_topic(broker.bootstrap, topic, partitions=1)
    group = unique_group()
    m = Member("confluent", broker.bootstrap, topic, group)
    try:
        wait_until(lambda: m.assignment() == {0}, 60, "the member's assignment")
        res = weir(broker.bootstrap, "reset-offsets", group, "--topic", topic, "--to-earliest",
                   "--execute", ok=False)
        assert res.returncode != 0 and "no active members" in res.stderr, res.stderr
        res = weir(broker.bootstrap, "delete", group, ok=False)
        assert res.returncode != 0 and "NON_EMPTY_GROUP" in res.stderr, res.stderr
        m.close()
    finally:
        m.kill9()
    weir(broker.bootstrap, "delete", group)
    res = weir(broker.bootstrap, "describe", group, ok=False)
    assert res.returncode != 0 and "does not exist" in res.stderr
