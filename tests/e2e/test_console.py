"""The web console at `/`, in headless Chromium driven through its real WebDriver
(Debian's chromium and chromium-driver, via Selenium): every page renders from the JSON API,
the record browser shows records a real client produced (keys, values and headers that hold
HTML and script tags are shown as text, never run), and the group page plots the lag of a
group this test made fall behind. The API's bounds and refusals are checked directly. Weir
only: Kafka has no console.

With WEIR_CONSOLE_SCREENSHOTS=DIR the test saves a screenshot of each page there (that is how
docs/console/*.png are made)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from confluent_kafka import Producer

from brokers import WeirBroker
from clients import unique_group
from cluster import NotYet
from helpers import create_topic, wait_until
from scrape import api, get
from test_metrics import consume, kafka_lag, produce

XSS_IMG = '<img src=x onerror="window.__xss=1">'
XSS_SCRIPT = "<script>window.__xss=2</script>"


@pytest.fixture()
def weir(broker):
    if not isinstance(broker, WeirBroker):
        pytest.skip("Weir's own console")
    return broker


@pytest.fixture()
def browser(tmp_path):
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("chromium and chromium-driver are not installed (scripts/test installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chromium'}",
              "--window-size=1280,900"]:
        opts.add_argument(a)
    b = webdriver.Chrome(options=opts, service=Service(executable_path=driver))
    b.set_page_load_timeout(30)
    try:
        yield b
    finally:
        b.quit()


def open_page(b, base: str, route: str, shots: str, name: str) -> None:
    """Opens `route` and waits until the page says it rendered."""
    b.get(f"{base}/#{route}")

    def rendered():
        state = b.execute_script("return document.body.dataset.state")
        return True if state == "ready" else NotYet(state)
    wait_until(rendered, 30, f"the console's {route} to render")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        b.save_screenshot(str(Path(shots) / f"{name}.png"))


def texts(b, css: str) -> list[str]:
    return b.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.textContent)", css)


def test_console_pages_show_what_clients_did(weir, topic, browser):
    shots = os.environ.get("WEIR_CONSOLE_SCREENSHOTS", "")
    base = f"http://{weir.http}"
    create_topic(weir.bootstrap, topic, partitions=2)
    p = Producer({"bootstrap.servers": weir.bootstrap})
    p.produce(topic, key=XSS_IMG.encode(), value=XSS_SCRIPT.encode(), partition=0,
              headers=[(XSS_IMG, XSS_SCRIPT.encode()), ("plain", b"header value")])
    p.produce(topic, key=b"json", value=json.dumps({"order": 7, "items": ["a", "b"]}).encode(),
              partition=0)
    assert p.flush(30) == 0
    produce(weir.bootstrap, topic, 48, partitions=2)  # 24 more in each partition
    group = unique_group()
    consume(weir.bootstrap, topic, group, 20)
    produce(weir.bootstrap, topic, 40, partitions=2)
    lags = kafka_lag(weir.bootstrap, group, topic, 2)  # partitions the group committed
    want = sum(lags.values())
    assert want > 0

    open_page(browser, base, "/", shots, "overview")
    assert browser.find_element("css selector", "#overview-summary").text
    assert browser.find_elements("css selector", "table#brokers tr[data-node-id]")

    open_page(browser, base, "/topics", shots, "topics")
    browser.find_element("css selector", "#topic-filter").send_keys(topic)

    def filtered():
        rows = browser.execute_script(
            "return Array.from(document.querySelectorAll('table#topics tr[data-topic]'))"
            ".map(r => r.dataset.topic)")
        return True if rows == [topic] else NotYet(rows[:5])
    wait_until(filtered, 30, "the filter to leave only the topic")

    open_page(browser, base, f"/topic/{topic}", shots, "topic")
    assert len(browser.find_elements("css selector", "table#partitions tr[data-partition]")) == 2
    assert browser.find_elements("css selector", 'table#configs tr[data-config="retention.ms"]')

    # The record browser: the earliest records of partition 0 are the hostile ones.
    open_page(browser, base, f"/topic/{topic}/records", shots, "records")
    browser.find_element("css selector", "#rec-from").send_keys("earliest")
    browser.find_element("css selector", "#rec-load").click()
    wait_until(lambda: browser.find_elements("css selector", 'table#records tr.record[data-offset="0"]'),
               30, "the earliest records")
    page = browser.find_element("css selector", "table#records").text
    assert XSS_IMG in page and XSS_SCRIPT in page and "header value" in page
    assert browser.execute_script("return window.__xss") is None
    assert not browser.find_elements("css selector", "table#records img, table#records script")
    if shots:
        browser.save_screenshot(str(Path(shots) / "records.png"))

    # The group page: its lag, and the plot of it once the sampler has seen it.
    wait_until(lambda: api(weir.http, f"groups/{group}")[0] == 200, 30,
               "the sampler to see the group")
    open_page(browser, base, f"/group/{group}", shots, "group")

    def lag_plotted():
        total = browser.execute_script(
            "const e = document.querySelector('#group-total-lag'); return e && e.dataset.lag")
        last = browser.execute_script(
            "const e = document.querySelector('svg.plot[data-series=lag]'); return e && e.dataset.last")
        ok = total == str(want) and last is not None and float(last) == want
        return True if ok else NotYet((total, last))
    wait_until(lag_plotted, 60, f"the group page to show and plot a lag of {want}")
    rows = browser.find_elements("css selector", f'table#group-partitions tr[data-topic="{topic}"]')
    assert len(rows) == len(lags)
    if shots:
        browser.save_screenshot(str(Path(shots) / "group.png"))
    logs = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert not logs, logs


def test_console_api_is_bounded_and_refuses_bad_input(weir, topic):
    create_topic(weir.bootstrap, topic)
    p = Producer({"bootstrap.servers": weir.bootstrap})
    big = b"x" * 9000
    for i in range(150):
        p.produce(topic, key=str(i).encode(), value=big if i == 0 else b"small", partition=0)
    assert p.flush(30) == 0

    status, body = api(weir.http, f"topics/{topic}/records?from=earliest&limit=1000")
    assert status == 200 and body["limit"] == 100 and len(body["records"]) == 100
    first = body["records"][0]["value"]
    assert first["size"] == 9000 and first["truncated"] and len(first["text"]) == 4096
    assert body["next_offset"] == 100

    status, body = api(weir.http, f"topics/{topic}/records?from=offset&offset=145&limit=10")
    assert status == 200 and [r["offset"] for r in body["records"]] == list(range(145, 150))

    assert api(weir.http, f"topics/{topic}/records?partition=abc")[0] == 400
    assert api(weir.http, f"topics/{topic}/records?from=sometime")[0] == 400
    assert api(weir.http, f"topics/{topic}/records?partition=7")[0] == 404
    assert api(weir.http, "topics/no-such-topic")[0] == 404
    assert api(weir.http, "groups/no-such-group")[0] == 404
    assert api(weir.http, "nothing/here")[0] == 404
    status, ctype, page = get(weir.http, "/")
    assert status == 200 and ctype.startswith("text/html") and "/console.js" in page
    assert "console API request refused" in (weir.log_path.read_text(errors="replace"))
    # The broker still serves Kafka and HTTP.
    assert get(weir.http, "/healthz")[0] == 200


def test_every_node_browses_every_partition(three_node_cluster, target, topic):
    """A partition hosted on another node is read from its leader, as a consumer would."""
    if target != "weir":
        pytest.skip("Weir's own console")
    from confluent_kafka.admin import NewTopic

    from cluster import bootstrap_of
    from helpers import admin

    cluster = three_node_cluster
    bootstrap = bootstrap_of(cluster)
    a = admin(bootstrap)
    a.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)],
                    operation_timeout=30)[topic].result(60)
    p = Producer({"bootstrap.servers": bootstrap})
    for i in range(30):
        p.produce(topic, value=f"p{i % 3}-{i}".encode(), partition=i % 3)
    assert p.flush(30) == 0
    for node in cluster.values():
        for part in range(3):
            def read():
                status, body = api(node.http,
                                   f"topics/{topic}/records?partition={part}&from=earliest")
                values = [r["value"]["text"] for r in body.get("records", [])]
                ok = status == 200 and len(values) == 10
                return values if ok else NotYet((status, body))
            values = wait_until(read, 30, f"node {node.http} to read partition {part}")
            assert all(v.startswith(f"p{part}-") for v in values)


def test_console_and_metrics_with_a_thousand_topics(new_broker, target, browser):
    """1,000 topics: the topics page renders in chunks (all of them reachable by scrolling and
    by the filter), and /metrics still parses. How long it takes is measured in
    docs/benchmarks.md, not asserted here."""
    if target != "weir":
        pytest.skip("Weir's own console")
    from confluent_kafka.admin import NewTopic

    from helpers import admin
    from scrape import samples

    b = new_broker()
    a = admin(b.bootstrap)
    for start in range(0, 1000, 100):
        fs = a.create_topics([NewTopic(f"t{i:04d}", 1, 1) for i in range(start, start + 100)],
                             operation_timeout=60)
        for f in fs.values():
            f.result(120)
    open_page(browser, f"http://{b.http}", "/topics", "", "topics")
    count = browser.find_element("css selector", "#topic-count").text
    assert count.startswith("1000 of "), count

    def scrolled_to_the_end():
        n = browser.execute_script(
            "const w = document.querySelector('.table-wrap'); w.scrollTop = w.scrollHeight;"
            "return document.querySelectorAll('table#topics tr[data-topic]').length")
        return True if n == 1000 else NotYet(n)
    wait_until(scrolled_to_the_end, 60, "scrolling to reach all 1,000 rows")
    browser.find_element("css selector", "#topic-filter").send_keys("t0999")
    wait_until(lambda: len(browser.find_elements("css selector", "table#topics tr[data-topic]")) == 1,
               30, "the filter to find one topic among 1,000")
    s = samples(b.http)
    assert s[("weir_cluster_topics", ())] >= 1000
