"""Cross-client matrix: records produced by one real client are read by every other one
with identical keys, values, headers (duplicates in order, nulls) and timestamps."""

from __future__ import annotations

import itertools

import pytest

from clients import ALL, BY_NAME
from helpers import assert_same, create_topic, now_ms, sample_messages

PAIRS = [(p.name, c.name) for p, c in itertools.permutations(ALL, 2)]


@pytest.mark.parametrize("producer,consumer", PAIRS, ids=[f"{p}->{c}" for p, c in PAIRS])
def test_cross_client(broker, topic, producer, consumer):
    p, c = BY_NAME[producer], BY_NAME[consumer]
    text = "kcat" in (producer, consumer)
    ts_base = now_ms() - 3_600_000 if p.timestamps else None
    msgs = sample_messages(30, text_only=text, ts_base=ts_base,
                           null_header_values=p.null_header_values)
    create_topic(broker.bootstrap, topic)
    deliveries = p.produce(broker.bootstrap, topic, msgs)
    assert all(d.error is None for d in deliveries)
    got = c.consume(broker.bootstrap, topic, len(msgs))
    assert_same(msgs, got, check_ts=True)
    assert [g.offset for g in got] == list(range(len(msgs)))
    if p.timestamps:
        # What the producer was told is what the consumer sees.
        assert [d.timestamp for d in deliveries] == [g.timestamp for g in got]
    else:
        assert all(g.ts_type == "CreateTime" and g.timestamp > 0 for g in got)
