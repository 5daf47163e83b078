"""pytest wiring for the end-to-end suite.

Target selection (the system under test):
  --target weir|kafka   (or WEIR_TEST_TARGET; default weir)
  WEIR_BIN              the weir binary (default target/debug/weir)
  WEIR_TEST_BOOTSTRAP   host:port of an already running broker: used instead of starting
                        one; tests that restart or reconfigure a broker are skipped.

Fixtures:
  broker        one broker shared by the whole session (tests use unique topic names)
  new_broker    factory for a private broker: new_broker(auto_create=True, advertise=None,
                config=None) -> Broker (advertise: the port it tells clients, e.g. a fault
                proxy's; config: extra broker settings under Kafka's names); stopped (by
                PID) when the test ends, pass or fail
  topic         a fresh unique topic name (not created)

Time: every test is stopped after pytest.ini's timeout; once WEIR_TEST_BUDGET seconds
(default 1800) have passed since the session started, the remaining tests fail at once
instead of running, so a broker that hangs cannot stretch a run past its budget.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from brokers import BrokerSet, ExternalBroker, log_tail  # noqa: E402

_SESSION_START = time.monotonic()


def pytest_addoption(parser):
    parser.addoption(
        "--target",
        choices=["weir", "kafka"],
        default=os.environ.get("WEIR_TEST_TARGET", "weir"),
        help="system under test: weir (target/debug/weir) or kafka (Apache Kafka 4.3.1)",
    )


def pytest_collection_modifyitems(items):
    """The tests on the shared three-node cluster run late, so that cluster does not sit
    beside every other test for the rest of the session; the power-loss tests run last of
    all: their FUSE file systems and fsync-heavy load (Kafka's flush.messages=1 topics) would
    otherwise slow whatever the other target's lane runs beside them."""

    def rank(item) -> int:
        if item.module.__name__ in ("test_powerloss", "test_lazyfs"):
            return 2
        return 1 if "three_node_cluster" in getattr(item, "fixturenames", ()) else 0

    items.sort(key=rank)


def pytest_report_header(config):
    ext = os.environ.get("WEIR_TEST_BOOTSTRAP")
    return f"e2e target: {config.getoption('--target')}" + (f" at {ext}" if ext else "")


def pytest_runtest_setup(item):
    budget = float(os.environ.get("WEIR_TEST_BUDGET", "1800"))
    used = time.monotonic() - _SESSION_START
    if budget > 0 and used > budget:
        pytest.fail(f"not run: the e2e time budget of {budget:.0f}s (WEIR_TEST_BUDGET) is used up",
                    pytrace=False)


@pytest.fixture(scope="session")
def target(pytestconfig) -> str:
    return pytestconfig.getoption("--target")


@pytest.fixture(scope="session")
def _brokers(target, tmp_path_factory):
    b = BrokerSet(target, tmp_path_factory)
    yield b
    b.close_all()


@pytest.fixture(scope="session")
def broker(_brokers):
    ext = os.environ.get("WEIR_TEST_BOOTSTRAP")
    if ext:
        b = ExternalBroker(ext)
        b.start()
        return b
    return _brokers.make(name="shared")


@pytest.fixture(scope="session")
def _three_nodes(target, tmp_path_factory):
    from cluster import three_nodes

    yield from three_nodes(target, tmp_path_factory, "three")


@pytest.fixture
def three_node_cluster(_three_nodes):
    """Three voters of the target shared by the cluster tests, each running and listed
    by every node when a test starts."""
    from cluster import healthy

    return healthy(_three_nodes)


@pytest.fixture
def new_broker(target, tmp_path_factory):
    if os.environ.get("WEIR_TEST_BOOTSTRAP"):
        pytest.skip("needs its own broker; WEIR_TEST_BOOTSTRAP points at an external one")
    b = BrokerSet(target, tmp_path_factory)
    yield b.make
    b.close_all()


@pytest.fixture
def topic(request) -> str:
    base = request.node.name.replace("[", "-").replace("]", "").replace("_", "-")
    base = "".join(ch for ch in base if ch.isalnum() or ch in "-.")[:80]
    return f"e2e-{base}-{uuid.uuid4().hex[:8]}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the tail of each broker's log to a failing test's report."""
    outcome = yield
    rep = outcome.get_result()
    if rep.when != "call" or not rep.failed:
        return
    seen = set()
    for value in item.funcargs.values():
        brokers = [value] if hasattr(value, "log_path") else []
        owner = getattr(value, "__self__", None)  # the new_broker factory
        if isinstance(owner, BrokerSet):
            brokers = list(owner.made)
        for b in brokers:
            if id(b) in seen or isinstance(b, ExternalBroker):
                continue
            seen.add(id(b))
            rep.sections.append((f"broker log {b.bootstrap}", log_tail(b.log_path, 60)))
