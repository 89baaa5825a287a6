"""A TCP relay of its own process: 127.0.0.1:LISTEN → HOST:PORT, byte for byte, every connection.

Tests put it in front of one service to take that service away alone (SIGKILL the relay: its clients
see connections refused and reset, as from a dead host), and start it again on the same port to bring
it back. Run as `python -m tests.support.tcp_relay LISTEN HOST PORT`; it prints "ready" once bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

from tests.support.devnet import ROOT


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def _serve(listen: int, host: str, port: int) -> None:
    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    server = await asyncio.start_server(relay, "127.0.0.1", listen, reuse_address=True)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


@dataclass
class Relay:
    """One relay process, started and killed by the test."""

    listen: int
    host: str
    port: int
    process: subprocess.Popen[str] | None = field(default=None, init=False)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.tcp_relay", str(self.listen), self.host, str(self.port)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        # The first line is "ready", or nothing when it could not bind (its error is on stderr).
        if self.process.stdout.readline().strip() != "ready":
            self.kill()
            raise RuntimeError(f"the relay on 127.0.0.1:{self.listen} did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@contextlib.contextmanager
def relay(listen: int, host: str, port: int) -> Iterator[Relay]:
    r = Relay(listen, host, port)
    r.start()
    try:
        yield r
    finally:
        r.kill()


if __name__ == "__main__":
    asyncio.run(_serve(int(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
