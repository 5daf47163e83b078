"""A TCP gate on loopback for network-partition tests: it forwards bytes between whoever
connects to it and one upstream address until `block()` cuts every connection through it
and refuses new ones (accepted, then closed at once), and `heal()` lets traffic through
again. A node "behind" gates is cut off by blocking them; nothing leaves 127.0.0.1.

Every socket has a timeout, every thread is a daemon, and close() stops them all.
"""

from __future__ import annotations

import socket
import threading

IDLE_TIMEOUT = 600.0


class Gate:
    def __init__(self, upstream: str):
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.live: set[socket.socket] = set()
        self.blocked = False
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def block(self) -> None:
        """Cuts every connection through the gate and refuses new ones."""
        with self.lock:
            self.blocked = True
            live, self.live = self.live, set()
        for s in live:
            _shut(s)

    def heal(self) -> None:
        with self.lock:
            self.blocked = False

    def close(self) -> None:
        self.closed = True
        self.block()
        self.sock.close()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            with self.lock:
                blocked = self.blocked
            if blocked:
                _shut(client)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _shut(client)
                continue
            for s in (client, server):
                s.settimeout(IDLE_TIMEOUT)
            with self.lock:
                if self.blocked:
                    _shut(client)
                    _shut(server)
                    continue
                self.live |= {client, server}
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                _shut(s)
            with self.lock:
                self.live -= {src, dst}


def _shut(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass
