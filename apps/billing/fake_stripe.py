"""localstripe (a stateful fake of Stripe, a development dependency) served on loopback from a thread, for
the billing tests and `make billing-smoke`. Its own CLI binds every interface, so it is started from here."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import httpx


class FakeStripeServer:
    """localstripe on 127.0.0.1:<free port>; `url` is its API base. Stop with `stop()`."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._runner: Any = None
        self._thread = threading.Thread(target=self._serve, name="localstripe", daemon=True)
        self._ready = threading.Event()

    def _serve(self) -> None:
        from aiohttp import web
        from localstripe.server import app

        asyncio.set_event_loop(self._loop)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, host="127.0.0.1", port=self.port)
        self._loop.run_until_complete(site.start())
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> FakeStripeServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("localstripe did not start.")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("localstripe is not listening.")

    def reset(self) -> None:
        """Forget every object (DELETE /_config/data)."""
        httpx.delete(f"{self.url}/_config/data", timeout=5).raise_for_status()

    def register_webhook(self, *, url: str, secret: str, name: str = "nofx") -> None:
        """Have localstripe sign and POST its events to `url`."""
        httpx.post(
            f"{self.url}/_config/webhooks/{name}", data={"url": url, "secret": secret}, timeout=5
        ).raise_for_status()

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
