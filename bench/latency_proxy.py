"""A TCP proxy that gives loopback the round-trip time of a real network.

This machine has no ``netem``, so the delay is made in asyncio: every byte is
held for RTT/2 in each direction, in order (bandwidth is not limited). A real
client also pays one round trip for the TCP handshake before its first byte can
leave, which a loopback ``connect()`` does not: the proxy holds the client's
bytes until one RTT after the connection was accepted, then RTT/2 more, so the
server sees them exactly as late as it would on a real network.

``rtt`` may be changed between runs; it applies to bytes that arrive afterwards.
"""

import asyncio
import contextlib
from collections.abc import Callable

_READ_SIZE = 65536


class LatencyProxy:
    """Listen on loopback and forward every connection to ``upstream`` with a delay."""

    def __init__(self, upstream_host: str, upstream_port: int, rtt: float = 0.0) -> None:
        """Create a stopped proxy; ``rtt`` is in seconds."""
        self._upstream = (upstream_host, upstream_port)
        self.rtt = rtt
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> int:
        """Listen on a free loopback port and return it."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def close(self) -> None:
        """Stop listening and cut every connection still open."""
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(self._connections)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one client connection (tracked so that ``close`` can cut it)."""
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._relay(reader, writer)
        finally:
            self._connections.discard(task)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Connect upstream and pump both directions until both have ended."""
        loop = asyncio.get_running_loop()
        # What the kernel did at once on loopback costs a round trip on a real network.
        handshake_done = loop.time() + self.rtt
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.close()
            return
        try:
            await asyncio.gather(
                _pump(reader, up_writer, lambda: self.rtt / 2, not_before=handshake_done),
                _pump(up_reader, writer, lambda: self.rtt / 2),
            )
        finally:
            for side in (writer, up_writer):
                side.close()
                with contextlib.suppress(OSError):
                    await side.wait_closed()


async def _pump(
    source: asyncio.StreamReader,
    sink: asyncio.StreamWriter,
    delay: Callable[[], float],
    *,
    not_before: float = 0.0,
) -> None:
    """Copy ``source`` to ``sink``, each chunk ``delay()`` seconds after it arrived.

    Reading goes on while earlier chunks wait, so the delay is a latency, not a
    throughput limit; a queue keeps the order.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def read() -> None:
        """Timestamp everything that arrives; an empty chunk marks the end."""
        try:
            while data := await source.read(_READ_SIZE):
                queue.put_nowait((max(loop.time(), not_before) + delay(), data))
        except OSError:
            pass
        queue.put_nowait((max(loop.time(), not_before) + delay(), b""))

    reader = asyncio.create_task(read())
    try:
        while True:
            due, data = await queue.get()
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            if not data:
                if sink.can_write_eof():
                    sink.write_eof()
                return
            sink.write(data)
            await sink.drain()
    except OSError:
        return
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
