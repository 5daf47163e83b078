"""TLS listeners, set up with Kafka's own keys so that one broker configuration serves Weir
and Kafka 4.3.1: `listeners` with PLAINTEXT (inter-broker), SSL (client certificates
required) and SASL_SSL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), a PEM keystore and trust
store (`ssl.keystore.type=PEM`) from a CA the test makes with openssl. Real clients
(confluent-kafka, kafka-python, kcat, the Java client) connect over SSL with a client
certificate and over SASL_SSL, and produce and consume; each listener advertises its own
endpoints; clients without a certificate, with one from an unknown CA, or with a revoked one
are refused; TLS garbage and stalled handshakes get a closed connection while everyone
else is served; and Weir reloads a replaced certificate without a restart."""

from __future__ import annotations

import os
import socket

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    NewTopic,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

import kwire
from brokers import free_port, log_tail
from clients import Confluent, Java, KafkaPython, Kcat, Msg, all_ok
from helpers import wait_until
from secured import start_broker
from tlscerts import Ca

ADMIN_PW, ALICE_PW, BOB_PW, CAROL_PW = "admin-pw", "alice-pw", "bob-pw", "carol-pw"
JAAS_PLAIN = ('org.apache.kafka.common.security.plain.PlainLoginModule required '
              f'user_admin="{ADMIN_PW}" user_alice="{ALICE_PW}";')
JAAS_SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule required;"


class Setup:
    def __init__(self, broker, ca, other_ca, clients, ports):
        self.broker = broker
        self.ca = ca
        self.other_ca = other_ca
        self.clients = clients  # name -> tlscerts.Client
        self.plain, self.ssl, self.sasl_ssl = ports

    def bootstrap(self, listener: str) -> str:
        port = {"PLAINTEXT": self.plain, "SSL": self.ssl, "SASL_SSL": self.sasl_ssl}[listener]
        return f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def tls(target, tmp_path_factory):
    """A broker with PLAINTEXT, SSL and SASL_SSL listeners; SCRAM users bob (SHA-256) and
    carol (SHA-512), PLAIN users admin and alice."""
    certs = tmp_path_factory.mktemp("certs")
    ca = Ca(certs / "ca", "weir-test-ca")
    other_ca = Ca(certs / "other", "nobody-trusts-this-ca")
    server = ca.sign("broker", "/O=Weir Test/CN=broker", server=True)
    clients = {
        "alice": ca.sign("alice", "/C=US/O=Weir Test/OU=ops/CN=alice"),
        "revoked": ca.sign("revoked", "/O=Weir Test/CN=revoked"),
        "mallory": other_ca.sign("mallory", "/O=Elsewhere/CN=mallory"),
    }
    ca.revoke(clients["revoked"])
    ports = (free_port(), free_port(), free_port())
    plain, ssl, sasl_ssl = ports
    keys = {
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(server.pem),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(ca.cert),
        "listener.name.ssl.ssl.client.auth": "required",
        "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        "listener.name.sasl_ssl.plain.sasl.jaas.config": JAAS_PLAIN,
        "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": JAAS_SCRAM,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": JAAS_SCRAM,
        "connection.failed.authentication.delay.ms": "100",
    }
    bs, b = start_broker(target, tmp_path_factory, "tls", keys,
                         {"PLAINTEXT": plain, "SSL": ssl, "SASL_SSL": sasl_ssl},
                         weir_only={"ssl.crl.location": str(ca.crl),
                                    # The console and /metrics over TLS, with HTTP Basic.
                                    "http.tls.listener": "SASL_SSL", "http.auth": "basic"})
    a = AdminClient({"bootstrap.servers": b.bootstrap})
    futs = a.alter_user_scram_credentials([
        UserScramCredentialUpsertion("bob", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096),
                                     BOB_PW.encode()),
        UserScramCredentialUpsertion("carol", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192),
                                     CAROL_PW.encode()),
    ])
    for f in futs.values():
        f.result(60)
    yield Setup(b, ca, other_ca, clients, ports)
    bs.close_all()


def create(s: Setup, topic: str) -> None:
    a = AdminClient({"bootstrap.servers": s.bootstrap("PLAINTEXT")})
    a.create_topics([NewTopic(topic, 1, 1)])[topic].result(60)


def librdkafka_ssl(s: Setup, who: str | None = "alice") -> dict:
    conf = {"security.protocol": "SSL", "ssl.ca.location": str(s.ca.cert)}
    if who is not None:
        c = s.clients[who]
        conf.update({"ssl.certificate.location": str(c.cert), "ssl.key.location": str(c.key)})
    return conf


def librdkafka_sasl(s: Setup, mechanism: str, user: str, password: str) -> dict:
    return {"security.protocol": "SASL_SSL", "ssl.ca.location": str(s.ca.cert),
            "sasl.mechanism": mechanism, "sasl.username": user, "sasl.password": password}


def python_ssl(s: Setup) -> dict:
    c = s.clients["alice"]
    return {"security_protocol": "SSL", "ssl_cafile": str(s.ca.cert),
            "ssl_certfile": str(c.cert), "ssl_keyfile": str(c.key)}


def python_sasl(s: Setup, mechanism: str, user: str, password: str) -> dict:
    return {"security_protocol": "SASL_SSL", "ssl_cafile": str(s.ca.cert),
            "sasl_mechanism": mechanism, "sasl_plain_username": user,
            "sasl_plain_password": password}


def java_ssl(s: Setup) -> dict:
    return {"security.protocol": "SSL", "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(s.ca.cert), "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(s.clients["alice"].pem)}


def java_sasl(s: Setup, mechanism: str, user: str, password: str) -> dict:
    module = ("org.apache.kafka.common.security.plain.PlainLoginModule" if mechanism == "PLAIN"
              else "org.apache.kafka.common.security.scram.ScramLoginModule")
    return {"security.protocol": "SASL_SSL", "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(s.ca.cert), "sasl.mechanism": mechanism,
            "sasl.jaas.config": f'{module} required username="{user}" password="{password}";'}


def round_trip(client, s: Setup, topic: str, listener: str, extra: dict, n: int = 6) -> None:
    """Produces `n` records through `listener` with `extra` and reads them back."""
    create(s, topic)
    msgs = [Msg(f"key-{i}".encode(), f"{listener}-{i}".encode() * (i + 1)) for i in range(n)]
    all_ok(client.produce(s.bootstrap(listener), topic, msgs, extra=extra))
    got = client.consume(s.bootstrap(listener), topic, n, partition=0, offset=0, extra=extra)
    assert [g.value for g in got] == [m.value for m in msgs]


# ---------------------------------------------------------------- real clients


@pytest.mark.parametrize("listener,mechanism,user,password", [
    ("SSL", None, None, None),
    ("SASL_SSL", "PLAIN", "alice", ALICE_PW),
    ("SASL_SSL", "SCRAM-SHA-256", "bob", BOB_PW),
    ("SASL_SSL", "SCRAM-SHA-512", "carol", CAROL_PW),
])
def test_confluent_kafka_over_tls(tls, topic, listener, mechanism, user, password):
    extra = (librdkafka_ssl(tls) if listener == "SSL"
             else librdkafka_sasl(tls, mechanism, user, password))
    round_trip(Confluent(), tls, topic, listener, extra)


@pytest.mark.parametrize("listener,mechanism,user,password", [
    ("SSL", None, None, None),
    ("SASL_SSL", "SCRAM-SHA-256", "bob", BOB_PW),
    ("SASL_SSL", "SCRAM-SHA-512", "carol", CAROL_PW),
])
def test_kafka_python_over_tls(tls, topic, listener, mechanism, user, password):
    extra = (python_ssl(tls) if listener == "SSL"
             else python_sasl(tls, mechanism, user, password))
    round_trip(KafkaPython(), tls, topic, listener, extra)


@pytest.mark.parametrize("listener,mechanism,user,password", [
    ("SSL", None, None, None),
    ("SASL_SSL", "PLAIN", "alice", ALICE_PW),
])
def test_kcat_over_tls(tls, topic, listener, mechanism, user, password):
    # Debian's kcat (librdkafka 2.0.2) sends a SCRAM nonce that Kafka 4.3 refuses too; it
    # logs in with PLAIN here, and with SCRAM on a newer librdkafka below.
    extra = (librdkafka_ssl(tls) if listener == "SSL"
             else librdkafka_sasl(tls, mechanism, user, password))
    round_trip(Kcat(), tls, topic, listener, extra)


@pytest.mark.parametrize("listener,mechanism,user,password", [
    ("SSL", None, None, None),
    ("SASL_SSL", "SCRAM-SHA-512", "carol", CAROL_PW),
    ("SASL_SSL", "SCRAM-SHA-256", "bob", BOB_PW),
])
def test_java_client_over_tls(tls, topic, listener, mechanism, user, password):
    extra = java_ssl(tls) if listener == "SSL" else java_sasl(tls, mechanism, user, password)
    round_trip(Java(), tls, topic, listener, extra)


def test_each_listener_advertises_its_own_endpoint(tls):
    for listener, extra in [("PLAINTEXT", {}), ("SSL", librdkafka_ssl(tls)),
                            ("SASL_SSL", librdkafka_sasl(tls, "PLAIN", "alice", ALICE_PW))]:
        a = AdminClient({"bootstrap.servers": tls.bootstrap(listener), **extra})
        md = a.list_topics(timeout=30)
        ports = {b.port for b in md.brokers.values()}
        assert ports == {int(tls.bootstrap(listener).rsplit(":", 1)[1])}, (listener, ports)


# ---------------------------------------------------------------- refusals


def refused(conf: dict) -> bool:
    """Whether a client with `conf` cannot get metadata (within 8 s)."""
    a = AdminClient({**conf, "socket.timeout.ms": 4000})
    try:
        a.list_topics(timeout=8)
    except KafkaException:
        return True
    return False


def test_clients_without_a_trusted_certificate_are_refused(tls):
    base = {"bootstrap.servers": tls.bootstrap("SSL")}
    assert refused({**base, **librdkafka_ssl(tls, who=None)})
    assert refused({**base, **librdkafka_ssl(tls, who="mallory")})
    # A client that does not trust the broker's CA refuses the broker.
    assert refused({**base, "security.protocol": "SSL", "ssl.ca.location": str(tls.other_ca.cert),
                    "ssl.certificate.location": str(tls.clients["alice"].cert),
                    "ssl.key.location": str(tls.clients["alice"].key)})
    # And the right certificate still works.
    assert not refused({**base, **librdkafka_ssl(tls)})


def test_a_wrong_password_over_sasl_ssl_is_refused(tls):
    base = {"bootstrap.servers": tls.bootstrap("SASL_SSL")}
    assert refused({**base, **librdkafka_sasl(tls, "SCRAM-SHA-512", "carol", "wrong")})
    assert refused({**base, **librdkafka_sasl(tls, "PLAIN", "alice", "wrong")})
    assert not refused({**base, **librdkafka_sasl(tls, "SCRAM-SHA-512", "carol", CAROL_PW)})


def test_a_revoked_certificate_is_refused(tls):
    if tls.broker.kind == "kafka":
        pytest.skip("Kafka checks revocation only through the JVM's PKIX settings, not a "
                    "broker key; Weir reads a CRL file (ssl.crl.location)")
    base = {"bootstrap.servers": tls.bootstrap("SSL")}
    assert refused({**base, **librdkafka_ssl(tls, who="revoked")})
    assert not refused({**base, **librdkafka_ssl(tls)})


# ---------------------------------------------------------------- hostile input


def test_tls_garbage_and_stalled_handshakes_do_not_disturb_others(tls):
    host, port = "127.0.0.1", tls.ssl
    # A plaintext Kafka request to the TLS port, and random bytes: closed.
    body = kwire.i16(18) + kwire.i16(0) + kwire.i32(1) + kwire.string("junk")
    api_versions = kwire.i32(len(body)) + body
    for junk in [api_versions, os.urandom(4096), b"\x16\x03\x01\xff\xff" + b"A" * 100]:
        with socket.create_connection((host, port), timeout=10) as s:
            s.sendall(junk)
            s.settimeout(15)
            try:
                while s.recv(4096):
                    pass
            except ConnectionResetError:
                pass
    # Clients that stop mid-handshake hold nothing others need.
    stalled = []
    for _ in range(20):
        s = socket.create_connection((host, port), timeout=10)
        s.sendall(b"\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03")  # a ClientHello, cut short
        stalled.append(s)
    try:
        assert not refused({"bootstrap.servers": tls.bootstrap("SSL"), **librdkafka_ssl(tls)})
        assert kwire.probe(tls.bootstrap("PLAINTEXT"))
    finally:
        for s in stalled:
            s.close()
    assert tls.broker.alive(), log_tail(tls.broker.log_path)


def test_a_replaced_certificate_is_served_without_a_restart(tls, tmp_path):
    if tls.broker.kind == "kafka":
        pytest.skip("Kafka reloads keystores through AlterConfigs (KIP-226); Weir watches "
                    "the files")
    server_pem = tls.ca.dir / "broker.keystore.pem"
    before = server_pem.read_text()
    new_ca = Ca(tmp_path / "new", "renewed-ca")
    renewed = new_ca.sign("broker", "/O=Weir Test/CN=broker-renewed", server=True)
    # The trust store stays: clients must trust the new CA to see the new certificate.
    new_client = {"bootstrap.servers": tls.bootstrap("SASL_SSL"),
                  **librdkafka_sasl(tls, "PLAIN", "alice", ALICE_PW),
                  "ssl.ca.location": str(new_ca.cert)}
    assert refused(new_client)
    try:
        server_pem.write_text(renewed.pem.read_text())
        wait_until(lambda: not refused(new_client), timeout=60,
                   what="the renewed certificate being served")
    finally:
        server_pem.write_text(before)
    old_client = {"bootstrap.servers": tls.bootstrap("SASL_SSL"),
                  **librdkafka_sasl(tls, "PLAIN", "alice", ALICE_PW)}
    wait_until(lambda: not refused(old_client), timeout=60, what="the first certificate back")
    assert tls.broker.alive()


# ---------------------------------------------------------------- between brokers


def test_replication_between_brokers_runs_over_tls(target, tmp_path_factory, topic):
    """Three Weir nodes whose inter-broker listener is SSL with client certificates
    required: replica fetches (and every other broker-to-broker request) go through TLS,
    each broker showing its own certificate, and acks=all writes are replicated."""
    from cluster import NODES, converged, create, require_own_weir, start_voters
    from confluent_kafka import Producer

    require_own_weir(target)
    from secured import WEIR_BIN, ConfigListenersNode

    tmp = tmp_path_factory.mktemp("tls-cluster")
    ca = Ca(tmp / "ca", "cluster-ca")
    cports = {n: free_port() for n in NODES}
    voters = ",".join(f"{n}@127.0.0.1:{cports[n]}" for n in NODES)
    nodes, internal = {}, {}
    for n in NODES:
        cert = ca.sign(f"broker{n}", f"/O=Weir Test/CN=broker{n}", server=True)
        port, internal[n] = free_port(), free_port()
        config = {
            "listeners": f"PLAINTEXT://127.0.0.1:{port},BROKER://127.0.0.1:{internal[n]}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,BROKER:SSL",
            "inter.broker.listener.name": "BROKER",
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(cert.pem),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(ca.cert),
            "ssl.client.auth": "required",
        }
        nodes[n] = ConfigListenersNode(WEIR_BIN, tmp / f"node{n}", port, config=config,
                        args=["--node-id", str(n), "--controller-listen",
                              f"127.0.0.1:{cports[n]}", "--controller-voters", voters,
                              "--replica-lag-time-max-ms", "5000"])
    try:
        start_voters(nodes, NODES)
        # The inter-broker port speaks only TLS.
        assert not kwire.probe(f"127.0.0.1:{internal[1]}")
        create(nodes, topic, 3, min_isr=3)
        p = Producer({"bootstrap.servers": nodes[1].bootstrap, "acks": "all",
                      "enable.idempotence": True})
        for i in range(300):
            p.produce(topic, key=str(i).encode(), value=b"v" * 100)
        assert p.flush(60) == 0
        assert converged(nodes, topic)
        a = AdminClient({"bootstrap.servers": nodes[2].bootstrap})
        md = a.list_topics(timeout=30)
        # Clients of the PLAINTEXT listener are sent PLAINTEXT endpoints.
        assert {b.port for b in md.brokers.values()} == {nodes[n].port for n in NODES}
    finally:
        for b in nodes.values():
            b.kill9()


def test_the_weir_cli_speaks_tls(tls, topic):
    """`weir` commands take --tls-ca (and a client certificate) for an SSL listener."""
    import subprocess

    from secured import WEIR_BIN

    create(tls, topic)
    alice = tls.clients["alice"]
    base = [str(WEIR_BIN), "topic", "list", "--bootstrap", tls.bootstrap("SSL"),
            "--tls-ca", str(tls.ca.cert)]
    ok = subprocess.run(base + ["--tls-cert", str(alice.cert), "--tls-key", str(alice.key)],
                        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert ok.returncode == 0, ok.stderr
    assert topic in ok.stdout.split()
    # The SSL listener requires a client certificate.
    refused = subprocess.run(base, capture_output=True, text=True, timeout=60,
                             stdin=subprocess.DEVNULL)
    assert refused.returncode != 0


def test_the_http_listener_takes_the_same_users_over_tls(tls):
    """Weir's HTTP listener with `http.tls.listener=SASL_SSL` and `http.auth=basic`: health and
    readiness open, /metrics and the console only for users of the Kafka listeners (PLAIN and
    SCRAM), over TLS only; bad credentials get 401 and the broker serves on."""
    if tls.broker.kind == "kafka":
        pytest.skip("Kafka has no HTTP listener")
    import base64
    import ssl
    import urllib.error
    import urllib.request

    ctx = ssl.create_default_context(cafile=str(tls.ca.cert))
    base = f"https://{tls.broker.http}"

    def get(path, user=None, password=None, header=None):
        req = urllib.request.Request(base + path)
        if user is not None:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        if header is not None:
            req.add_header("Authorization", header)
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
                return r.status, r.read().decode(errors="replace"), r.headers
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace"), e.headers

    assert get("/healthz")[0] == 200
    status, _, headers = get("/metrics")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
    assert get("/metrics", "alice", "wrong")[0] == 401
    assert get("/metrics", "nobody", ALICE_PW)[0] == 401
    for header in ["Basic !!!not-base64", "Bearer abc", "Basic " + "A" * 5000]:
        assert get("/metrics", header=header)[0] in (401, 431)
    status, body, _ = get("/metrics", "alice", ALICE_PW)  # a PLAIN user
    assert status == 200 and "weir_" in body
    assert get("/", "carol", CAROL_PW)[0] == 200  # a SCRAM user, the console
    # Plain HTTP on the TLS port gets nothing.
    with pytest.raises(Exception):
        urllib.request.urlopen(f"http://{tls.broker.http}/healthz", timeout=10)
    assert tls.broker.alive()


def test_the_controller_quorum_runs_over_mutual_tls(target, tmp_path_factory, topic):
    """Three Weir nodes whose controller listener is SSL (`controller.listener.names` and
    the protocol map, as in Kafka): the Raft traffic and forwarded commands go through TLS
    with a certificate on both sides, and a node that speaks plain TCP is refused."""
    from cluster import NODES, converged, create, require_own_weir, start_voters
    from confluent_kafka import Producer

    require_own_weir(target)
    from secured import WEIR_BIN, ConfigListenersNode

    tmp = tmp_path_factory.mktemp("tls-quorum")
    ca = Ca(tmp / "ca", "quorum-ca")
    cports = {n: free_port() for n in NODES}
    voters = ",".join(f"{n}@127.0.0.1:{cports[n]}" for n in NODES)
    nodes = {}
    for n in NODES:
        cert = ca.sign(f"node{n}", f"/O=Weir Test/CN=node{n}", server=True)
        port = free_port()
        config = {
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cports[n]}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:SSL",
            "listener.name.controller.ssl.keystore.type": "PEM",
            "listener.name.controller.ssl.keystore.location": str(cert.pem),
            "listener.name.controller.ssl.truststore.type": "PEM",
            "listener.name.controller.ssl.truststore.location": str(ca.cert),
        }
        nodes[n] = ConfigListenersNode(WEIR_BIN, tmp / f"node{n}", port, config=config,
                                       args=["--node-id", str(n), "--controller-voters", voters])
    try:
        start_voters(nodes, NODES)
        create(nodes, topic, 3, min_isr=3)
        p = Producer({"bootstrap.servers": nodes[3].bootstrap, "acks": "all"})
        for i in range(100):
            p.produce(topic, value=b"q" * 100)
        assert p.flush(60) == 0
        assert converged(nodes, topic)
        # Plain TCP to a controller listener: refused at the handshake.
        with socket.create_connection(("127.0.0.1", cports[1]), timeout=10) as s:
            s.sendall(b"\x00\x00\x00\x10" + b"not a TLS client")
            s.settimeout(15)
            try:
                assert s.recv(4096)[:1] in (b"", b"\x15")  # closed, or a TLS alert
            except ConnectionResetError:
                pass
        assert all(b.alive() for b in nodes.values())
    finally:
        for b in nodes.values():
            b.kill9()


@pytest.mark.parametrize("mechanism,user,password", [
    ("SCRAM-SHA-256", "bob", BOB_PW),
    ("SCRAM-SHA-512", "carol", CAROL_PW),
])
def test_kcat_over_sasl_ssl_with_scram(tls, topic, tmp_path, mechanism, user, password):
    """kcat with SCRAM over SASL_SSL. Debian's kcat links librdkafka 2.0.2, whose SCRAM
    client-final message repeats the nonce, which Kafka 4.3 refuses as Weir does; the same
    kcat runs here on the librdkafka 2.16 that confluent-kafka's wheel bundles."""
    import subprocess
    from pathlib import Path

    import confluent_kafka

    from clients import kcat_bin

    libs = Path(confluent_kafka.__file__).resolve().parent.parent / "confluent_kafka.libs"
    bundled = next(libs.glob("librdkafka-*.so.1"), None)
    assert bundled is not None, f"no bundled librdkafka in {libs}"
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "librdkafka.so.1").symlink_to(bundled)
    env = {**os.environ, "LD_LIBRARY_PATH": str(tmp_path / "lib")}
    create(tls, topic)
    kcat = [kcat_bin(), "-b", tls.bootstrap("SASL_SSL"), "-X", "security.protocol=SASL_SSL",
            "-X", f"ssl.ca.location={tls.ca.cert}", "-X", f"sasl.mechanism={mechanism}",
            "-X", f"sasl.username={user}", "-X", f"sasl.password={password}"]
    version = subprocess.run([kcat_bin(), "-V"], env=env, capture_output=True, text=True,
                             timeout=30).stdout
    assert "librdkafka 2.0." not in version, version  # not Debian's own
    subprocess.run(kcat + ["-P", "-t", topic], input="one\ntwo\n", text=True, check=True,
                   timeout=60, capture_output=True, env=env)
    out = subprocess.run(kcat + ["-C", "-t", topic, "-o", "beginning", "-e", "-q"], env=env,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.split() == ["one", "two"]
