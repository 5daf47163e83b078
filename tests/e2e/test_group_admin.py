"""The group admin APIs through three admin clients (confluent-kafka, kafka-python and the
Java Admin): ListGroups, DescribeGroups and ConsumerGroupDescribe, OffsetFetch for several
groups at once (with batched FindCoordinator), OffsetCommit from an admin, OffsetDelete and
DeleteGroups, with Kafka's errors for groups that are still active and groups that do not
exist."""

from __future__ import annotations

import json
import subprocess

import pytest

from clients import java_command, unique_group
from groups import Member, Members, wait_records
from helpers import create_topic, wait_until
from test_groups import everything, produce


class ConfluentGroups:
    """confluent-kafka's AdminClient (librdkafka)."""

    def __init__(self, bootstrap: str):
        from confluent_kafka.admin import AdminClient

        self.a = AdminClient({"bootstrap.servers": bootstrap})

    @staticmethod
    def _err(e: Exception) -> str:
        return e.args[0].name() if e.args and hasattr(e.args[0], "name") else repr(e)

    def list(self) -> dict[str, str]:
        res = self.a.list_consumer_groups(request_timeout=30).result(60)
        return {g.group_id: g.state.name.lower() for g in res.valid}

    def describe(self, groups: list[str]) -> dict:
        out = {}
        for g, fut in self.a.describe_consumer_groups(groups, request_timeout=30).items():
            d = fut.result(60)
            out[g] = {"state": d.state.name.lower(),
                      "members": [{(tp.topic, tp.partition)
                                   for tp in m.assignment.topic_partitions}
                                  for m in d.members]}
        return out

    def offsets(self, groups: list[str]) -> dict:
        from confluent_kafka import ConsumerGroupTopicPartitions

        out = {}
        for g in groups:  # librdkafka asks for one group per request
            fut = self.a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(g)])[g]
            out[g] = {(tp.topic, tp.partition): tp.offset
                      for tp in fut.result(60).topic_partitions if tp.offset >= 0}
        return out

    def alter(self, group: str, topic: str, offsets: dict[int, int]) -> str | None:
        from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

        req = ConsumerGroupTopicPartitions(
            group, [TopicPartition(topic, p, o) for p, o in offsets.items()])
        try:
            res = self.a.alter_consumer_group_offsets([req])[group].result(60)
        except Exception as e:  # noqa: BLE001 - the error is the result
            return self._err(e)
        errs = [tp.error.name() for tp in res.topic_partitions if tp.error]
        return errs[0] if errs else None

    delete_offsets = None  # librdkafka's Python wrapper has no OffsetDelete call

    def delete(self, groups: list[str]) -> dict[str, str | None]:
        out = {}
        for g, fut in self.a.delete_consumer_groups(groups, request_timeout=30).items():
            try:
                fut.result(60)
                out[g] = None
            except Exception as e:  # noqa: BLE001 - the error is the result
                out[g] = self._err(e)
        return out


# kafka-python's error classes by Kafka's error names.
KP_ERRORS = {"NonEmptyGroupError": "NON_EMPTY_GROUP",
             "GroupIdNotFoundError": "GROUP_ID_NOT_FOUND",
             "GroupSubscribedToTopicError": "GROUP_SUBSCRIBED_TO_TOPIC",
             "UnknownMemberIdError": "UNKNOWN_MEMBER_ID"}


class KafkaPythonGroups:
    """kafka-python's KafkaAdminClient."""

    def __init__(self, bootstrap: str):
        from kafka import KafkaAdminClient

        self.a = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)

    def list(self) -> dict[str, str]:
        return {g["group_id"]: g["group_state"].lower() for g in self.a.list_groups()}

    def describe(self, groups: list[str]) -> dict:
        out = {}
        for g, d in self.a.describe_groups(groups).items():
            assert d["error"] is None, d
            members = []
            for m in d["members"]:
                a = m["member_assignment"]
                members.append({(t["topic"], p) for t in a["assigned_partitions"]
                                for p in t["partitions"]})
            out[g] = {"state": d["group_state"].lower(), "members": members}
        return out

    def offsets(self, groups: list[str]) -> dict:
        res = self.a.list_group_offsets(groups)  # one OffsetFetch v8 for every group
        return {g: {(tp.topic, tp.partition): om.offset for tp, om in res[g].items()
                    if om.offset >= 0} for g in groups}

    def alter(self, group: str, topic: str, offsets: dict[int, int]) -> str | None:
        from kafka import TopicPartition
        from kafka.structs import OffsetAndMetadata

        res = self.a.alter_group_offsets(
            group, {TopicPartition(topic, p): OffsetAndMetadata(o, "", -1)
                    for p, o in offsets.items()})
        errs = [KP_ERRORS.get(e.__name__, e.__name__) for e in res.values()
                if e.__name__ != "NoError"]
        return errs[0] if errs else None

    def delete_offsets(self, group: str, topic: str, parts: list[int]) -> str | None:
        from kafka import TopicPartition

        try:
            res = self.a.delete_group_offsets(group, [TopicPartition(topic, p) for p in parts])
        except Exception as e:  # noqa: BLE001 - the error is the result
            return KP_ERRORS.get(type(e).__name__, repr(e))
        errs = [KP_ERRORS.get(e.__name__, e.__name__) for e in res.values()
                if e.__name__ != "NoError"]
        return errs[0] if errs else None

    def delete(self, groups: list[str]) -> dict[str, str | None]:
        res = self.a.delete_groups(groups)
        return {g: None if r == "OK" else KP_ERRORS.get(r, r) for g, r in res.items()}


# The Java client's exception classes by Kafka's error names.
JAVA_ERRORS = {"GroupNotEmptyException": "NON_EMPTY_GROUP",
               "GroupIdNotFoundException": "GROUP_ID_NOT_FOUND",
               "GroupSubscribedToTopicException": "GROUP_SUBSCRIBED_TO_TOPIC",
               "UnknownMemberIdException": "UNKNOWN_MEMBER_ID"}


class JavaGroups:
    """The Java Admin client, through `KafkaCli groups`."""

    def __init__(self, bootstrap: str):
        self.bootstrap = bootstrap

    def _run(self, action: str, groups: list[str], *extra: str):
        cmd = java_command() + ["groups", "--action", action, "--bootstrap", self.bootstrap]
        for g in groups:
            cmd += ["--group", g]
        res = subprocess.run(cmd + list(extra), capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr[-3000:]
        return json.loads(res.stdout.strip().splitlines()[-1])

    @staticmethod
    def _err(v):
        return JAVA_ERRORS.get(v["error"], v["error"]) if isinstance(v, dict) and "error" in v \
            else None

    def list(self) -> dict[str, str]:
        return {g["group"]: (g["state"] or "").lower() for g in self._run("list", [])}

    def describe(self, groups: list[str]) -> dict:
        out = {}
        for g, d in self._run("describe", groups).items():
            assert "error" not in d, d
            out[g] = {"state": d["state"].lower(),
                      "members": [{(t, p) for t, ps in m["parts"].items() for p in ps}
                                  for m in d["members"]]}
        return out

    def offsets(self, groups: list[str]) -> dict:
        # One listConsumerGroupOffsets call for every group: a batched FindCoordinator and
        # one OffsetFetch naming all of them.
        out = {}
        for g, v in self._run("offsets", groups).items():
            assert "error" not in v, v
            out[g] = {(k.rsplit(":", 1)[0], int(k.rsplit(":", 1)[1])): o for k, o in v.items()}
        return out

    def alter(self, group: str, topic: str, offsets: dict[int, int]) -> str | None:
        spec = ",".join(f"{p}={o}" for p, o in offsets.items())
        return self._err(self._run("alter-offsets", [group], "--topic", topic, "--offsets", spec))

    def delete_offsets(self, group: str, topic: str, parts: list[int]) -> str | None:
        return self._err(self._run("delete-offsets", [group], "--topic", topic,
                                   "--partitions", ",".join(map(str, parts))))

    def delete(self, groups: list[str]) -> dict[str, str | None]:
        return {g: None if v == "ok" else self._err(v)
                for g, v in self._run("delete", groups).items()}


ADMINS = {"confluent": ConfluentGroups, "kafka-python": KafkaPythonGroups, "java": JavaGroups}


@pytest.mark.parametrize("client", list(ADMINS))
def test_group_admin_apis(broker, topic, client):
    admin = ADMINS[client](broker.bootstrap)
    create_topic(broker.bootstrap, topic, partitions=2)
    produce(broker.bootstrap, topic, 4, 2)
    active, empty, gone = unique_group(), unique_group(), unique_group()
    ms = Members()
    try:
        member = ms.start("confluent", broker.bootstrap, topic, active)
        wait_records(member, everything(4, 2))
        member.commit()

        # An admin commits offsets for a group with no members.
        assert admin.alter(empty, topic, {0: 1, 1: 3}) is None
        # ...but not for a group with a live member (Kafka: UNKNOWN_MEMBER_ID).
        assert admin.alter(active, topic, {0: 0}) == "UNKNOWN_MEMBER_ID"

        groups = wait_until(lambda: (lambda g: g if {active, empty} <= set(g) else None)(
            admin.list()), 30, "both groups to be listed")
        assert groups[active] == "stable" and groups[empty] == "empty", groups

        d = admin.describe([active, empty])
        assert d[active]["state"] == "stable" and d[empty]["state"] == "empty", d
        assert d[active]["members"] == [{(topic, 0), (topic, 1)}], d
        assert d[empty]["members"] == []

        assert admin.offsets([active, empty]) == {
            active: {(topic, 0): 4, (topic, 1): 4},
            empty: {(topic, 0): 1, (topic, 1): 3},
        }

        if admin.delete_offsets is not None:
            assert admin.delete_offsets(empty, topic, [0]) is None
            assert admin.offsets([empty]) == {empty: {(topic, 1): 3}}
            # The active member is subscribed to the topic: its offsets stay.
            assert admin.delete_offsets(active, topic, [0]) == "GROUP_SUBSCRIBED_TO_TOPIC"

        assert admin.delete([active, empty, gone]) == {
            active: "NON_EMPTY_GROUP", empty: None, gone: "GROUP_ID_NOT_FOUND"}
        listed = admin.list()
        assert empty not in listed and active in listed, listed
        assert admin.offsets([empty]) == {empty: {}}
    finally:
        ms.close_all()


@pytest.mark.parametrize("client", ["confluent", "java"])
def test_describe_a_kip848_consumer_group(broker, topic, client):
    """A group of the `consumer` protocol is described through ConsumerGroupDescribe."""
    admin = ADMINS[client](broker.bootstrap)
    create_topic(broker.bootstrap, topic, partitions=3)
    group = unique_group()
    ms = Members()
    try:
        a = ms.start("confluent", broker.bootstrap, topic, group, protocol="consumer")
        b = ms.start("confluent", broker.bootstrap, topic, group, protocol="consumer")
        from groups import wait_split

        wait_split([a, b], 3)

        def settled():
            d = admin.describe([group])[group]
            parts = sorted(sorted(p for _, p in m) for m in d["members"])
            return d if d["state"] == "stable" and sum(map(len, parts)) == 3 else None

        d = wait_until(settled, 60, "the group to be described as stable with 3 partitions")
        assigned = [m for m in d["members"]]
        assert len(assigned) == 2
        assert set().union(*assigned) == {(topic, p) for p in range(3)}
    finally:
        ms.close_all()
