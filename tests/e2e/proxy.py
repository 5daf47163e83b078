"""A small TCP fault proxy for the Kafka protocol, on loopback only.

It sits between clients and one broker (which advertises the proxy's address, so clients
stay on it after bootstrap) and forwards whole frames (4-byte big-endian size prefix) both
ways, one thread per direction per connection. On command it injects the fault that
idempotent producers exist for: `arm(n)` makes the next `n` requests of an API key (by
default Produce) be forwarded to the broker, the broker's response read, and then both
sides of that connection cut instead of the response being passed on. The broker has
stored the batch; the client never saw the acknowledgement and must retry it on a new
connection.

    with FaultProxy() as proxy:               # listens on 127.0.0.1:proxy.port
        broker = new_broker(advertise=proxy.port)
        proxy.upstream = broker.bootstrap
        proxy.arm(1)
        ...
        proxy.cuts                           # faults injected so far

Every socket has a timeout, every thread is a daemon, and close() shuts everything down.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections import Counter

API_PRODUCE = 0
MAX_FRAME = 256 * 1024 * 1024
IO_TIMEOUT = 300.0  # an idle connection longer than this is dropped


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _read_frame(sock: socket.socket) -> bytes | None:
    """One size-prefixed frame (prefix included), or None at EOF."""
    head = _recv_exact(sock, 4)
    if head is None:
        return None
    (size,) = struct.unpack(">i", head)
    if size < 0 or size > MAX_FRAME:
        raise ValueError(f"bad frame size {size}")
    body = _recv_exact(sock, size)
    if body is None:
        return None
    return head + body


class _Link:
    """One client connection and its upstream connection."""

    def __init__(self, proxy: "FaultProxy", client: socket.socket, server: socket.socket):
        self.proxy = proxy
        self.client = client
        self.server = server
        self.doomed: int | None = None  # correlation id whose response is never delivered
        self.lock = threading.Lock()
        self.closed = False

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
        for s in (self.client, self.server):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass
        self.proxy._forget(self)

    def client_to_server(self) -> None:
        try:
            while True:
                frame = _read_frame(self.client)
                if frame is None:
                    break
                api_key, _version, corr = struct.unpack_from(">hhi", frame, 4)
                self.proxy._count(api_key)
                if self.doomed is None and self.proxy._take_fault(api_key):
                    self.doomed = corr
                self.server.sendall(frame)
        except (OSError, ValueError, struct.error):
            pass
        self.close()

    def server_to_client(self) -> None:
        try:
            while True:
                frame = _read_frame(self.server)
                if frame is None:
                    break
                (corr,) = struct.unpack_from(">i", frame, 4)
                if self.doomed is not None and corr == self.doomed:
                    # The broker answered: it has the request's effects. Cut the connection
                    # instead of passing the answer on.
                    self.proxy._cut_done()
                    break
                self.client.sendall(frame)
        except (OSError, ValueError, struct.error):
            pass
        self.close()


class FaultProxy:
    def __init__(self, upstream: str | None = None):
        self.upstream = upstream
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)  # the accept loop notices close() within this
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._links: set[_Link] = set()
        self._armed = 0
        self._fault_api = API_PRODUCE
        self.cuts = 0
        self.connections = 0
        self.requests: Counter = Counter()
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []
        t = threading.Thread(target=self._accept, name="proxy-accept", daemon=True)
        t.start()
        self._threads.append(t)

    # ------------------------------------------------------------ commands

    def arm(self, n: int = 1, api_key: int = API_PRODUCE) -> None:
        """The next `n` requests with `api_key` lose their responses and connections."""
        with self._lock:
            self._fault_api = api_key
            self._armed += n

    def disarm(self) -> None:
        with self._lock:
            self._armed = 0

    def cut_all(self) -> int:
        """Cuts every open connection at once, whatever is in flight; returns how many."""
        with self._lock:
            links = list(self._links)
        for link in links:
            link.close()
        return len(links)

    def close(self) -> None:
        self._closed.set()
        try:
            self.sock.close()
        except OSError:
            pass
        self.cut_all()
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(timeout=5)

    def __enter__(self) -> "FaultProxy":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ internals

    def _count(self, api_key: int) -> None:
        with self._lock:
            self.requests[api_key] += 1

    def _take_fault(self, api_key: int) -> bool:
        with self._lock:
            if self._armed > 0 and api_key == self._fault_api:
                self._armed -= 1
                return True
            return False

    def _cut_done(self) -> None:
        with self._lock:
            self.cuts += 1

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            upstream = self.upstream
            host, port = upstream.rsplit(":", 1) if upstream else ("", "0")
            if host not in ("127.0.0.1", "localhost"):  # no upstream yet, or not loopback
                client.close()
                continue
            try:
                server = socket.create_connection((host, int(port)), timeout=10)
            except OSError:
                client.close()
                continue
            for s in (client, server):
                s.settimeout(IO_TIMEOUT)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = _Link(self, client, server)
            with self._lock:
                closing = self._closed.is_set()
                if not closing:
                    self._links.add(link)
            if closing:
                link.close()
                return
            with self._lock:
                self.connections += 1
                # Finished threads are dropped so a long test does not accumulate them.
                self._threads = [t for t in self._threads if t.is_alive()]
            for target in (link.client_to_server, link.server_to_client):
                t = threading.Thread(target=target, daemon=True)
                t.start()
                with self._lock:
                    self._threads.append(t)
