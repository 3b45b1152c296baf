"""Fakes of Stripe on loopback for the Stripe adapter's HTTP tests: localstripe (a stateful fake of the Stripe
API, started as a subprocess) and a small contract server for what localstripe does not do (idempotency-key
replay, pagination, failures)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

# Run localstripe's aiohttp app bound to 127.0.0.1 only (its own CLI binds every interface) and without its
# habit of pickling the store to /tmp/localstripe.pickle after every POST.
LOCALSTRIPE_LAUNCHER = """
import sys
from aiohttp import web
from localstripe import resources, server
resources.store.dump_to_disk = lambda: None
web.run_app(server.app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"localstripe exited with {process.returncode}: {process.stderr.read().decode()[-2000:]}"
            )  # type: ignore[union-attr]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"localstripe did not listen on 127.0.0.1:{port} within {seconds}s")


@pytest.fixture(scope="session")
def localstripe() -> Iterator[str]:
    """The base address of a fresh localstripe on loopback, for the whole test session."""
    pytest.importorskip("localstripe", reason="localstripe is in the dev extras: pip install -e '.[dev]'")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", LOCALSTRIPE_LAUNCHER, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()
