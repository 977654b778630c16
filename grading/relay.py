"""The grader's end of the checker (grading.checker): starts it, relays its requests to the kernel.

The messages are the protocol table in grading/checker.py.

One checker process serves one notebook. It is started with ``python -I`` (no user site, no PYTHONPATH,
no current folder on sys.path), in an empty private folder, with an empty environment apart from PATH
and the thread settings, and it can read only what the grader relays to it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Awaitable, Callable

from .checker import CHECKER_MAIN

PACKAGE_ROOT = Path(__file__).resolve().parent.parent   # the folder holding the grading package
LINE_LIMIT = 1 << 30


class Relay:
    """A checker process and the loop that answers its fetch and call requests through `ask`."""

    def __init__(self, timeout: float, fixtures: Path | None = None):
        self.timeout = timeout
        self.fixtures = fixtures   # the assignment's hidden_fixtures.py, which tests may import (grading.checker)
        self.proc: asyncio.subprocess.Process | None = None
        self.folder: str | None = None

    async def start(self):
        self.folder = tempfile.mkdtemp(prefix="vae-checker-")
        env = {k: os.environ[k] for k in ("PATH", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "LANG") if k in os.environ}
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-c", CHECKER_MAIN, str(PACKAGE_ROOT), str(self.fixtures or ""), cwd=self.folder, env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            limit=LINE_LIMIT)

    async def _send(self, msg: dict):
        self.proc.stdin.write(json.dumps(msg).encode() + b"\n")
        await self.proc.stdin.drain()

    async def _receive(self) -> dict:
        line = await asyncio.wait_for(self.proc.stdout.readline(), self.timeout)
        if not line:
            raise RuntimeError("the checker process ended")
        return json.loads(line)

    async def judge(self, source: str, label: str, ask: Callable[[str, str], Awaitable[str]]) -> dict:
        """The verdict on one test cell. ask(op, argument) -> base64 reply of the kernel (raises on failure)."""
        if self.proc is None or self.proc.returncode is not None:
            await self.start()
        await self._send({"op": "run", "source": source, "label": label})
        while True:
            try:
                msg = await self._receive()
            except (asyncio.TimeoutError, RuntimeError, ValueError) as e:  # stuck, ended or garbled: start afresh
                await self.stop()
                message = f"the grader's checker gave no verdict on this cell ({type(e).__name__} {e})"
                return {"op": "verdict", "stdout": "", "error": {"ename": "GraderError", "evalue": message,
                                                                  "traceback": [f"GraderError: {message}"]}}
            op = msg.get("op")
            if op == "verdict":
                return msg
            try:
                argument = msg["names"] if op == "fetch" else msg["request"]
                reply = {"ok": await ask(op, argument)}
            except Exception as e:  # noqa: BLE001  (the checker turns it into the cell's error)
                reply = {"error": f"{type(e).__name__}: {e}"[:2000]}
            await self._send(reply)

    async def warm(self, modules: list[str]):
        """Start the checker now and have it import `modules` while the kernel runs the notebook's first cells."""
        if self.proc is None or self.proc.returncode is not None:
            await self.start()
        await self._send({"op": "warm", "modules": list(modules)})

    async def stop(self):
        if self.proc is not None and self.proc.returncode is None:
            self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except asyncio.TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self.proc = None
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
