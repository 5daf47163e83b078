"""Brokers under test: a `weir serve` process, a reference Apache Kafka 4.3.1 (through
scripts/kafka-reference), or an already running broker given by address.

Every broker object offers the same surface so a test runs unchanged on each target:
`bootstrap` ("127.0.0.1:PORT"), `data_dir`, `start()`, `stop()`, `restart()`, `kill9()` and
`close()` (stop for good; fixtures call it in their finalizers, even on failure).

Optional per broker: `advertise=PORT` makes it advertise 127.0.0.1:PORT to clients (a fault
proxy in front of it, tests/e2e/proxy.py) while it listens on its own port, and
`config={key: value}` passes extra settings under Kafka's names (Kafka: server.properties
lines; Weir: a `--config` properties file).
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

import kwire

REPO = Path(__file__).resolve().parents[2]
KAFKA_SCRIPT = REPO / "scripts" / "kafka-reference"
READY_TIMEOUT = float(os.environ.get("WEIR_TEST_READY_TIMEOUT", "120"))
STOP_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (a zombie is dead but not yet reaped by
    a parent that is not us)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Broker:
    """Common surface; subclasses implement `_spawn`, `_pid` and readiness."""

    kind = "abstract"
    can_restart = True

    def __init__(self, data_dir: Path, port: int, auto_create: bool = True,
                 advertise: int | None = None, config: dict[str, str] | None = None):
        self.data_dir = Path(data_dir)
        self.port = port
        self.auto_create = auto_create
        self.advertise = advertise
        self.config = dict(config or {})
        self.bootstrap = f"127.0.0.1:{port}"
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"

    def __repr__(self) -> str:
        return f"<{self.kind} broker {self.bootstrap} dir={self.data_dir}>"

    def pid(self) -> int | None:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def alive(self) -> bool:
        pid = self.pid()
        return pid is not None and pid_alive(pid)

    def _wait_gone(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def stop(self) -> None:
        """Clean shutdown (SIGTERM), waiting for the process to exit; SIGKILL past a
        deadline."""
        if not self.alive():
            return
        os.kill(self.pid(), signal.SIGTERM)
        if not self._wait_gone(STOP_TIMEOUT):
            os.kill(self.pid(), signal.SIGKILL)
            self._wait_gone(STOP_TIMEOUT)

    def kill9(self) -> None:
        """SIGKILL: no chance to flush or close anything."""
        if not self.alive():
            return
        os.kill(self.pid(), signal.SIGKILL)
        self._wait_gone(STOP_TIMEOUT)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        try:
            self.stop()
        finally:
            if self.alive():
                os.kill(self.pid(), signal.SIGKILL)


class WeirBroker(Broker):
    """`weir serve --data-dir DIR --listen 127.0.0.1:PORT` as a child process."""

    kind = "weir"

    def __init__(self, binary: Path, data_dir: Path, port: int, auto_create: bool = True,
                 advertise: int | None = None, config: dict[str, str] | None = None,
                 args: list[str] | None = None):
        super().__init__(data_dir, port, auto_create, advertise, config)
        self.binary = Path(binary)
        self.args = list(args or [])  # extra `weir serve` flags (a cluster node's)
        self.proc: subprocess.Popen | None = None
        # Its own HTTP port (health, readiness), kept across restarts: several brokers run
        # at once, so the default one (9644) cannot serve them all.
        self.http_port = free_port()
        self.http = f"127.0.0.1:{self.http_port}"

    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def command(self) -> list[str]:
        cmd = [str(self.binary), "serve", "--data-dir", str(self.data_dir), "--listen",
               self.bootstrap]
        if not self.auto_create:
            cmd += ["--auto-create-topics-enable", "false"]
        # As the Kafka reference's server.properties (and Kafka's own quickstart config).
        cmd += ["--group-initial-rebalance-delay-ms", "0",
                "--group-consumer-session-timeout-ms", "10000",
                "--group-consumer-heartbeat-interval-ms", "1000"]
        if self.advertise is not None:
            cmd += ["--advertised-listener", f"127.0.0.1:{self.advertise}"]
        if self.config:
            props = self.data_dir.parent / f"{self.data_dir.name}.properties"
            cmd += ["--config", str(props)]
        cmd += self.args
        cmd += shlex.split(os.environ.get("WEIR_SERVE_ARGS", ""))
        return cmd

    def start(self) -> None:
        self.spawn()
        self.wait_ready()

    def spawn(self) -> None:
        """Starts the process without waiting for it to serve (a cluster node serves only
        once a quorum of voters runs)."""
        if not self.binary.exists():
            raise RuntimeError(f"weir binary not found at {self.binary} (set WEIR_BIN)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.config:
            props = self.data_dir.parent / f"{self.data_dir.name}.properties"
            props.write_text("".join(f"{k}={v}\n" for k, v in self.config.items()))
        log = open(self.log_path, "ab")
        log.write(f"=== start {' '.join(self.command())}\n".encode())
        log.flush()
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "info")
        env.setdefault("NO_COLOR", "1")  # plain log file
        env["WEIR_HTTP_LISTEN"] = self.http  # a --http-listen flag still wins
        self.proc = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, start_new_session=True,
        )
        log.close()

    def wait_ready(self) -> None:
        """Waits until the broker answers ApiVersions (or fails if it exits first)."""
        assert self.proc is not None, "spawn() first"
        deadline = time.monotonic() + READY_TIMEOUT
        while not kwire.probe(self.bootstrap, timeout=2.0):
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"weir exited with {self.proc.returncode} during startup:\n"
                    + log_tail(self.log_path)
                )
            if time.monotonic() >= deadline:
                self.kill9()
                raise RuntimeError("weir not ready in time:\n" + log_tail(self.log_path))
            time.sleep(0.1)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class KafkaBroker(Broker):
    """Apache Kafka 4.3.1 started by scripts/kafka-reference in its own state directory;
    the PID comes from the script's PID file."""

    kind = "kafka"

    def __init__(self, state_dir: Path, port: int, auto_create: bool = True,
                 advertise: int | None = None, config: dict[str, str] | None = None,
                 args: list[str] | None = None):
        super().__init__(Path(state_dir) / "data", port, auto_create, advertise, config)
        self.state_dir = Path(state_dir)
        self.log_path = self.state_dir / "kafka.log"
        self.args = list(args or [])  # extra `kafka-reference start` options (a cluster node's)
        self._pid: int | None = None

    def pid(self) -> int | None:
        return self._pid

    def start(self) -> None:
        self._run_script(wait=True)

    def spawn(self) -> None:
        """Starts the process without waiting for it to serve (a cluster node serves only
        once a quorum of voters runs)."""
        self._run_script(wait=False)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while not kwire.probe(self.bootstrap, timeout=2.0):
            if not self.alive():
                raise RuntimeError("kafka exited during startup:\n" + log_tail(self.log_path))
            if time.monotonic() >= deadline:
                self.kill9()
                raise RuntimeError("kafka not ready in time:\n" + log_tail(self.log_path))
            time.sleep(0.2)

    def _run_script(self, wait: bool) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        cmd = [str(KAFKA_SCRIPT), "start", "--dir", str(self.state_dir), "--port",
               str(self.port), "--timeout", str(int(READY_TIMEOUT)), *self.args]
        if not wait:
            cmd.append("--no-wait")
        if not self.auto_create:
            cmd.append("--no-auto-create")
        if self.advertise is not None:
            cmd += ["--advertised-port", str(self.advertise)]
        for k, v in self.config.items():
            cmd += ["--set", f"{k}={v}"]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=READY_TIMEOUT + 300,
                             stdin=subprocess.DEVNULL)
        pidf = self.state_dir / "kafka.pid"
        if pidf.exists():
            self._pid = int(pidf.read_text().strip())
        if res.returncode != 0:
            raise RuntimeError(f"kafka-reference start failed:\n{res.stderr[-4000:]}")
        if res.stdout.strip().splitlines()[-1] != self.bootstrap:
            raise RuntimeError(f"unexpected bootstrap {res.stdout!r}")


class ExternalBroker(Broker):
    """A broker someone else runs (WEIR_TEST_BOOTSTRAP); it cannot be restarted."""

    kind = "external"
    can_restart = False

    def __init__(self, bootstrap: str):
        host, port = bootstrap.rsplit(":", 1)
        super().__init__(Path("/nonexistent"), int(port))
        self.bootstrap = bootstrap

    def pid(self) -> int | None:
        return None

    def start(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while not kwire.probe(self.bootstrap, timeout=2.0):
            if time.monotonic() >= deadline:
                raise RuntimeError(f"no broker answering at {self.bootstrap}")
            time.sleep(0.2)

    def stop(self) -> None:
        raise RuntimeError("an external broker cannot be stopped by the tests")

    def kill9(self) -> None:
        raise RuntimeError("an external broker cannot be killed by the tests")

    def close(self) -> None:
        pass


class BrokerSet:
    """Makes brokers of one target in pytest temporary directories and remembers them, so
    `close_all()` (called from fixture finalizers) stops every one, by PID."""

    def __init__(self, target: str, tmp_factory):
        self.target = target
        self.tmp_factory = tmp_factory
        self.made: list[Broker] = []

    def make(self, auto_create: bool = True, name: str = "broker", advertise: int | None = None,
             config: dict[str, str] | None = None) -> Broker:
        """A started broker. `advertise`: the port it tells clients to use (127.0.0.1);
        `config`: extra broker settings, named as Kafka names them."""
        tmp = self.tmp_factory.mktemp(name)
        port = free_port()
        if self.target == "kafka":
            b: Broker = KafkaBroker(tmp / "kafka", port, auto_create=auto_create,
                                    advertise=advertise, config=config)
        else:
            binary = Path(os.environ.get("WEIR_BIN", REPO / "target" / "debug" / "weir"))
            b = WeirBroker(binary, tmp / "data", port, auto_create=auto_create,
                           advertise=advertise, config=config)
        self.made.append(b)
        b.start()
        return b

    def close_all(self) -> None:
        errors = []
        for b in reversed(self.made):
            try:
                b.close()
            except Exception as e:  # noqa: BLE001 - keep stopping the others
                errors.append(e)
        self.made.clear()
        if errors:
            raise errors[0]
