"""A real Prometheus server (Debian's `prometheus` package) for the e2e tests: scrapes the
given HTTP addresses every second into a throwaway data dir, on a free loopback port, and
answers PromQL through its HTTP query API."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

from brokers import free_port, log_tail


class Prometheus:
    def __init__(self, tmp: Path, targets: list[str]):
        binary = shutil.which("prometheus")
        if binary is None:
            raise RuntimeError("prometheus is not installed (scripts/test installs it)")
        self.dir = tmp
        self.addr = f"127.0.0.1:{free_port()}"
        config = tmp / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n"
            "scrape_configs:\n  - job_name: weir\n    static_configs:\n"
            f"      - targets: {json.dumps(targets)}\n"
        )
        self.log_path = tmp / "prometheus.log"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'data'}",
                 f"--web.listen-address={self.addr}", "--storage.tsdb.retention.time=1h"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.addr}/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            if self.proc.poll() is not None:
                raise RuntimeError("prometheus exited:\n" + log_tail(self.log_path))
            return False

    def query(self, promql: str) -> list[dict]:
        """The instant vector `promql` evaluates to now: [{"metric": {...}, "value": float}]."""
        url = f"http://{self.addr}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return [{"metric": s["metric"], "value": float(s["value"][1])}
                for s in body["data"]["result"]]

    def scalar(self, promql: str) -> float | None:
        """The single value of `promql`, or None when it has no sample."""
        result = self.query(promql)
        return result[0]["value"] if len(result) == 1 else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
