"""Runs ``python app.py`` as a child process for the browser tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python app.py`` as a child process on a free port."""

    def __init__(self, home: Path, log: Path, **env: str) -> None:
        self.port = free_port()
        self.env = {**os.environ, "ACTOR_HOME": str(home), "ACTOR_APP_PORT": str(self.port),
                    "ACTOR_ALLOW_MODEL_REQUESTS": "1", **env}
        self.log = log
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 300) -> None:
        self.proc = subprocess.Popen([sys.executable, str(REPO / "app.py")], cwd=REPO, env=self.env,
                                     stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the app exited: {self.log.read_text()[-2000:]}"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.5)
        raise TimeoutError(f"the app did not start in {timeout} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        """Terminate the app if it still runs (test teardown)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)




@contextmanager
def chromium_on(server: Server) -> Iterator:
    """Start ``server``, launch Debian's Chromium headless (no sandbox) and yield the Playwright
    ``Browser``; on leaving, close the browser and stop the server, also after a failure.
    Raises what :meth:`Server.start` raises; needs :data:`CHROMIUM`."""
    from playwright.sync_api import sync_playwright

    server.start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                yield browser
            finally:
                browser.close()
    finally:
        server.stop()


def open_page(browser, url: str, height: int = 1100, timeout_ms: int = 60_000):
    """A new 1280 × ``height`` px page of ``browser`` on ``url``, its default timeout
    ``timeout_ms`` milliseconds (a turn on a busy 2-core machine takes longer than 5 s)."""
    page = browser.new_page(viewport={"width": 1280, "height": height})
    page.set_default_timeout(timeout_ms)
    page.goto(url)
    return page
