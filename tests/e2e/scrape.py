"""Reading a Weir broker's HTTP listener in tests: `/metrics` parsed by the Prometheus
project's own parsers (classic text and OpenMetrics), and the console's JSON API."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def get(addr: str, path: str, accept: str | None = None, timeout: float = 10) -> tuple[int, str, str]:
    """(status, content type, body) of GET http://addr/path."""
    req = urllib.request.Request(f"http://{addr}{path}")
    if accept:
        req.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def metrics_text(addr: str) -> str:
    status, ctype, body = get(addr, "/metrics")
    assert status == 200, body
    assert ctype.startswith("text/plain; version=0.0.4"), ctype
    return body


def samples(addr: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics (classic text format, parsed by prometheus_client), keyed
    by (sample name, sorted labels)."""
    out = {}
    for fam in text_string_to_metric_families(metrics_text(addr)):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(addr: str, name: str, **labels: str) -> float | None:
    """One sample of /metrics, or None when the broker does not export it."""
    return samples(addr).get((name, tuple(sorted(labels.items()))))


def openmetrics(addr: str) -> list:
    """/metrics as OpenMetrics (asked for through Accept), parsed by prometheus_client's
    strict OpenMetrics parser."""
    status, ctype, body = get(addr, "/metrics", accept=OPENMETRICS)
    assert status == 200, body
    assert ctype.startswith("application/openmetrics-text"), ctype
    assert body.endswith("# EOF\n")
    return list(openmetrics_families(body))


def api(addr: str, path: str) -> tuple[int, dict]:
    """(status, JSON) of the console API at /api/<path>."""
    status, ctype, body = get(addr, f"/api/{path}")
    assert ctype.startswith("application/json"), (ctype, body[:200])
    return status, json.loads(body)
