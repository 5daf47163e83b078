"""Driving consumer-group members (tests/e2e/group_member.py processes, or the Java
client's `KafkaCli group`) from a test: what
each member was assigned, revoked and consumed, with waits bounded by deadlines."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from helpers import wait_until

MEMBER = Path(__file__).resolve().parent / "group_member.py"


class Member:
    """One group member process and the events it reported."""

    def __init__(self, client: str, bootstrap: str, topic: str, group: str, **opts):
        self.opts = dict(client=client, bootstrap=bootstrap, topic=topic, group=group, **opts)
        self.events: list[dict] = []
        self.lock = threading.Lock()
        # WEIR_E2E_MEMBER_LOGS=DIR keeps each member's stderr (client logs) there.
        logs = os.environ.get("WEIR_E2E_MEMBER_LOGS")
        stderr = subprocess.DEVNULL
        if logs:
            Path(logs).mkdir(parents=True, exist_ok=True)
            stderr = open(Path(logs) / f"{group}-{client}-{time.monotonic_ns()}.log", "w")
        self.proc = subprocess.Popen(
            self._command(),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
            text=True, start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _command(self) -> list[str]:
        if self.opts["client"] == "java-share":
            return self._share_command()
        if self.opts["client"] == "franz-share":
            return self._franz_share_command()
        if self.opts["client"] != "java":
            return [sys.executable, str(MEMBER), json.dumps(self.opts)]
        from clients import java_command

        o = self.opts
        cmd = java_command() + ["group", "--bootstrap", o["bootstrap"], "--topic", o["topic"],
                                "--group", o["group"]]
        for key, flag in (("protocol", "--protocol"), ("assignor", "--assignor"),
                          ("instance_id", "--instance-id"), ("session_ms", "--session-ms"),
                          ("reset", "--reset"), ("max_seconds", "--max-seconds"),
                          ("pattern", "--pattern")):
            if o.get(key) is not None:
                cmd += [flag, str(o[key])]
        return cmd

    def _share_command(self) -> list[str]:
        """`KafkaCli share`: a KafkaShareConsumer (KIP-932)."""
        from clients import java_command

        o = self.opts
        cmd = java_command() + ["share", "--bootstrap", o["bootstrap"], "--topic", o["topic"],
                                "--group", o["group"]]
        for key, flag in (("mode", "--mode"), ("release", "--release"), ("reject", "--reject"),
                          ("hold_values", "--hold-values"), ("delay_ms", "--delay-ms"),
                          ("renew_values", "--renew-values"), ("renew_times", "--renew-times"),
                          ("renew_every_ms", "--renew-every-ms"),
                          ("max_seconds", "--max-seconds")):
            if o.get(key) is not None:
                cmd += [flag, str(o[key])]
        for k, v in (o.get("props") or {}).items():
            cmd += ["--prop", f"{k}={v}"]
        return cmd

    def _franz_share_command(self) -> list[str]:
        """tests/go sharemember: franz-go's share consumer (KIP-932)."""
        o = self.opts
        binary = Path(__file__).resolve().parents[1] / "go" / "bin" / "sharemember"
        if not binary.exists():
            raise AssertionError(f"{binary} not built: run scripts/test (it builds tests/go)")
        cmd = [str(binary), "-bootstrap", o["bootstrap"], "-topic", o["topic"],
               "-group", o["group"]]
        for key, flag in (("release", "-release"), ("reject", "-reject"),
                          ("max_seconds", "-max-seconds"), ("max_records", "-max-records"),
                          ("delay_ms", "-delay-ms"), ("hold_values", "-hold-values")):
            if o.get(key) is not None:
                cmd += [flag, str(o[key])]
        return cmd

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                self.events.append(ev)

    def of(self, kind: str) -> list[dict]:
        with self.lock:
            return [e for e in self.events if e["ev"] == kind]

    def mark(self) -> int:
        """A position in the event list, to look at what happened after it."""
        with self.lock:
            return len(self.events)

    def since(self, mark: int, kind: str) -> list[dict]:
        with self.lock:
            return [e for e in self.events[mark:] if e["ev"] == kind]

    def assignment(self) -> set[int]:
        a = self.of("assignment")
        return set(a[-1]["parts"]) if a else set()

    def topic_assignment(self) -> set[tuple[str, int]]:
        """The last whole assignment as (topic, partition) pairs."""
        a = self.of("assignment")
        return {(t, p) for t, p in a[-1].get("tps", [])} if a else set()

    def records(self) -> list[tuple[int, int]]:
        return [(e["p"], e["o"]) for e in self.of("rec")]

    def errors(self) -> list[str]:
        return [e["what"] for e in self.of("error")]

    def send(self, cmd: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()

    def commit(self, timeout: float = 30) -> None:
        n = len(self.of("committed"))
        self.send("commit")
        wait_until(lambda: len(self.of("committed")) > n, timeout, "the commit to finish")

    def close(self, timeout: float = 60) -> None:
        """Leaves the group and waits for the process to exit."""
        if self.proc.poll() is None:
            try:
                self.send("close")
            except (BrokenPipeError, OSError):
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill9()

    def kill9(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)


class Members:
    """Every member a test started, so the fixture stops them all."""

    def __init__(self):
        self.all: list[Member] = []

    def start(self, *args, **kwargs) -> Member:
        m = Member(*args, **kwargs)
        self.all.append(m)
        return m

    def close_all(self) -> None:
        for m in self.all:
            m.kill9()


def wait_split(members: list[Member], partitions: int, timeout: float = 60) -> list[set[int]]:
    """Waits until the members' assignments cover 0..partitions-1 with no overlap and every
    member holds at least one partition; returns the assignments."""

    def split():
        sets = [m.assignment() for m in members]
        union = set().union(*sets)
        ok = (union == set(range(partitions)) and sum(map(len, sets)) == partitions
              and all(sets))
        return sets if ok else None

    return wait_until(split, timeout, f"{len(members)} members to split {partitions} partitions")


def wait_records(member: Member, want: set[tuple[int, int]], timeout: float = 60) -> None:
    wait_until(lambda: want <= set(member.records()), timeout,
               f"{len(want)} records to reach the member")
