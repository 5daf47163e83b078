"""Several Weir nodes on loopback for the cluster tests: voters of the metadata quorum (and
brokers that are not voters), and the Metadata views those tests share."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import kwire
from brokers import REPO, WeirBroker, free_port
from helpers import wait_until


def require_own_weir(target: str) -> None:
    """Skips unless the run targets Weir brokers this test starts itself."""
    if target != "weir":
        pytest.skip("the Kafka reference runs a single node")
    if os.environ.get("WEIR_TEST_BOOTSTRAP"):
        pytest.skip("needs brokers it starts itself")


def make_nodes(tmp: Path, ids, voter_ids, args: list[str]) -> dict[int, WeirBroker]:
    """Nodes `ids` (not started), each with its own data dir, Kafka and controller port;
    `voter_ids` form the quorum; `args` are extra `weir serve` flags for every node."""
    binary = Path(os.environ.get("WEIR_BIN", REPO / "target" / "debug" / "weir"))
    cports = {n: free_port() for n in ids}
    voters = ",".join(f"{n}@127.0.0.1:{cports[n]}" for n in voter_ids)
    return {
        n: WeirBroker(binary, tmp / f"node{n}", free_port(),
                      args=["--node-id", str(n), "--controller-listen", f"127.0.0.1:{cports[n]}",
                            "--controller-voters", voters, *args])
        for n in ids
    }


def start_voters(nodes: dict[int, WeirBroker], voter_ids) -> None:
    """Starts the voters (a voter serves only once a majority runs: all first, then wait)
    until each lists every one of them."""
    for n in voter_ids:
        nodes[n].spawn()
    for n in voter_ids:
        nodes[n].wait_ready()
    for n in voter_ids:
        wait_brokers(nodes[n], set(voter_ids))


def metadata(node: WeirBroker, topics: list[str] | None = None) -> dict:
    with kwire.Conn.to(node.bootstrap) as c:
        return c.metadata(topics)


def brokers_of(node: WeirBroker) -> set[int]:
    try:
        return {b[0] for b in metadata(node)["brokers"]}
    except OSError:
        return set()


def wait_brokers(node: WeirBroker, want: set[int], timeout: float = 60) -> None:
    wait_until(lambda: brokers_of(node) == want, timeout,
               f"{node.bootstrap} to list brokers {sorted(want)}")
