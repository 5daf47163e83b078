"""The HTTP listener of `weir serve` (`--http-listen`, default 127.0.0.1:9644): /healthz says
the process is alive, /readyz that the broker serves (503 and why while it does not), and
bad requests are refused without touching the Kafka side. Weir only: Kafka has no such
endpoint (it exposes JMX)."""

from __future__ import annotations

import os
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import kwire
from brokers import REPO, WeirBroker, free_port, log_tail
from helpers import create_topic, wait_until


@pytest.fixture()
def weir(broker, target):
    if target != "weir" or not isinstance(broker, WeirBroker):
        pytest.skip("Weir's own HTTP listener")
    return broker


def get(addr: str, path: str, timeout: float = 10) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{addr}{path}", timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def raw(addr: str, request: bytes, timeout: float = 10) -> bytes:
    """Sends `request` as is and returns what comes back until the server closes."""
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(request)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            out += chunk
        return out


def status_of(response: bytes) -> int:
    line = response.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) > 1 else -1


def test_health_and_readiness(weir):
    assert get(weir.http, "/healthz") == (200, "ok\n")
    wait_until(lambda: get(weir.http, "/readyz") == (200, "ready\n"), 60, "/readyz to say ready")


def test_a_node_without_its_quorum_is_alive_but_not_ready(target, tmp_path):
    if target != "weir":
        pytest.skip("Weir's own HTTP listener")
    binary = Path(os.environ.get("WEIR_BIN", REPO / "target" / "debug" / "weir"))
    # One voter of three: it cannot join a cluster until the others run, which they never do.
    voters = ",".join(f"{n}@127.0.0.1:{free_port()}" for n in (1, 2, 3))
    node = WeirBroker(binary, tmp_path / "alone", free_port(),
                      args=["--node-id", "1", "--controller-listen", voters.split(",")[0][2:],
                            "--controller-voters", voters])
    node.spawn()
    try:
        wait_until(lambda: _answers(node.http), 60,
                   f"the HTTP listener to answer\n{log_tail(node.log_path)}")
        assert get(node.http, "/healthz") == (200, "ok\n")
        status, body = get(node.http, "/readyz")
        assert (status, body) == (503, "not ready: joining the cluster\n")
        assert node.alive()
    finally:
        node.kill9()


def _answers(addr: str) -> bool:
    try:
        return get(addr, "/healthz", timeout=2)[0] == 200
    except OSError:
        return False


def test_bad_requests_are_refused_and_kafka_is_untouched(weir, topic):
    create_topic(weir.bootstrap, topic)
    batch = kwire.record_batch([kwire.Record(b"k", b"before")], int(time.time() * 1000))
    with kwire.Conn.to(weir.bootstrap) as c:
        assert c.produce(topic, 0, batch, acks=-1)[0] == kwire.NONE

    assert get(weir.http, "/no/such/page")[0] == 404
    post = raw(weir.http, b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    assert status_of(post) == 405 and b"allow: get, head" in post.lower()
    body = raw(weir.http, b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
    assert status_of(body) == 413
    big = raw(weir.http, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    assert status_of(big) == 431
    many = b"".join(f"X-H{i}: v\r\n".encode() for i in range(100))
    assert status_of(raw(weir.http, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")) == 431
    assert status_of(raw(weir.http, b"this is not http\r\n\r\n")) == 400
    assert "method not allowed" in log_tail(weir.log_path, 400)

    # Clients that connect and send nothing hold every HTTP slot; Kafka does not notice.
    host, port = weir.http.rsplit(":", 1)
    idle = [socket.create_connection((host, int(port)), timeout=10) for _ in range(80)]
    try:
        batch = kwire.record_batch([kwire.Record(b"k", b"during")], int(time.time() * 1000))
        with kwire.Conn.to(weir.bootstrap) as c:
            assert c.produce(topic, 0, batch, acks=-1)[0] == kwire.NONE
            err, hw, batches = c.fetch(topic, 0, 0)
            assert err == kwire.NONE and hw == 2
            assert [r.value for b in batches for r in b.records] == [b"before", b"during"]
    finally:
        for s in idle:
            s.close()
    # Once they are gone (or timed out), HTTP answers again.
    wait_until(lambda: _answers(weir.http), 30, "/healthz to answer again")
    assert weir.alive()
