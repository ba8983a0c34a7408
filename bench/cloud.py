"""The far side of the benchmark's network, in a process of its own.

The emulator serves TLS behind the latency proxy, as the real service sits behind
a real network: not on the clients' event loop (where every forwarded byte would
wait behind Home Assistant and the clients), and on the other core of a
two-core machine. The benchmark talks to it over stdin/stdout: the process
prints the proxy's port, then answers each line holding an RTT in
milliseconds with ``ok`` once the proxy uses it; end of input stops it.

Run by ``bench.latency``; by hand: ``python -m bench.cloud TLS_FOLDER``.
"""

import asyncio
import sys
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.dashscope_emulator import DashScopeEmulator, EmulatorOptions
from tests.tls_helpers import LocalTls

from .latency_proxy import LatencyProxy

SERVER_DELAY = 0.2


async def serve(tls: LocalTls) -> None:
    """Serve until stdin ends, taking RTTs (ms) from it."""
    options = EmulatorOptions(first_audio_delay=SERVER_DELAY, chunk_ms=100, chunk_interval=0.0)
    emulator = DashScopeEmulator(options)
    await emulator.start(ssl_context=tls.server_context)
    proxy = LatencyProxy("127.0.0.1", int(emulator.base_url.rsplit(":", 1)[1]))
    try:
        print(await proxy.start(), flush=True)
        while line := await asyncio.to_thread(sys.stdin.readline):
            proxy.rtt = float(line) / 1000
            print("ok", flush=True)
    finally:
        await proxy.close()
        await emulator.close()


class Cloud:
    """The cloud process, seen from the benchmark: its base URL and its RTT."""

    def __init__(self, tls: LocalTls) -> None:
        """Prepare; ``async with`` starts the process."""
        self._tls = tls
        self._process: asyncio.subprocess.Process | None = None
        self.base_url = ""

    async def __aenter__(self) -> Self:
        """Start the process and wait for its port."""
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.cloud",
            str(self._tls.ca_file.parent),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        self.base_url = f"https://127.0.0.1:{int(await self._line())}"
        return self

    async def _line(self) -> str:
        """Read one line of the process's answer."""
        assert self._process is not None
        assert self._process.stdout is not None
        line = await self._process.stdout.readline()
        if not line:
            raise RuntimeError("The cloud process ended")
        return line.decode().strip()

    async def set_rtt(self, rtt_ms: int) -> None:
        """Give the network this round-trip time from the next byte on."""
        assert self._process is not None
        assert self._process.stdin is not None
        self._process.stdin.write(f"{rtt_ms}\n".encode())
        await self._process.stdin.drain()
        assert await self._line() == "ok"

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """End the process by ending its input."""
        if self._process is None:
            return
        assert self._process.stdin is not None
        self._process.stdin.close()
        await self._process.wait()


if __name__ == "__main__":
    asyncio.run(serve(LocalTls.in_folder(Path(sys.argv[1]))))
