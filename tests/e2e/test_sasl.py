"""SASL on a SASL_PLAINTEXT listener, set up with Kafka's own keys (listeners,
listener.security.protocol.map, sasl.enabled.mechanisms, listener.name.*.sasl.jaas.config)
so that the same broker configuration serves Weir and Kafka 4.3.1: PLAIN users from the JAAS
line, SCRAM-SHA-256 and -512 users created through AlterUserScramCredentials by an admin
logged in with PLAIN. Real clients log in with each mechanism (confluent-kafka, kafka-python,
kcat) and produce and consume; wrong passwords, unknown users and mechanisms are refused; and
on the wire, nothing but ApiVersions and SASL is served before authentication, hostile SASL
tokens get an error and a closed connection, and the broker keeps serving everyone else."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import (
    AdminClient,
    NewTopic,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

import kwire
from brokers import WeirBroker, free_port, log_tail
from clients import kcat_bin
from helpers import wait_until

ADMIN_PW, ALICE_PW, BOB_PW, CAROL_PW = "admin-pw", "alice-pw", "bob-pw", "carol-pw"
JAAS_PLAIN = ('org.apache.kafka.common.security.plain.PlainLoginModule required '
              f'username="admin" password="{ADMIN_PW}" user_admin="{ADMIN_PW}" '
              f'user_alice="{ALICE_PW}";')
JAAS_SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
SASL_KEYS = {
    "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
    "sasl.mechanism.inter.broker.protocol": "PLAIN",
    "listener.name.sasl_plaintext.plain.sasl.jaas.config": JAAS_PLAIN,
    "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config": JAAS_SCRAM,
    "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": JAAS_SCRAM,
    "connection.failed.authentication.delay.ms": "100",
}


@pytest.fixture(scope="module")
def sasl_broker(target, tmp_path_factory):
    """A broker whose only client listener is SASL_PLAINTEXT, with users admin and alice
    (PLAIN), bob (SCRAM-SHA-256) and carol (SCRAM-SHA-512)."""
    from brokers import BrokerSet

    bs = BrokerSet(target, tmp_path_factory)
    port = free_port()
    if target == "kafka":
        from brokers import KafkaBroker

        cport = free_port()
        config = {
            **SASL_KEYS,
            "listeners": f"SASL_PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
            "advertised.listeners": f"SASL_PLAINTEXT://127.0.0.1:{port}",
            "inter.broker.listener.name": "SASL_PLAINTEXT",
            "listener.security.protocol.map": "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
        }
        b = KafkaBroker(tmp_path_factory.mktemp("sasl") / "kafka", port, config=config,
                        args=["--controller-port", str(cport)])
    else:
        from pathlib import Path

        from brokers import REPO

        binary = Path(os.environ.get("WEIR_BIN", REPO / "target" / "debug" / "weir"))
        config = {**SASL_KEYS, "listeners": f"SASL_PLAINTEXT://127.0.0.1:{port}"}
        b = WeirBroker(binary, tmp_path_factory.mktemp("sasl") / "data", port, config=config)
    bs.made.append(b)
    os.environ["KWIRE_SASL_PLAIN"] = f"admin:{ADMIN_PW}"  # the readiness probe logs in
    try:
        b.start()
    finally:
        del os.environ["KWIRE_SASL_PLAIN"]
    a = AdminClient(login(b, "PLAIN", "admin", ADMIN_PW))
    futs = a.alter_user_scram_credentials([
        UserScramCredentialUpsertion("bob", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096),
                                     BOB_PW.encode()),
        UserScramCredentialUpsertion("carol", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192),
                                     CAROL_PW.encode()),
    ])
    for f in futs.values():
        f.result(60)
    yield b
    bs.close_all()


def login(b, mechanism: str, user: str, password: str) -> dict:
    return {"bootstrap.servers": b.bootstrap, "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": mechanism, "sasl.username": user, "sasl.password": password}


def create(b, topic: str) -> None:
    a = AdminClient(login(b, "PLAIN", "admin", ADMIN_PW))
    a.create_topics([NewTopic(topic, 1, 1)])[topic].result(60)


@pytest.mark.parametrize("mechanism,user,password", [
    ("PLAIN", "alice", ALICE_PW),
    ("SCRAM-SHA-256", "bob", BOB_PW),
    ("SCRAM-SHA-512", "carol", CAROL_PW),
])
def test_confluent_kafka_logs_in_produces_and_consumes(sasl_broker, topic, mechanism, user,
                                                       password):
    create(sasl_broker, topic)
    conf = login(sasl_broker, mechanism, user, password)
    p = Producer(conf)
    for i in range(5):
        p.produce(topic, value=f"{mechanism}-{i}".encode())
    assert p.flush(30) == 0
    c = Consumer({**conf, "group.id": f"g-{topic}", "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got = []
    deadline = time.monotonic() + 60
    while len(got) < 5 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got.append(m.value().decode())
    c.close()
    assert got == [f"{mechanism}-{i}" for i in range(5)]


def test_kafka_python_logs_in_with_scram_and_kcat_with_plain(sasl_broker, topic):
    """(Debian's kcat is built on librdkafka 2.0.2, whose SCRAM sends its nonce twice in the
    final message: Kafka 4.3 refuses it, and so does Weir. It logs in with PLAIN.)"""
    from kafka import KafkaConsumer, KafkaProducer

    create(sasl_broker, topic)
    common = dict(bootstrap_servers=sasl_broker.bootstrap, security_protocol="SASL_PLAINTEXT",
                  sasl_mechanism="SCRAM-SHA-256", sasl_plain_username="bob",
                  sasl_plain_password=BOB_PW)
    prod = KafkaProducer(**common)
    prod.send(topic, b"from-kafka-python").get(timeout=30)
    prod.close()
    kcat = [kcat_bin(), "-b", sasl_broker.bootstrap, "-X", "security.protocol=SASL_PLAINTEXT",
            "-X", "sasl.mechanism=PLAIN", "-X", "sasl.username=alice",
            "-X", f"sasl.password={ALICE_PW}"]
    subprocess.run(kcat + ["-P", "-t", topic], input="from-kcat\n", text=True, check=True,
                   timeout=60, capture_output=True)
    out = subprocess.run(kcat + ["-C", "-t", topic, "-o", "beginning", "-e", "-q"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.split() == ["from-kafka-python", "from-kcat"]
    cons = KafkaConsumer(topic, auto_offset_reset="earliest", consumer_timeout_ms=10000,
                         **common)
    assert [m.value for m in cons] == [b"from-kafka-python", b"from-kcat"]
    cons.close()


@pytest.mark.parametrize("mechanism,user,password", [
    ("PLAIN", "alice", "wrong"),
    ("PLAIN", "mallory", ALICE_PW),
    ("SCRAM-SHA-256", "bob", "wrong"),
    ("SCRAM-SHA-512", "mallory", "x"),
    ("SCRAM-SHA-512", "bob", BOB_PW),  # bob has no SCRAM-SHA-512 credential
])
def test_bad_logins_are_refused(sasl_broker, mechanism, user, password):
    a = AdminClient({**login(sasl_broker, mechanism, user, password),
                     "reconnect.backoff.ms": 1000})
    with pytest.raises(KafkaException) as e:
        a.list_topics(timeout=10)
    assert e.value.args[0].name() in ("_AUTHENTICATION", "_TRANSPORT", "_TIMED_OUT"), e.value


def sasl_handshake(c: kwire.Conn, mechanism: str) -> tuple[int, list[str]]:
    r = c.request(17, 1, kwire.string(mechanism))
    code = r.i16()
    return code, r.array(lambda x: x.string())


def test_nothing_but_sasl_before_authentication(sasl_broker, topic):
    b = sasl_broker
    # ApiVersions is served.
    with kwire.Conn.to(b.bootstrap) as c:
        versions = c.api_versions()
        assert 17 in versions and 36 in versions
    # Metadata before authentication: closed, no answer.
    with kwire.Conn.to(b.bootstrap) as c:
        c.send_raw(c.frame(3, 1, kwire.i32(-1)))
        assert c.wait_closed(10)
    # An unknown mechanism: UNSUPPORTED_SASL_MECHANISM with the enabled ones, then closed.
    with kwire.Conn.to(b.bootstrap) as c:
        code, mechs = sasl_handshake(c, "GSSAPI")
        assert code == 33 and set(mechs) == {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}
        assert c.wait_closed(10)
    # A wrong PLAIN password: SASL_AUTHENTICATION_FAILED, then closed.
    with kwire.Conn.to(b.bootstrap) as c:
        assert sasl_handshake(c, "PLAIN")[0] == 0
        r = c.request(36, 1, kwire.kbytes(b"\0alice\0nope"))
        assert r.i16() == 58
        assert c.wait_closed(10)
    # SaslAuthenticate before SaslHandshake: ILLEGAL_SASL_STATE or a closed connection.
    with kwire.Conn.to(b.bootstrap) as c:
        c.send_raw(c.frame(36, 1, kwire.kbytes(b"\0alice\0" + ALICE_PW.encode())))
        try:
            _, r = c.recv_response()
            assert r.i16() == 34
        except kwire.Closed:
            pass
        assert c.wait_closed(10)


@pytest.mark.parametrize("first", [
    b"n,,n=bob,r=",                      # empty nonce
    b"y,,n=bob,r=abc",                   # channel binding asked for
    b"n,,n=b=ob,r=abc",                  # bad escape
    b"\xff\xfe garbage",
])
def test_hostile_scram_messages_get_an_error_and_a_closed_connection(sasl_broker, first):
    with kwire.Conn.to(sasl_broker.bootstrap, timeout=20) as c:
        assert sasl_handshake(c, "SCRAM-SHA-256")[0] == 0
        c.send_raw(c.frame(36, 1, kwire.kbytes(first)))
        try:
            _, r = c.recv_response()
            assert r.i16() == 58
        except kwire.Closed:
            pass
        assert c.wait_closed(10)


def test_a_bad_client_final_and_an_oversized_token(sasl_broker):
    with kwire.Conn.to(sasl_broker.bootstrap, timeout=20) as c:
        assert sasl_handshake(c, "SCRAM-SHA-256")[0] == 0
        r = c.request(36, 1, kwire.kbytes(b"n,,n=bob,r=clientnonce"))
        assert r.i16() == 0
        r.string()
        server_first = r.kbytes().decode()
        nonce = server_first.split(",")[0][2:]
        final = f"c=biws,r={nonce},p=" + "A" * 43 + "="
        r = c.request(36, 1, kwire.kbytes(final.encode()))
        assert r.i16() == 58
        assert c.wait_closed(10)
    with kwire.Conn.to(sasl_broker.bootstrap, timeout=20) as c:
        assert sasl_handshake(c, "PLAIN")[0] == 0
        try:
            c.send_raw(c.frame(36, 1, kwire.kbytes(b"\0" * 600_000)))
        except OSError:
            pass
        assert c.wait_closed(10)


def test_many_failed_logins_and_the_broker_serves_on(sasl_broker, topic):
    b = sasl_broker
    for _ in range(1000):
        with kwire.Conn.to(b.bootstrap) as c:
            assert sasl_handshake(c, "PLAIN")[0] == 0
            c.send_raw(c.frame(36, 1, kwire.kbytes(b"\0alice\0guess")))
    create(b, topic)
    p = Producer(login(b, "SCRAM-SHA-512", "carol", CAROL_PW))
    p.produce(topic, value=b"still-serving")
    assert p.flush(30) == 0
    if isinstance(b, WeirBroker):
        log = b.log_path.read_text(errors="replace")
        assert "authentication failed" in log
        for secret in (ALICE_PW, BOB_PW, CAROL_PW, ADMIN_PW, "guess"):
            assert secret not in log, f"{secret!r} is in the broker log"
        wait_until(lambda: _failures(b) >= 1000, 60, "the failures to be counted")


def _failures(b) -> float:
    from scrape import value

    return value(b.http, "weir_authentication_failures_total") or 0


REAUTH_MS = 3000


@pytest.fixture(scope="module")
def reauth_broker(target, tmp_path_factory):
    """A SASL_PLAINTEXT broker whose sessions last REAUTH_MS (connections.max.reauth.ms)."""
    from secured import start_broker

    keys = {**SASL_KEYS, "connections.max.reauth.ms": str(REAUTH_MS)}
    bs, b = start_broker(target, tmp_path_factory, "reauth", keys,
                         {"SASL_PLAINTEXT": free_port()}, login=f"admin:{ADMIN_PW}")
    yield b
    bs.close_all()


def plain_login(c, user: str, password: str) -> tuple[int, int]:
    """SaslHandshake v1 + SaslAuthenticate v1 with PLAIN: (error code, session lifetime ms)."""
    assert sasl_handshake(c, "PLAIN")[0] == 0
    r = c.request(36, 1, kwire.kbytes(b"\0" + user.encode() + b"\0" + password.encode()))
    code = r.i16()
    r.string()  # error message
    r.kbytes()  # auth bytes
    return code, r.i64()


def test_sessions_expire_and_clients_reauthenticate(reauth_broker, topic):
    b = reauth_broker
    # The broker tells the client how long its session lasts (KIP-368).
    with kwire.Conn.to(b.bootstrap) as c:
        code, lifetime = plain_login(c, "alice", ALICE_PW)
        assert code == 0 and 0 < lifetime <= REAUTH_MS
        # Re-authenticating on the same connection, as the same user, renews the session.
        assert plain_login(c, "alice", ALICE_PW)[0] == 0
        assert c.metadata([])["brokers"]
        # An expired session is refused: requests are served until it expires, then the
        # next one closes the connection.
        def closed_by_a_request() -> bool:
            try:
                c.metadata([])
                return False
            except (kwire.Closed, OSError):
                return True
        wait_until(closed_by_a_request, REAUTH_MS / 1000 + 10, "the expired session to end",
                   interval=0.2)
    # Re-authenticating as someone else is refused.
    with kwire.Conn.to(b.bootstrap) as c:
        assert plain_login(c, "alice", ALICE_PW)[0] == 0
        assert plain_login(c, "admin", ADMIN_PW)[0] == 58
        assert c.wait_closed(10)
    # A real client re-authenticates by itself and keeps working past several lifetimes.
    create(b, topic)
    p = Producer(login(b, "PLAIN", "alice", ALICE_PW))
    deadline = time.monotonic() + 3 * REAUTH_MS / 1000
    sent = 0
    while time.monotonic() < deadline:
        p.produce(topic, value=f"r-{sent}".encode())
        sent += 1
        assert p.flush(10) == 0
        time.sleep(0.25)
    assert sent >= 10


def test_scram_users_given_when_the_cluster_is_formatted(target, tmp_path_factory):
    """`weir serve --add-scram`, as Kafka's `kafka-storage format --add-scram`: the user
    exists from the first start; on later starts the flag changes nothing."""
    if target != "weir" or os.environ.get("WEIR_TEST_BOOTSTRAP"):
        pytest.skip("--add-scram is weir serve's; Kafka's is kafka-storage format --add-scram")
    from secured import WEIR_BIN

    port = free_port()
    config = {**SASL_KEYS, "listeners": f"SASL_PLAINTEXT://127.0.0.1:{port}"}
    b = WeirBroker(WEIR_BIN, tmp_path_factory.mktemp("format") / "data", port, config=config,
                   args=["--add-scram", "SCRAM-SHA-512=[name=root,password=root-pw]"])
    os.environ["KWIRE_SASL_PLAIN"] = f"admin:{ADMIN_PW}"
    try:
        b.start()

        def works(password: str) -> bool:
            a = AdminClient({**login(b, "SCRAM-SHA-512", "root", password),
                             "socket.timeout.ms": 4000})
            try:
                a.list_topics(timeout=8)
                return True
            except KafkaException:
                return False

        assert works("root-pw")
        assert not works("other-pw")
        b.stop()
        b.args = ["--add-scram", "SCRAM-SHA-512=[name=root,password=other-pw]"]
        b.start()
        assert works("root-pw")
        assert not works("other-pw")
        # The broker never logs it (the harness's own "=== start" lines show the command).
        logged = [line for line in open(b.log_path, errors="replace")
                  if not line.startswith("=== start")]
        assert not any("root-pw" in line for line in logged)
    finally:
        del os.environ["KWIRE_SASL_PLAIN"]
        b.kill9()


@pytest.mark.parametrize("client", ["java", "kafka-python"])
def test_java_and_kafka_python_log_in_with_plain(sasl_broker, topic, client):
    """The rest of the SASL_PLAINTEXT + PLAIN row: the Java client and kafka-python."""
    from clients import Java, KafkaPython, Msg, all_ok

    create(sasl_broker, topic)
    if client == "java":
        c = Java()
        extra = {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
                 "sasl.jaas.config": "org.apache.kafka.common.security.plain.PlainLoginModule "
                                     f'required username="alice" password="{ALICE_PW}";'}
    else:
        c = KafkaPython()
        extra = {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
                 "sasl_plain_username": "alice", "sasl_plain_password": ALICE_PW}
    msgs = [Msg(f"k{i}".encode(), f"{client}-{i}".encode()) for i in range(5)]
    all_ok(c.produce(sasl_broker.bootstrap, topic, msgs, extra=extra))
    got = c.consume(sasl_broker.bootstrap, topic, 5, partition=0, offset=0, extra=extra)
    assert [g.value for g in got] == [m.value for m in msgs]
