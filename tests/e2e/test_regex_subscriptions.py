"""KIP-848 pattern subscriptions: a `consumer`-protocol member that subscribes with a regular
expression (SubscribedTopicRegex, which the broker matches) is assigned every matching topic
and nothing else, and its assignment follows as matching topics are created and deleted.
The Java client sends the pattern it is given (subscribe(SubscriptionPattern)), librdkafka
the "^..." topics it is given; a pattern that does not compile is refused with
INVALID_REGULAR_EXPRESSION. Every case holds on Apache Kafka 4.3.1 too."""

from __future__ import annotations

import uuid

import pytest

from groups import Members
from helpers import admin, create_topic, partition_leaders, wait_until

CLIENTS = ["java", "confluent"]


def delete_topic(bootstrap: str, topic: str) -> None:
    a = admin(bootstrap)  # must outlive the future
    a.delete_topics([topic], operation_timeout=30)[topic].result(60)
    wait_until(lambda: partition_leaders(bootstrap, topic) == {}, 60, f"{topic} to be gone")


@pytest.mark.parametrize("client", CLIENTS)
def test_a_pattern_member_follows_matching_topics(broker, client):
    prefix = f"rx{uuid.uuid4().hex[:8]}"
    first, second, other = f"{prefix}-a", f"{prefix}-b", f"not-{prefix}-c"
    for t in (first, other):
        create_topic(broker.bootstrap, t, partitions=2)
    # The Java client sends the pattern as given; librdkafka only takes topics starting
    # with "^" as patterns.
    pattern = f"{prefix}-.*" if client == "java" else f"^{prefix}-.*"
    members = Members()
    try:
        m = members.start(client, broker.bootstrap, first, f"g-{prefix}", protocol="consumer",
                          pattern=pattern)
        want = {(first, 0), (first, 1)}
        wait_until(lambda: m.topic_assignment() == want, 60,
                   f"{first} assigned by pattern; last {m.topic_assignment()}")

        create_topic(broker.bootstrap, second, partitions=2)
        want = {(first, 0), (first, 1), (second, 0), (second, 1)}
        wait_until(lambda: m.topic_assignment() == want, 90,
                   f"{second} assigned once created; last {m.topic_assignment()}")

        delete_topic(broker.bootstrap, first)
        want = {(second, 0), (second, 1)}
        wait_until(lambda: m.topic_assignment() == want, 90,
                   f"{first} gone from the assignment once deleted; last {m.topic_assignment()}")
        assert not any(t == other for t, _ in m.topic_assignment())
        assert not m.errors(), m.errors()
    finally:
        members.close_all()


def test_an_invalid_pattern_is_refused(broker):
    """The Java client hands the pattern over as it is; the broker refuses it and poll()
    throws InvalidRegularExpressionException."""
    members = Members()
    try:
        m = members.start("java", broker.bootstrap, "unused", f"g-{uuid.uuid4().hex[:8]}",
                          protocol="consumer", pattern="a)|(b")
        wait_until(lambda: m.errors(), 60, "the member to report an error")
        assert any("InvalidRegularExpression" in e for e in m.errors()), m.errors()
        assert m.topic_assignment() == set()
    finally:
        members.close_all()
