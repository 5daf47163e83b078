"""kcat command lines as a person types them: -L metadata, -P with -K/-H, -C -e."""

from __future__ import annotations

import json
import subprocess

from clients import kcat_bin
from helpers import create_topic, wait_until


def kcat(*args: str, stdin: bytes | None = None, timeout: float = 60) -> bytes:
    res = subprocess.run([kcat_bin(), *args], input=stdin, capture_output=True, timeout=timeout,
                         stdin=None if stdin is not None else subprocess.DEVNULL)
    assert res.returncode == 0, f"kcat {args} exited {res.returncode}: {res.stderr[-2000:]!r}"
    return res.stdout


def test_kcat_lists_brokers_and_topics(broker, topic):
    create_topic(broker.bootstrap, topic, partitions=3)

    def listing():
        md = json.loads(kcat("-L", "-b", broker.bootstrap, "-J"))
        topics = {t["topic"]: t for t in md["topics"]}
        return md if topic in topics and len(topics[topic]["partitions"]) == 3 else None

    md = wait_until(listing, 30, f"kcat -L to show {topic}")
    host, port = broker.bootstrap.rsplit(":", 1)
    assert [b["name"] for b in md["brokers"]] == [f"{host}:{port}"]
    [t] = [t for t in md["topics"] if t["topic"] == topic]
    assert sorted(p["partition"] for p in t["partitions"]) == [0, 1, 2]
    broker_id = md["brokers"][0]["id"]
    for p in t["partitions"]:
        assert p["leader"] == broker_id
        assert [r["id"] for r in p["replicas"]] == [broker_id]
    text = kcat("-L", "-b", broker.bootstrap, "-t", topic).decode()
    assert f'topic "{topic}" with 3 partitions' in text


def test_kcat_produce_then_consume_with_keys_and_headers(broker, topic):
    create_topic(broker.bootstrap, topic)
    lines = b"alpha:one\nbeta:two\ngamma:three\n"
    kcat("-P", "-b", broker.bootstrap, "-t", topic, "-K", ":", "-H", "app=weir", "-H",
         "trace=1", "-H", "trace=2", stdin=lines)
    kcat("-P", "-b", broker.bootstrap, "-t", topic, "-k", "delta", stdin=b"four\n")
    out = kcat("-C", "-b", broker.bootstrap, "-t", topic, "-o", "beginning", "-e", "-q",
               "-f", "%o|%k|%s|%h\n").decode()
    assert out.splitlines() == [
        "0|alpha|one|app=weir,trace=1,trace=2",
        "1|beta|two|app=weir,trace=1,trace=2",
        "2|gamma|three|app=weir,trace=1,trace=2",
        "3|delta|four|",
    ]
    # -e stops at the end of the partition; reading again from an offset works too.
    out = kcat("-C", "-b", broker.bootstrap, "-t", topic, "-o", "2", "-e", "-q", "-K", "=")
    assert out.decode().splitlines() == ["gamma=three", "delta=four"]
