"""What the attack replays (tests/security/) share: a client that keeps asking `/health` while an
attack runs, a process's memory and open files, and raw HTTP/1.1 over sockets from chosen loopback
source addresses (all of 127.0.0.0/8 is loopback on Linux, so each /24 is a client network)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

import httpx

from tests.support.devnet import ROOT


def raise_open_files(wanted: int) -> int:
    """Raise this process's open-files limit towards `wanted` (past the hard limit only as root);
    the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return soft
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, max(wanted, hard)))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def limit_open_files(count: int) -> None:
    """For `preexec_fn`: the child process may hold at most `count` open files."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (count, count))


def _status(pid: int, field_name: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise LookupError(field_name)


def rss_mib(pid: int) -> float:
    """Resident memory now."""
    return _status(pid, "VmRSS") / 1024


def peak_rss_mib(pid: int) -> float:
    """The most resident memory the process ever had (VmHWM)."""
    return _status(pid, "VmHWM") / 1024


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def connect(port: int, source: str = "127.0.0.1", timeout: float = 10) -> socket.socket:
    """A TCP connection to 127.0.0.1:`port` from the loopback address `source`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def open_many(port: int, count: int, sources: list[str]) -> list[socket.socket]:
    """`count` connections started at once (non-blocking connects), spread over `sources`; the
    kernel completes them (or queues them for the server's accept) in the background."""
    opened = []
    for i in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.bind((sources[i % len(sources)], 0))
        code = sock.connect_ex(("127.0.0.1", port))
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            raise OSError(code, os.strerror(code))
        opened.append(sock)
    return opened


def answered_by_bot(port: int, token: str) -> dict[str, int]:
    """Requests a bot on `port` has answered, by route and status (`{route="...",status="..."}`),
    from its own /metrics; less /metrics itself and the control plane's /health checks."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"X-Basis-Token": token}, timeout=10).text
    counts = {}
    for line in text.splitlines():
        if line.startswith("basis_http_requests_total{"):
            series, value = line.rsplit(" ", 1)
            if 'route="/metrics"' not in series and 'route="/health"' not in series:
                counts[series.removeprefix("basis_http_requests_total")] = int(float(value))
    return counts


def established(port: int) -> int:
    """TCP connections established to local port `port` (server side), as the kernel counts them."""
    wanted = f":{port:04X}"
    count = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split(None, 4)
            if fields[1].endswith(wanted) and fields[3] == "01":
                count += 1
    return count


def closed_by_peer(sock: socket.socket) -> bool:
    """Whether the other end has closed (or reset) this connection, without blocking."""
    try:
        data = sock.recv(65536, socket.MSG_DONTWAIT | socket.MSG_PEEK)
    except BlockingIOError:
        return False
    except OSError:
        return True
    if data == b"":
        return True
    return data.startswith(b"HTTP/1.1 503") or data.startswith(b"HTTP/1.1 408")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def read_answer(sock: socket.socket, timeout: float = 10, data: bytes = b"") -> Answer:
    """One HTTP/1.1 answer with a Content-Length (or ending with the connection), read from `sock`
    (`data`: its start, if read already)."""
    sock.settimeout(timeout)
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a whole answer: {data[:200]!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "-1"))
    while length < 0 or len(body) < length:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        body += chunk
    return Answer(int(lines[0].split()[1]), headers, body[:length] if length >= 0 else body)


@dataclass
class Watch:
    """While an attack runs: another client asks `GET /health` on a new connection every
    `interval` seconds (from 127.0.0.1), and the server process's memory and open files are sampled.

    Use as a context manager around the attack, then `assert_answered` and `rss_growth_mib`.
    """

    port: int
    pid: int
    interval: float = 0.05
    latencies: list[float] = field(default_factory=list)  # seconds, of the answered probes
    failures: list[str] = field(default_factory=list)
    max_rss_mib: float = 0.0
    max_open_files: int = 0
    rss_before_mib: float = 0.0
    peak_before_mib: float = 0.0
    peak_after_mib: float = 0.0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watch:
        self.rss_before_mib = rss_mib(self.pid)
        self.peak_before_mib = peak_rss_mib(self.pid)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(30)
        self.peak_after_mib = peak_rss_mib(self.pid)

    def _probe(self) -> None:
        started = time.perf_counter()
        try:
            with connect(self.port, timeout=10) as sock:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                answer = read_answer(sock)
        except OSError as exc:
            self.failures.append(f"{type(exc).__name__}: {exc}")
            return
        if answer.status != 200:
            self.failures.append(f"{answer.status}: {answer.body[:200]!r}")
            return
        self.latencies.append(time.perf_counter() - started)

    def _sample(self) -> None:
        with contextlib.suppress(OSError, LookupError):
            self.max_rss_mib = max(self.max_rss_mib, rss_mib(self.pid))
            self.max_open_files = max(self.max_open_files, open_files(self.pid))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._probe()
            self._stop.wait(self.interval)
        self._sample()

    def assert_answered(self, *, median_ms: float, max_ms: float, at_least: int = 5) -> None:
        """Every probe was answered 200, at least `at_least` of them, within the bounds."""
        assert not self.failures, f"/health failed {len(self.failures)} times: {self.failures[:5]}"
        assert len(self.latencies) >= at_least, f"only {len(self.latencies)} probes ran"
        median = statistics.median(self.latencies) * 1000
        worst = max(self.latencies) * 1000
        count = len(self.latencies)
        assert median <= median_ms and worst <= max_ms, (
            f"/health took {median:.0f} ms (median) and {worst:.0f} ms (worst) over {count} probes"
        )

    @property
    def rss_growth_mib(self) -> float:
        """How much more resident memory the process had during the attack than before it: the
        samples, and its peak (VmHWM), which also catches a spike between two samples."""
        return max(self.max_rss_mib - self.rss_before_mib, self.peak_after_mib - self.peak_before_mib)


# Connections one flooding process opens at most, and how it paces them: 1,500 a second each, which
# a loaded machine's control plane accepts as they come. Faster than its accept loop, the kernel's
# listen queue overflows and drops connections (everyone's, and the attacker's before they reach
# the control plane): that is a SYN flood, the network's and the kernel's to absorb, not this test's.
PER_PROCESS = 10_000
BATCH = 150
PAUSE = 0.1


class Flood:
    """`count` idle connections to 127.0.0.1:`port` from `sources`, held by helper processes (up to
    PER_PROCESS each, so that this process's own open-files limit does not bound the figure)."""

    def __init__(self, port: int, count: int, sources: list[str]) -> None:
        self.port, self.count, self.sources = port, count, sources
        self.processes: list[subprocess.Popen[str]] = []

    def __enter__(self) -> Flood:
        left = self.count
        while left > 0:
            share = min(left, PER_PROCESS)
            left -= share
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "tests.support.attack", str(self.port), str(share), *self.sources],
                    cwd=ROOT,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        opened = sum(json.loads(self._line(p))["opened"] for p in self.processes)
        assert opened == self.count, f"only {opened} of {self.count} connections opened"
        return self

    @staticmethod
    def _line(process: subprocess.Popen[str]) -> str:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"a flooding process exited with {process.wait(10)}")
        return line

    def still_open(self) -> tuple[int, int]:
        """(connections the server has not closed, of those the oldest thousand of each process)."""
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write("count\n")
            process.stdin.flush()
        replies = [json.loads(self._line(p)) for p in self.processes]
        return sum(r["open"] for r in replies), sum(r["oldest_open"] for r in replies)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for process in self.processes:
            with contextlib.suppress(OSError):
                assert process.stdin is not None
                process.stdin.close()
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def _flood(port: int, count: int, sources: list[str]) -> None:
    """A flooding process (see `Flood`): open, report, then answer each `count` line until stdin closes."""
    raise_open_files(count + 256)
    socks: list[socket.socket] = []
    while len(socks) < count:
        socks += open_many(port, min(BATCH, count - len(socks)), sources)
        time.sleep(PAUSE)
    print(json.dumps({"opened": len(socks)}), flush=True)
    for _ in sys.stdin:
        still = [not closed_by_peer(s) for s in socks]
        print(json.dumps({"open": sum(still), "oldest_open": sum(still[:1000])}), flush=True)


if __name__ == "__main__":
    _flood(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:])
