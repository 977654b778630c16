"""A real Dask cluster for the tests: `dask scheduler` and `dask worker` processes, on 127.0.0.1 only.

Every worker runs in a working directory of its own, single-threaded, from this checkout's .venv (as on a
cluster's shared file system), in a mount namespace of its own (`unshare --mount`) where the instructor's build
folder is an empty in-memory file system: it can reach the checkout, never what the instructor's make grade writes.
Each process leads its own process group, so that a test can kill a whole worker (nanny, worker and what they
started) at once, as a node that fails.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

DASK = str(Path(sys.executable).parent / "dask")
LOOPBACK = "127.0.0.1"


@dataclass
class Worker:
    name: str
    folder: Path
    proc: subprocess.Popen


class LocalDaskCluster:
    def __init__(self, root: Path, hide: Path, env: dict | None = None):
        self.root, self.hide = root, hide
        self.env = dict(env or os.environ)
        self.workers: dict[str, Worker] = {}
        self._client = None
        self.scheduler_file = root / "scheduler.json"
        root.mkdir(parents=True, exist_ok=True)
        self.scheduler = subprocess.Popen(
            [DASK, "scheduler", "--host", LOOPBACK, "--port", "0", "--no-dashboard", "--dashboard-address",
             f"{LOOPBACK}:0", "--scheduler-file", str(self.scheduler_file)],
            cwd=root, env=self.env, stdout=open(root / "scheduler.log", "w"), stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + 120
        while not self.scheduler_file.exists() or not self.scheduler_file.read_text().strip():
            if self.scheduler.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the dask scheduler did not start:\n{(root / 'scheduler.log').read_text()[-3000:]}")
            time.sleep(0.2)
        self.address = json.loads(self.scheduler_file.read_text())["address"]

    def add_worker(self, name: str, preload: Path | None = None, env: dict | None = None) -> Worker:
        folder = self.root / name
        folder.mkdir()
        command = [DASK, "worker", "--scheduler-file", str(self.scheduler_file), "--host", LOOPBACK, "--nthreads", "1",
                   "--no-dashboard", "--dashboard-address", f"{LOOPBACK}:0", "--local-directory", str(folder),
                   "--name", name, *(["--preload", str(preload)] if preload else [])]
        script = (f"mount -t tmpfs -o size=1m,mode=0755 instructor-build-hidden {shlex.quote(str(self.hide))} && "
                  f"cd {shlex.quote(str(folder))} && exec {shlex.join(command)}")
        unshare = ["unshare", "--mount", "--propagation", "private"] + ([] if os.getuid() == 0 else ["--map-root-user"])
        proc = subprocess.Popen([*unshare, "--", "sh", "-c", script], env={**self.env, **(env or {})},
                                stdout=open(self.root / f"{name}.log", "w"), stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.workers[name] = Worker(name, folder, proc)
        return self.workers[name]

    @property
    def client(self):
        if self._client is None:
            from distributed import Client

            self._client = Client(self.address, timeout=60, set_as_default=False)
        return self._client

    def wait_for_workers(self, n: int, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while len(self.client.nthreads()) < n:
            for w in self.workers.values():
                if w.proc.poll() is not None:
                    raise RuntimeError(f"worker {w.name} exited:\n{(self.root / f'{w.name}.log').read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{n} workers did not connect within {timeout} s")
            time.sleep(0.5)

    def address_of(self, name: str) -> str:
        return next(a for a, info in self.client.scheduler_info()["workers"].items() if info["name"] == name)

    def processes(self) -> list:
        """Every process of the scheduler's and the workers' process groups."""
        import psutil

        groups = {self.scheduler.pid} | {w.proc.pid for w in self.workers.values()}
        out = []
        for p in psutil.process_iter():
            try:
                if os.getpgid(p.pid) in groups:
                    out.append(p)
            except (ProcessLookupError, psutil.Error):
                pass
        return out

    def kill(self, name: str) -> None:
        """SIGKILL a whole worker (its process group): a node lost while it grades."""
        proc = self.workers[name].proc
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(30)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        for proc in [w.proc for w in self.workers.values()] + [self.scheduler]:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for proc in [w.proc for w in self.workers.values()] + [self.scheduler]:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
