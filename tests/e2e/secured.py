"""Brokers with security settings, started the same way on Weir and on Kafka 4.3.1: one
set of server.properties keys for both, plus the CONTROLLER listener Kafka needs."""

from __future__ import annotations

import os
from pathlib import Path

from brokers import REPO, BrokerSet, KafkaBroker, WeirBroker, free_port

WEIR_BIN = Path(os.environ.get("WEIR_BIN", REPO / "target" / "debug" / "weir"))


def start_broker(target: str, tmp_path_factory, name: str, keys: dict[str, str],
                 listeners: dict[str, int], protocols: dict[str, str] | None = None,
                 login: str | None = None,
                 weir_only: dict[str, str] | None = None) -> tuple[BrokerSet, object]:
    """Starts a broker with `keys` and `listeners` ({name: port}, the first one the
    bootstrap address and the inter-broker listener, each advertised on 127.0.0.1);
    `protocols` maps listener names that are not protocol names; `login` (USER:PASSWORD)
    is how the readiness probe logs in with SASL/PLAIN; `weir_only` are keys Kafka does not
    have. Returns the set (close_all() at the
    end) and the broker."""
    bs = BrokerSet(target, tmp_path_factory)
    names = list(listeners)
    keys = {
        **keys,
        "listeners": ",".join(f"{n}://127.0.0.1:{p}" for n, p in listeners.items()),
        "advertised.listeners": ",".join(f"{n}://127.0.0.1:{p}" for n, p in listeners.items()),
        "inter.broker.listener.name": names[0],
    }
    port = listeners[names[0]]
    if target == "kafka":
        cport = free_port()
        mapping = {n: (protocols or {}).get(n, n) for n in names}
        mapping["CONTROLLER"] = "PLAINTEXT"
        config = {
            **keys,
            "listeners": keys["listeners"] + f",CONTROLLER://127.0.0.1:{cport}",
            "listener.security.protocol.map": ",".join(f"{n}:{p}" for n, p in mapping.items()),
        }
        b = KafkaBroker(tmp_path_factory.mktemp(name) / "kafka", port, config=config,
                        args=["--controller-port", str(cport)])
    else:
        if protocols:
            keys["listener.security.protocol.map"] = ",".join(
                f"{n}:{(protocols or {}).get(n, n)}" for n in names)
        b = WeirBroker(WEIR_BIN, tmp_path_factory.mktemp(name) / "data", port,
                       config={**keys, **(weir_only or {})})
    bs.made.append(b)
    if login:
        os.environ["KWIRE_SASL_PLAIN"] = login
    try:
        b.start()
    except BaseException:
        bs.close_all()
        raise
    finally:
        os.environ.pop("KWIRE_SASL_PLAIN", None)
    return bs, b


class ConfigListenersNode(WeirBroker):
    """A Weir cluster node whose listeners all come from its config (no --listen flag)."""

    def command(self):
        cmd = super().command()
        i = cmd.index("--listen")
        return cmd[:i] + cmd[i + 2:]
