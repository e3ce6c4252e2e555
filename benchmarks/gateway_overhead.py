"""The gateway's added latency and its throughput, side by side with calling the upstream directly.

Run from the repository root:  python -m benchmarks.gateway_overhead [--requests N]

The fake upstream of the tests and the gateway each run in their own uvicorn process; this process drives
both with the same httpx client at concurrency 1, 16 and 64, streaming and not. Latency is to the last byte.
"gw cpu" is the CPU time (user + system, all threads) the gateway process spent per request: on a shared,
busy machine it moves far less than latency does.
The gateway screens every request and answer with redline's classifier when its model is shipped, else with
the tests' marker screener (said so in the output), and records every decision in its audit log. `--prompt`
sets the user message (default: one that stage 1 settles inline, as most traffic).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from importlib.resources import files
from pathlib import Path

import httpx

REAL_SCREENER = files("redline.screening").joinpath("model", "model.json").is_file()  # the shipped model
CONCURRENCY = (1, 16, 64)
ROW = "{:<7}{:>5} | {:>10} {:>9} {:>6} | {:>11} {:>9} {:>6} | {:>9} {:>9} | {:>8}"
PROMPT = "What is the capital of France?"  # stage 1 settles it, and the fake upstream's echo of it, inline


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_upstream(port: int) -> None:
    import uvicorn
    from tests.gateway.upstream import FakeUpstream

    uvicorn.run(FakeUpstream().app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)


class MemorySink:
    """An audit sink that keeps nothing: to tell the log's share of the overhead from the rest."""

    async def append(self, record: object) -> int:
        return 0


def serve_gateway(port: int, db: str, upstream: str, screening: str, audit_kind: str) -> None:
    import uvicorn

    from redline.config import ProviderSettings, Settings
    from redline.gateway.app import create_app

    provider = ProviderSettings(name="up", kind="openai", base_url=f"{upstream}/oa/v1", models=["gpt-test"])
    key = Path(db.removeprefix("sqlite:///")).parent / "audit-signing-key.pem"
    audit = {"signing_key_path": str(key)}
    settings = Settings(database={"url": db}, providers=[provider], audit=audit)  # type: ignore[arg-type]
    sink = MemorySink() if audit_kind == "memory" else None
    if screening == "classifier":
        app = create_app(settings, audit=sink)
    else:
        from tests.gateway.screener import marker_screener

        app = create_app(settings, screener=marker_screener, audit=sink)
    keep_alive = settings.server.keep_alive_s  # as `redline serve` runs it
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, timeout_keep_alive=keep_alive)


PIDS: dict[str, int] = {}  # base URL -> the process serving it


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def process(*args: str) -> Iterator[str]:
    """This script in another process serving one role; yields its base URL once it answers."""
    port = free_port()
    command = [sys.executable, "-m", "benchmarks.gateway_overhead", *args[:1], str(port), *args[1:]]
    with subprocess.Popen(command, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}) as proc:
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.post(url + "/", timeout=1)
                    break
                except httpx.TransportError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"{args[0]} did not start") from None
                    time.sleep(0.1)
            PIDS[url] = proc.pid
            yield url
        finally:
            proc.terminate()


async def measure(
    url: str, headers: dict[str, str], stream: bool, concurrency: int, total: int, prompt: str = PROMPT
) -> tuple[list[float], float]:
    """Latencies (s) of `total` requests sent `concurrency` at a time, and the wall time they took."""
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": prompt}], "stream": stream}
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=30) as client:

        async def one() -> None:
            started = time.perf_counter()
            async with client.stream("POST", "/chat/completions", json=body) as response:
                async for _ in response.aiter_raw():
                    pass
                if response.status_code != 200:
                    raise RuntimeError(f"HTTP {response.status_code}")
            latencies.append(time.perf_counter() - started)

        async def worker(n: int) -> None:
            for _ in range(n):
                await one()

        for _ in range(min(concurrency, 8)):  # warm connections and code paths
            await one()
        latencies.clear()
        started = time.perf_counter()
        share = [total // concurrency + (i < total % concurrency) for i in range(concurrency)]
        await asyncio.gather(*(worker(n) for n in share))
        return latencies, time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per concurrency level and mode")
    parser.add_argument("--concurrency", type=int, nargs="+", default=CONCURRENCY, help="levels to measure")
    parser.add_argument(
        "--screener",
        choices=("classifier", "markers"),
        default="classifier" if REAL_SCREENER else "markers",
        help="redline's classifier (default when its model is shipped) or the tests' marker screener",
    )
    parser.add_argument(
        "--audit",
        choices=("log", "memory"),
        default="log",
        help="the durable audit log (default), or a sink that keeps nothing, to measure the log's share",
    )
    parser.add_argument(
        "--prompt",
        default=PROMPT,
        help="the user message of every request (the fake upstream answers 'You said: ' and it); one stage 1 is "
        "unsure of measures the hand-over to stage 2 in the worker threads",
    )
    args = parser.parse_args()

    from redline.gateway.tenants import TenantStore
    from redline.store import connect, migrate

    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        db = f"sqlite:///{Path(tmp) / 'redline.db'}"
        engine = connect(db)
        migrate(engine)
        TenantStore(engine).create_tenant("bench", "commercial")
        key = TenantStore(engine).create_key("bench")[1]
        upstream = stack.enter_context(process("--serve-upstream"))
        gateway = stack.enter_context(process("--serve-gateway", db, upstream, args.screener, args.audit))

        screener = "redline's classifier" if args.screener == "classifier" else "the tests' marker screener"
        audit = "the durable audit log" if args.audit == "log" else "no audit log (a sink that keeps nothing)"
        print(
            f"gateway overhead, screening with {screener}, {audit}; {args.requests} requests a row, "
            "latency to end"
        )
        print(
            ROW.format(
                "mode",
                "conc",
                "direct p50",
                "p99",
                "req/s",
                "gateway p50",
                "p99",
                "req/s",
                "added p50",
                "p99",
                "gw cpu",
            )
        )
        targets = ((f"{upstream}/oa/v1", {}), (f"{gateway}/v1", {"authorization": f"Bearer {key}"}))
        for stream in (False, True):
            for concurrency in args.concurrency:
                figures: list[float] = []
                cpu_before = 0.0
                for url, headers in targets:
                    if url.startswith(gateway):
                        cpu_before = cpu_seconds(PIDS[gateway])
                    run = measure(url, headers, stream, concurrency, args.requests, args.prompt)
                    latencies, wall = asyncio.run(run)
                    figures += [
                        percentile(latencies, 50) * 1000,
                        percentile(latencies, 99) * 1000,
                        len(latencies) / wall,
                    ]
                d50, d99, drps, g50, g99, grps = figures
                cells = [
                    f"{d50:.2f}ms",
                    f"{d99:.2f}ms",
                    f"{drps:.0f}",
                    f"{g50:.2f}ms",
                    f"{g99:.2f}ms",
                    f"{grps:.0f}",
                ]
                cpu = (cpu_seconds(PIDS[gateway]) - cpu_before) / (args.requests + min(concurrency, 8))
                cells += [f"{g50 - d50:.2f}ms", f"{g99 - d99:.2f}ms", f"{cpu * 1000:.2f}ms"]
                print(ROW.format("stream" if stream else "plain", concurrency, *cells), flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-upstream":
        serve_upstream(int(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--serve-gateway":
        serve_gateway(int(sys.argv[2]), *sys.argv[3:7])
    else:
        main()
