"""A real Prometheus server scrapes a three-node Weir cluster, and the test reads through
Prometheus's query API what an operator would alert on: the lag of a consumer group that
falls behind, and under-replicated partitions once a follower stops (and the stopped node's
scrape target going down). The same steps run on the Kafka reference without Prometheus,
where Kafka's admin APIs show the lag and the shrunken ISR the metrics must report."""

from __future__ import annotations

from brokers import WeirBroker
from clients import unique_group
from cluster import NotYet, bootstrap_of, controller_of, create, state
from helpers import wait_until
from test_metrics import consume, kafka_lag, produce


def test_prometheus_sees_lag_and_under_replicated_partitions(three_node_cluster, topic,
                                                              tmp_path):
    cluster = three_node_cluster
    weir = all(isinstance(b, WeirBroker) for b in cluster.values())
    prom = None
    if weir:
        from prometheus import Prometheus

        prom = Prometheus(tmp_path, [b.http for b in cluster.values()])
    try:
        if prom is not None:
            wait_until(prom.ready, 60, "prometheus to be ready")
        bootstrap = bootstrap_of(cluster)
        create(cluster, topic, partitions=3)
        group = unique_group()
        produce(bootstrap, topic, 30, partitions=3)
        consume(bootstrap, topic, group, 30)
        produce(bootstrap, topic, 30, partitions=3)  # the group is now 10 behind in each
        want = {0: 10, 1: 10, 2: 10}
        assert kafka_lag(bootstrap, group, topic, 3) == want

        if prom is not None:
            def lag():
                seen = {int(s["metric"]["partition"]): s["value"] for s in prom.query(
                    f'weir_consumer_group_lag{{group="{group}",topic="{topic}"}}')}
                return True if seen == want else NotYet(seen)
            wait_until(lag, 60, "Prometheus to show the group's lag per partition")
            total = prom.scalar(f'sum(weir_consumer_group_total_lag{{group="{group}"}})')
            assert total == 30
            assert prom.scalar(f'sum(weir_under_replicated_partitions)') == 0
            # Exactly one active controller, once any election under way has ended (a
            # scrape in the middle of one sees none, which is right).
            wait_until(lambda: prom.scalar("sum(weir_active_controller)") == 1, 30,
                       "Prometheus to see one active controller")

        # Stop a follower: a node that is neither the controller nor partition 0's leader.
        controller = controller_of(cluster)
        leader0 = state(cluster, topic)[0][0]
        victim = next(n for n in sorted(cluster) if n not in (controller, leader0))
        cluster[victim].stop()

        def shrunk():
            s = state(cluster, topic)
            short = [p for p, (_, replicas, isr) in s.items() if len(isr) < len(replicas)]
            return True if short else NotYet(s)
        wait_until(shrunk, 60, f"an ISR to shrink after node {victim} stopped")

        if prom is not None:
            def under():
                v = prom.scalar(f'sum(weir_under_replicated_partitions)')
                return True if v is not None and v > 0 else NotYet(v)
            wait_until(under, 60, "Prometheus to show under-replicated partitions")
            wait_until(lambda: prom.scalar(f'up{{instance="{cluster[victim].http}"}}') == 0,
                       30, "the stopped node's scrape target to be down")
            ours = prom.scalar(f'sum(weir_topic_under_replicated_partitions{{topic="{topic}"}})')
            assert ours is not None and ours > 0
    finally:
        if prom is not None:
            prom.stop()
