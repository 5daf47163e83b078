"""SCRAM users through Kafka's own APIs (AlterUserScramCredentials, DescribeUserScramCredentials):
confluent-kafka's AdminClient and `weir user` create, describe and delete them, and bad
requests get Kafka's errors (too few or too many iterations, an unknown user, deleting what
does not exist). The same test runs against Kafka 4.3.1, which accepts these APIs on a
PLAINTEXT listener. On Weir the credentials also survive a restart."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from brokers import REPO, WeirBroker
from helpers import wait_until

WEIR = Path(os.environ.get("WEIR_BIN", REPO / "target" / "debug" / "weir"))
SHA256, SHA512 = ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512


def user() -> str:
    return f"user-{uuid.uuid4().hex[:8]}"


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def alter(bootstrap: str, alterations) -> dict[str, str | None]:
    """{user: None or the error name} for AlterUserScramCredentials."""
    out = {}
    a = admin(bootstrap)  # must outlive the futures
    for u, fut in a.alter_user_scram_credentials(alterations).items():
        try:
            fut.result(30)
            out[u] = None
        except KafkaException as e:
            out[u] = e.args[0].name()
    return out


def describe(bootstrap: str, users: list[str]) -> dict[str, object]:
    """{user: [(mechanism, iterations)] or the error name}."""
    out = {}
    a = admin(bootstrap)  # must outlive the futures
    for u, fut in a.describe_user_scram_credentials(users).items():
        try:
            d = fut.result(30)
            out[u] = sorted((i.mechanism.name, i.iterations) for i in d.scram_credential_infos)
        except KafkaException as e:
            out[u] = e.args[0].name()
    return out


def weir_user(bootstrap: str, *args: str, password: str | None = None,
              ok: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run([str(WEIR), "user", "--bootstrap", bootstrap, *args],
                         input=password, capture_output=True, text=True, timeout=60)
    if ok:
        assert res.returncode == 0, res.stdout + res.stderr
    return res


def test_create_describe_and_delete_users(broker):
    alice, bob = user(), user()
    assert alter(broker.bootstrap, [
        UserScramCredentialUpsertion(alice, ScramCredentialInfo(SHA256, 8192), b"alice-pw"),
        UserScramCredentialUpsertion(bob, ScramCredentialInfo(SHA512, 4096), b"bob-pw",
                                     salt=b"bob-salt"),
    ]) == {alice: None, bob: None}
    assert describe(broker.bootstrap, [alice, bob]) == {
        alice: [("SCRAM_SHA_256", 8192)], bob: [("SCRAM_SHA_512", 4096)]}
    a = admin(broker.bootstrap)
    everyone = a.describe_user_scram_credentials().result(30)
    assert {alice, bob} <= set(everyone)

    # A second mechanism, and a new password for the first.
    assert alter(broker.bootstrap, [
        UserScramCredentialUpsertion(alice, ScramCredentialInfo(SHA512, 10000), b"alice-pw2"),
    ]) == {alice: None}
    assert describe(broker.bootstrap, [alice]) == {
        alice: [("SCRAM_SHA_256", 8192), ("SCRAM_SHA_512", 10000)]}

    assert alter(broker.bootstrap, [UserScramCredentialDeletion(alice, SHA256)]) == {alice: None}
    assert describe(broker.bootstrap, [alice]) == {alice: [("SCRAM_SHA_512", 10000)]}
    assert alter(broker.bootstrap, [UserScramCredentialDeletion(alice, SHA512),
                                    UserScramCredentialDeletion(bob, SHA512)]) == \
        {alice: None, bob: None}
    assert describe(broker.bootstrap, [alice, bob]) == {
        alice: "RESOURCE_NOT_FOUND", bob: "RESOURCE_NOT_FOUND"}


def test_bad_requests_get_kafkas_errors(broker):
    few, many, ghost, twice = user(), user(), user(), user()
    got = alter(broker.bootstrap, [
        UserScramCredentialUpsertion(few, ScramCredentialInfo(SHA256, 4095), b"pw"),
        UserScramCredentialUpsertion(many, ScramCredentialInfo(SHA256, 16385), b"pw"),
        UserScramCredentialDeletion(ghost, SHA256),
        UserScramCredentialUpsertion(twice, ScramCredentialInfo(SHA256, 4096), b"pw"),
        UserScramCredentialUpsertion(twice, ScramCredentialInfo(SHA512, 4096), b"pw"),
    ])
    assert got == {few: "UNACCEPTABLE_CREDENTIAL", many: "UNACCEPTABLE_CREDENTIAL",
                   ghost: "RESOURCE_NOT_FOUND", twice: "DUPLICATE_RESOURCE"}
    assert describe(broker.bootstrap, [few, twice]) == {
        few: "RESOURCE_NOT_FOUND", twice: "RESOURCE_NOT_FOUND"}


def test_weir_user_cli(broker):
    carol = user()
    weir_user(broker.bootstrap, "create", carol, password="carol-pw\n")
    weir_user(broker.bootstrap, "create", carol, "--mechanism", "SCRAM-SHA-512",
              "--iterations", "4096", "--password", "carol-pw2")
    listed = weir_user(broker.bootstrap, "list").stdout
    line = next(line for line in listed.splitlines() if line.split()[:1] == [carol])
    assert "SCRAM-SHA-256 (iterations=8192)" in line and "SCRAM-SHA-512 (iterations=4096)" in line
    assert describe(broker.bootstrap, [carol]) == {
        carol: [("SCRAM_SHA_256", 8192), ("SCRAM_SHA_512", 4096)]}
    bad = weir_user(broker.bootstrap, "create", user(), "--iterations", "100",
                    "--password", "x", ok=False)
    assert bad.returncode != 0 and "Too few iterations" in bad.stderr
    weir_user(broker.bootstrap, "delete", carol)
    assert describe(broker.bootstrap, [carol]) == {carol: "RESOURCE_NOT_FOUND"}
    gone = weir_user(broker.bootstrap, "delete", carol, ok=False)
    assert gone.returncode != 0 and "does not exist" in gone.stderr
    assert "carol-pw" not in (gone.stdout + gone.stderr)


def test_users_survive_a_restart(new_broker, target):
    if target != "weir":
        pytest.skip("restarts the broker it started (covered for Kafka by its own log)")
    b = new_broker()
    dave = user()
    assert alter(b.bootstrap, [
        UserScramCredentialUpsertion(dave, ScramCredentialInfo(SHA256, 4096), b"dave-pw"),
    ]) == {dave: None}
    b.restart()
    wait_until(lambda: describe(b.bootstrap, [dave]) == {dave: [("SCRAM_SHA_256", 4096)]},
               30, "the user to be there after a restart")
    assert isinstance(b, WeirBroker)
    log = b.log_path.read_text(errors="replace")
    assert "dave-pw" not in log


def test_the_java_admin_client_creates_users(broker):
    import json

    from clients import java_command

    name = user()

    def java(*args: str) -> dict:
        res = subprocess.run(java_command() + ["users", "--bootstrap", broker.bootstrap, *args],
                             capture_output=True, text=True, timeout=120,
                             stdin=subprocess.DEVNULL)
        assert res.returncode == 0, res.stderr[-3000:]
        return json.loads(res.stdout.strip().splitlines()[-1])

    assert java("--action", "create", "--name", name, "--mechanism", "SCRAM-SHA-512",
                "--iterations", "8192", "--password", "java-pw") == {"ok": True}
    assert java("--action", "describe", "--name", name) == {
        "credentials": [["SCRAM_SHA_512", 8192]]}
    assert describe(broker.bootstrap, [name]) == {name: [("SCRAM_SHA_512", 8192)]}
