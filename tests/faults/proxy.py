"""A TCP proxy in front of PostgreSQL that can play an outage.

The worker and the API reach the database only through it. `outage(seconds)` cuts
every open connection mid-stream and stops listening (a connect is refused) for that
long, then listens again on the same port. The PostgreSQL server itself is never
touched.
"""

from __future__ import annotations

import asyncio
import contextlib


class DatabaseProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.connections = 0
        self.cut = 0
        self._server: asyncio.Server | None = None
        self._live: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._live):
            writer.transport.abort()
        self._live.clear()
        if server is not None:
            await server.wait_closed()

    @property
    def live(self) -> int:
        """Connections open through the proxy now."""
        return len(self._live) // 2

    async def outage(self, seconds: float) -> None:
        """Drop every connection and refuse new ones for `seconds`."""
        self.cut += self.live
        await self.stop()
        await asyncio.sleep(seconds)
        await self.start()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        self._live.update((writer, up_writer))
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            for end in (writer, up_writer):
                self._live.discard(end)
                end.transport.abort()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while chunk := await source.read(65536):
            sink.write(chunk)
            await sink.drain()
    # One side ended (or was cut): end the other so nothing hangs half-open.
    sink.transport.abort()
