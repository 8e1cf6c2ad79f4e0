"""Loopback egress proxies for the VPN tests: an HTTP(S) forward proxy and a SOCKS5 proxy.

Both log every HTTP request they carry (forwarded or sniffed inside a tunnel), can demand
credentials, and can be killed (every socket dropped, like a dying VPN client) and restarted
on the same port. Each runs on its own event loop in a daemon thread, as the sandbox does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit


@dataclass(frozen=True, slots=True)
class Seen:
    """One HTTP request a proxy carried."""

    method: str
    target: str  # absolute URL for forwarded requests, the path for tunneled ones
    host: str  # where the proxy connected
    body: bytes


class Sniffer:
    """Splits a client→server byte stream into HTTP/1.1 requests (Content-Length bodies)."""

    def __init__(self, host: str, on_request: Callable[[Seen], None]) -> None:
        self._buf = b""
        self._host = host
        self._on_request = on_request

    def feed(self, data: bytes) -> None:
        self._buf += data
        while True:
            head_end = self._buf.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self._buf[:head_end].decode("latin-1")
            lines = head.split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3 or not parts[2].startswith("HTTP/"):
                self._buf = b""  # not HTTP (e.g. TLS): nothing to sniff
                return
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            end = head_end + 4 + length
            if len(self._buf) < end:
                return
            body, self._buf = self._buf[head_end + 4 : end], self._buf[end:]
            self._on_request(Seen(parts[0], parts[1], self._host, body))


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sniffer: Sniffer | None = None
) -> None:
    try:
        while data := await reader.read(65536):
            if sniffer is not None:
                sniffer.feed(data)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


class LoopbackProxy:
    """Common life cycle: serve on a loopback port in a thread; kill, restart, inspect."""

    scheme = "http"

    def __init__(self, username: str | None = None, password: str | None = None) -> None:
        self.username = username
        self.password = password
        self.port = 0
        self.seen: list[Seen] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    # -- control, from any thread ------------------------------------------------------------

    def _call(self, coro_fn: Callable[[], object]) -> None:
        asyncio.run_coroutine_threadsafe(coro_fn(), self._loop).result(10)  # type: ignore[arg-type]

    def start(self) -> LoopbackProxy:
        """Listen (again, on the same port once one was chosen)."""
        self._call(self._start)
        return self

    def kill(self) -> None:
        """Stop listening and drop every open connection at once."""
        self._call(self._kill)

    def close(self) -> None:
        """Kill, finish every handler, then end the thread."""
        self._call(self._shutdown)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    @property
    def url(self) -> str:
        """The proxy URL, with the credentials when it has some."""
        auth = ""
        if self.username is not None:
            auth = f"{quote(self.username, safe='')}:{quote(self.password or '', safe='')}@"
        return f"{self.scheme}://{auth}127.0.0.1:{self.port}"

    def requests(self) -> list[Seen]:
        """Requests carried so far, oldest first."""
        with self._lock:
            return list(self.seen)

    def clear(self) -> None:
        with self._lock:
            self.seen.clear()
            self.connections = 0

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    # -- inside the proxy's loop ---------------------------------------------------------------

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _kill(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for _ in range(3):  # connections accepted just before the close start their handlers
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()
            await asyncio.sleep(0)

    async def _shutdown(self) -> None:
        await self._kill()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for writer in list(self._writers):
            writer.transport.abort()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._server is None:  # killed: a dead proxy carries nothing
            writer.transport.abort()
            return
        with self._lock:
            self.connections += 1
        self._writers.add(writer)
        try:
            await self.handle(reader, writer)
        except (ConnectionError, OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def _connect(self, host: str, port: int) -> tuple[asyncio.StreamReader, Any]:
        reader, writer = await asyncio.open_connection(host, port)
        self._writers.add(writer)
        return reader, writer

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


class HTTPProxy(LoopbackProxy):
    """A forward proxy: absolute-form requests are forwarded, CONNECT is tunneled."""

    def _authorized(self, headers: dict[str, str]) -> bool:
        if self.username is None:
            return True
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return headers.get("proxy-authorization", "") == f"Basic {expected}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        lines = head.split("\r\n")
        method, target, version = lines[0].split(" ")
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if not self._authorized(headers):
            writer.write(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n'
                b"Connection: close\r\n\r\n"
            )
            await writer.drain()
            return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            up_reader, up_writer = await self._connect(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            sniffer = Sniffer(target, self._record)
            await asyncio.gather(
                _pipe(reader, up_writer, sniffer), _pipe(up_reader, writer), return_exceptions=True
            )
            return
        parts = urlsplit(target)
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        host = parts.hostname or ""
        self._record(Seen(method, target, f"{host}:{parts.port}", body))
        up_reader, up_writer = await self._connect(host, parts.port or 80)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        out = [f"{method} {path or '/'} {version}"]
        for line in lines[1:]:
            name = line.partition(":")[0].strip().lower()
            if line and not name.startswith("proxy-") and name != "connection":
                out.append(line)
        # One request per connection keeps the log exact (no reuse of a forwarded connection).
        out.append("Connection: close")
        up_writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + body)
        await up_writer.drain()
        response_head = (await up_reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        kept = [
            line
            for line in response_head.split("\r\n")
            if line and line.partition(":")[0].strip().lower() != "connection"
        ]
        writer.write(("\r\n".join([*kept, "Connection: close"]) + "\r\n\r\n").encode("latin-1"))
        await _pipe(up_reader, writer)


class SOCKS5Proxy(LoopbackProxy):
    """A SOCKS5 proxy (RFC 1928, username/password per RFC 1929), CONNECT only."""

    scheme = "socks5"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        wanted = 0x02 if self.username is not None else 0x00
        if version != 5 or wanted not in methods:
            writer.write(b"\x05\xff")
            return
        writer.write(bytes([5, wanted]))
        if wanted == 0x02:
            _, ulen = await reader.readexactly(2)
            user = (await reader.readexactly(ulen)).decode()
            (plen,) = await reader.readexactly(1)
            password = (await reader.readexactly(plen)).decode()
            ok = user == self.username and password == self.password
            writer.write(b"\x01\x00" if ok else b"\x01\x01")
            if not ok:
                return
        _, cmd, _, atyp = await reader.readexactly(4)
        if atyp == 1:
            host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
        elif atyp == 3:
            (length,) = await reader.readexactly(1)
            host = (await reader.readexactly(length)).decode()
        else:
            host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        if cmd != 1:
            writer.write(b"\x05\x07\x00\x01" + socket.inet_aton("0.0.0.0") + b"\x00\x00")
            return
        try:
            up_reader, up_writer = await self._connect(host, port)
        except OSError:
            writer.write(b"\x05\x05\x00\x01" + socket.inet_aton("0.0.0.0") + b"\x00\x00")
            return
        writer.write(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", 0))
        await writer.drain()
        sniffer = Sniffer(f"{host}:{port}", self._record)
        await asyncio.gather(
            _pipe(reader, up_writer, sniffer), _pipe(up_reader, writer), return_exceptions=True
        )
