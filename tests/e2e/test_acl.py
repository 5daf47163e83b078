"""ACLs, set up with Kafka's own keys so that one broker configuration serves Weir and Kafka
4.3.1: `authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer`,
`super.users` (the admin, and User:ANONYMOUS for Kafka's PLAINTEXT controller listener),
`allow.everyone.if.no.acl.found` left at false, and a SASL_PLAINTEXT client listener with
PLAIN users. A principal without ACLs gets Kafka's errors from produce, fetch, group join,
offset commit, transactions, topic creation and deletion, and sees no topics; ACLs created
through the Admin API (confluent-kafka's and the Java client's) take effect without a
restart; DENY wins over ALLOW; DescribeAcls and DeleteAcls list and remove them; and only
a principal allowed to ALTER the cluster may change them."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from brokers import free_port
from clients import java_command
from helpers import wait_until
from secured import WEIR_BIN, ConfigListenersNode, start_broker

ADMIN_PW, ALICE_PW, BOB_PW = "admin-pw", "alice-pw", "bob-pw"
JAAS_PLAIN = ('org.apache.kafka.common.security.plain.PlainLoginModule required '
              f'username="admin" password="{ADMIN_PW}" user_admin="{ADMIN_PW}" '
              f'user_alice="{ALICE_PW}" user_bob="{BOB_PW}";')
KEYS = {
    "sasl.enabled.mechanisms": "PLAIN",
    "sasl.mechanism.inter.broker.protocol": "PLAIN",
    "listener.name.sasl_plaintext.plain.sasl.jaas.config": JAAS_PLAIN,
    "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "super.users": "User:admin;User:ANONYMOUS",
    "connection.failed.authentication.delay.ms": "100",
}


@pytest.fixture(scope="module")
def acl_broker(target, tmp_path_factory):
    bs, b = start_broker(target, tmp_path_factory, "acl", KEYS,
                         {"SASL_PLAINTEXT": free_port()}, login=f"admin:{ADMIN_PW}")
    yield b
    bs.close_all()


def conf(b, user: str, password: str) -> dict:
    return {"bootstrap.servers": b.bootstrap, "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN", "sasl.username": user, "sasl.password": password}


def admin(b) -> AdminClient:
    return AdminClient(conf(b, "admin", ADMIN_PW))


def create(b, topic: str) -> None:
    a = admin(b)  # kept alive until the result is in
    a.create_topics([NewTopic(topic, 1, 1)])[topic].result(60)


def grant(b, *bindings: AclBinding) -> None:
    a = admin(b)
    for f in a.create_acls(list(bindings)).values():
        f.result(60)


def acl(rtype, name, principal, op, permission=AclPermissionType.ALLOW,
        pattern=ResourcePatternType.LITERAL) -> AclBinding:
    return AclBinding(rtype, name, pattern, principal, "*", op, permission)


def produce_error(b, user: str, password: str, topic: str, extra: dict | None = None):
    """Produces one record as `user`; the delivery error's name, or None."""
    p = Producer({**conf(b, user, password), "message.timeout.ms": 15000,
                  "enable.idempotence": False, **(extra or {})})
    out = []
    p.produce(topic, value=b"v", on_delivery=lambda err, m: out.append(err))
    p.flush(30)
    assert out, "no delivery report"
    return None if out[0] is None else out[0].name()


def consume_error(b, user: str, password: str, topic: str, group: str, timeout: float = 20):
    """Subscribes as `user` in `group` and reads; the first error's name, or None once a
    record arrived and its offset was committed."""
    c = Consumer({**conf(b, user, password), "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                return m.error().name()
            try:
                c.commit(message=m, asynchronous=False)
            except KafkaException as e:
                return e.args[0].name()
            return None
        return "TIMED_OUT"
    finally:
        c.close()


def test_a_principal_without_acls_gets_kafkas_errors(acl_broker, topic):
    b = acl_broker
    create(b, topic)
    assert produce_error(b, "alice", ALICE_PW, topic) == "TOPIC_AUTHORIZATION_FAILED"
    assert consume_error(b, "alice", ALICE_PW, topic, f"g-{topic}") in (
        "TOPIC_AUTHORIZATION_FAILED", "GROUP_AUTHORIZATION_FAILED")
    a = AdminClient(conf(b, "alice", ALICE_PW))
    # Topics she may not describe are not listed.
    assert topic not in a.list_topics(timeout=30).topics
    with pytest.raises(KafkaException) as e:
        a.create_topics([NewTopic(f"{topic}-new", 1, 1)])[f"{topic}-new"].result(60)
    assert e.value.args[0].name() == "TOPIC_AUTHORIZATION_FAILED"
    with pytest.raises(KafkaException) as e:
        a.delete_topics([topic])[topic].result(60)
    assert e.value.args[0].name() == "TOPIC_AUTHORIZATION_FAILED"
    # Only a principal allowed to ALTER the cluster changes ACLs.
    with pytest.raises(KafkaException) as e:
        for f in a.create_acls([acl(ResourceType.TOPIC, topic, "User:alice",
                                    AclOperation.ALL)]).values():
            f.result(60)
    assert e.value.args[0].name() == "CLUSTER_AUTHORIZATION_FAILED"


def test_granted_acls_take_effect_without_a_restart(acl_broker, topic):
    b = acl_broker
    create(b, topic)
    group = f"g-{topic}"
    assert produce_error(b, "bob", BOB_PW, topic) == "TOPIC_AUTHORIZATION_FAILED"
    grant(b, acl(ResourceType.TOPIC, topic, "User:bob", AclOperation.WRITE))
    wait_until(lambda: produce_error(b, "bob", BOB_PW, topic) is None, 30,
               "bob's WRITE to take effect")
    # Reading needs READ on the topic and on the group.
    grant(b, acl(ResourceType.TOPIC, topic, "User:bob", AclOperation.READ))
    assert consume_error(b, "bob", BOB_PW, topic, group) == "GROUP_AUTHORIZATION_FAILED"
    grant(b, acl(ResourceType.GROUP, group, "User:bob", AclOperation.READ))
    assert consume_error(b, "bob", BOB_PW, topic, group) is None
    # Now he sees the topic, and his committed offset.
    a = AdminClient(conf(b, "bob", BOB_PW))
    assert topic in a.list_topics(timeout=30).topics
    c = Consumer({**conf(b, "bob", BOB_PW), "group.id": group})
    try:
        got = c.committed([TopicPartition(topic, 0)], timeout=30)
        assert got[0].offset == 1
    finally:
        c.close()
    # ListGroups shows each principal only the groups it may describe.
    def groups(user, password):
        admin_client = AdminClient(conf(b, user, password))
        listed = admin_client.list_consumer_groups().result(60)
        return {g.group_id for g in listed.valid}
    assert group in groups("bob", BOB_PW)
    assert group not in groups("alice", ALICE_PW)
    assert group in groups("admin", ADMIN_PW)

    # KIP-430 for groups: READ implies DESCRIBE; a super user may do all of them.
    def group_ops(user, password):
        admin_client = AdminClient(conf(b, user, password))
        fut = admin_client.describe_consumer_groups([group], include_authorized_operations=True)
        return {o.name for o in fut[group].result(60).authorized_operations or []}
    assert group_ops("bob", BOB_PW) == {"READ", "DESCRIBE"}
    assert group_ops("admin", ADMIN_PW) == {"READ", "DESCRIBE", "DELETE", "DESCRIBE_CONFIGS",
                                            "ALTER_CONFIGS"}


def test_deny_wins_over_allow(acl_broker, topic):
    b = acl_broker
    create(b, topic)
    grant(b,
          acl(ResourceType.TOPIC, topic[:12], "User:alice", AclOperation.ALL,
              pattern=ResourcePatternType.PREFIXED),
          acl(ResourceType.TOPIC, topic, "User:alice", AclOperation.WRITE,
              permission=AclPermissionType.DENY))
    assert produce_error(b, "alice", ALICE_PW, topic) == "TOPIC_AUTHORIZATION_FAILED"
    a = AdminClient(conf(b, "alice", ALICE_PW))
    # ALL still allows DESCRIBE: the topic is listed.
    assert topic in a.list_topics(timeout=30).topics


def test_transactions_need_the_transactional_id(acl_broker, topic):
    b = acl_broker
    create(b, topic)
    txn_id = f"txn-{topic}"
    grant(b, acl(ResourceType.TOPIC, topic, "User:bob", AclOperation.WRITE))
    p = Producer({**conf(b, "bob", BOB_PW), "transactional.id": txn_id,
                  "transaction.timeout.ms": 10000})
    with pytest.raises(KafkaException) as e:
        p.init_transactions(30)
    assert e.value.args[0].name() == "TRANSACTIONAL_ID_AUTHORIZATION_FAILED"
    grant(b, acl(ResourceType.TRANSACTIONAL_ID, txn_id, "User:bob", AclOperation.WRITE))
    p = Producer({**conf(b, "bob", BOB_PW), "transactional.id": txn_id,
                  "transaction.timeout.ms": 10000})
    p.init_transactions(30)
    p.begin_transaction()
    p.produce(topic, value=b"in a transaction")
    p.commit_transaction(30)


def test_describe_and_delete_acls(acl_broker, topic):
    b = acl_broker
    create(b, topic)
    grant(b, acl(ResourceType.TOPIC, topic, "User:alice", AclOperation.WRITE),
          acl(ResourceType.TOPIC, topic, "User:alice", AclOperation.READ))
    assert produce_error(b, "alice", ALICE_PW, topic) is None
    f = AclBindingFilter(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, None, None,
                         AclOperation.ANY, AclPermissionType.ANY)
    a = admin(b)
    listed = a.describe_acls(f).result(60)
    assert sorted(x.operation.name for x in listed) == ["READ", "WRITE"]
    deleted = a.delete_acls([f])[f].result(60)
    assert len(deleted) == 2
    assert a.describe_acls(f).result(60) == []
    wait_until(lambda: produce_error(b, "alice", ALICE_PW, topic) == "TOPIC_AUTHORIZATION_FAILED",
               30, "alice's WRITE to be gone")


def java_acls(b, *args: str) -> dict:
    cmd = java_command() + ["acls", "--bootstrap", b.bootstrap,
                            "--prop", "security.protocol=SASL_PLAINTEXT",
                            "--prop", "sasl.mechanism=PLAIN",
                            "--prop", "sasl.jaas.config=org.apache.kafka.common.security.plain."
                                      f'PlainLoginModule required username="admin" password="{ADMIN_PW}";',
                            *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                         stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_the_java_admin_client_manages_acls(acl_broker, topic):
    b = acl_broker
    create(b, topic)
    assert java_acls(b, "--action", "create", "--resource-type", "TOPIC", "--name", topic,
                     "--principal", "User:bob", "--operation", "WRITE") == {"ok": True}
    wait_until(lambda: produce_error(b, "bob", BOB_PW, topic) is None, 30,
               "bob's WRITE to take effect")
    got = java_acls(b, "--action", "list", "--resource-type", "TOPIC", "--name", topic)
    assert got["acls"] == [["TOPIC", topic, "LITERAL", "User:bob", "*", "WRITE", "ALLOW"]]
    assert java_acls(b, "--action", "delete", "--resource-type", "TOPIC", "--name", topic,
                     "--pattern", "LITERAL") == {"deleted": 1}
    wait_until(lambda: produce_error(b, "bob", BOB_PW, topic) == "TOPIC_AUTHORIZATION_FAILED",
               30, "bob's WRITE to be gone")


@pytest.fixture(scope="module")
def loopback_admin_broker(target, tmp_path_factory):
    """A broker whose first admin is the way Kafka sets one up: User:ANONYMOUS (anyone on
    the loopback PLAINTEXT listener) is a super user; clients log in on SASL_PLAINTEXT."""
    keys = {**KEYS, "super.users": "User:ANONYMOUS"}
    del keys["sasl.mechanism.inter.broker.protocol"]
    sasl_port = free_port()
    bs, b = start_broker(target, tmp_path_factory, "acl2", keys,
                         {"PLAINTEXT": free_port(), "SASL_PLAINTEXT": sasl_port})
    b.sasl_bootstrap = f"127.0.0.1:{sasl_port}"
    yield b
    bs.close_all()


def weir_acl(bootstrap: str, *args: str) -> str:
    res = subprocess.run([str(WEIR_BIN), "acl", "--bootstrap", bootstrap, *args], capture_output=True,
                         text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_weir_acl_cli_with_a_loopback_admin(loopback_admin_broker, topic):
    b = loopback_admin_broker
    a = AdminClient({"bootstrap.servers": b.bootstrap})  # User:ANONYMOUS, a super user
    a.create_topics([NewTopic(topic, 1, 1)])[topic].result(60)

    class Sasl:
        bootstrap = b.sasl_bootstrap

    assert produce_error(Sasl, "alice", ALICE_PW, topic) == "TOPIC_AUTHORIZATION_FAILED"
    out = weir_acl(b.bootstrap, "add", "--topic", topic, "--allow-principal", "User:alice",
                   "--operation", "WRITE", "--operation", "DESCRIBE")
    assert "added 2 ACL(s)" in out
    wait_until(lambda: produce_error(Sasl, "alice", ALICE_PW, topic) is None, 30,
               "alice's WRITE to take effect")
    listed = [line.split() for line in weir_acl(b.bootstrap, "list", "--topic", topic)
              .splitlines()[1:]]
    assert sorted(row[5] for row in listed) == ["DESCRIBE", "WRITE"]
    assert all(row[:4] == ["TOPIC", topic, "LITERAL", "User:alice"] for row in listed)
    assert "removed 2 ACL(s)" in weir_acl(b.bootstrap, "remove", "--topic", topic,
                                          "--principal", "User:alice")
    wait_until(lambda: produce_error(Sasl, "alice", ALICE_PW, topic)
               == "TOPIC_AUTHORIZATION_FAILED", 30, "alice's WRITE to be gone")


def test_an_acl_reaches_every_node_of_a_cluster(target, tmp_path_factory, topic):
    """Three Weir nodes with the authorizer: an ACL created through one node is enforced by
    every node, each reading it from its copy of the metadata log."""
    import kwire
    from cluster import NODES, require_own_weir, start_voters

    require_own_weir(target)

    tmp = tmp_path_factory.mktemp("acl-cluster")
    cports = {n: free_port() for n in NODES}
    voters = ",".join(f"{n}@127.0.0.1:{cports[n]}" for n in NODES)
    nodes, sasl = {}, {}
    for n in NODES:
        port, sasl[n] = free_port(), free_port()
        config = {
            **KEYS,
            "super.users": "User:ANONYMOUS",
            "listeners": f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl[n]}",
            "inter.broker.listener.name": "PLAINTEXT",
        }
        del config["sasl.mechanism.inter.broker.protocol"]
        nodes[n] = ConfigListenersNode(WEIR_BIN, tmp / f"node{n}", port, config=config,
                        args=["--node-id", str(n), "--controller-listen",
                              f"127.0.0.1:{cports[n]}", "--controller-voters", voters])

    def visible(n: int) -> int:
        """alice's view of the topic through node n: the Metadata error code."""
        with kwire.Conn.to(f"127.0.0.1:{sasl[n]}") as c:
            assert kwire.sasl_plain(c, "alice", ALICE_PW)
            return c.metadata([topic])["topics"][topic]["error"]

    try:
        start_voters(nodes, NODES)
        a = AdminClient({"bootstrap.servers": nodes[1].bootstrap})
        a.create_topics([NewTopic(topic, 3, 3)])[topic].result(60)
        # TOPIC_AUTHORIZATION_FAILED (29) everywhere, then DESCRIBE through node 2 only.
        assert {n: visible(n) for n in NODES} == {n: 29 for n in NODES}
        b2 = AdminClient({"bootstrap.servers": nodes[2].bootstrap})
        for f in b2.create_acls([acl(ResourceType.TOPIC, topic, "User:alice",
                                     AclOperation.DESCRIBE)]).values():
            f.result(60)
        wait_until(lambda: all(visible(n) == 0 for n in NODES), 30,
                   "every node to enforce the new ACL")
    finally:
        for b in nodes.values():
            b.kill9()


TOPIC_OPS = {"READ", "WRITE", "CREATE", "DESCRIBE", "DELETE", "ALTER", "DESCRIBE_CONFIGS",
             "ALTER_CONFIGS"}
CLUSTER_OPS = {"CREATE", "CLUSTER_ACTION", "DESCRIBE_CONFIGS", "ALTER_CONFIGS",
               "IDEMPOTENT_WRITE", "ALTER", "DESCRIBE"}


def ops(conf_: dict, topic: str) -> tuple[set, set]:
    """(the topic's, the cluster's) authorized operations, as KIP-430 reports them."""
    from confluent_kafka import TopicCollection

    a = AdminClient(conf_)
    t = a.describe_topics(TopicCollection([topic]), include_authorized_operations=True)
    described = t[topic].result(60)
    c = a.describe_cluster(include_authorized_operations=True).result(60)
    return ({o.name for o in described.authorized_operations or []},
            {o.name for o in c.authorized_operations or []})


def test_authorized_operations_as_kafka_reports_them(acl_broker, topic):
    b = acl_broker
    create(b, topic)
    assert ops(conf(b, "admin", ADMIN_PW), topic) == (TOPIC_OPS, CLUSTER_OPS)
    grant(b, acl(ResourceType.TOPIC, topic, "User:bob", AclOperation.WRITE))
    # WRITE implies DESCRIBE; bob may do nothing on the cluster.
    wait_until(lambda: ops(conf(b, "bob", BOB_PW), topic) == ({"WRITE", "DESCRIBE"}, set()),
               30, "bob's operations")


def test_authorized_operations_without_an_authorizer(broker, topic):
    from helpers import create_topic

    create_topic(broker.bootstrap, topic)
    assert ops({"bootstrap.servers": broker.bootstrap}, topic) == (TOPIC_OPS, CLUSTER_OPS)
