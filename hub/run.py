"""make hub: JupyterHub 5 with nbgrader's exchange on 127.0.0.1, for a class on one machine.

    make hub                                   # http://127.0.0.1:8000, state in build/hub/
    HUB_STUDENTS=ann,ben,cem HUB_PORT=8100 make hub

The first start makes build/hub/: the exchange, a home per user, and the instructor's course folder
home/instructor/vae-course/ (nbgrader_config.py and solutions/ from this repository; later starts keep it,
with its gradebook and grades). The shared password is $HUB_PASSWORD, or one generated into
build/hub/password on the first start; it is printed. Stop with Ctrl-C.
It needs configurable-http-proxy from npm: `npm install -g configurable-http-proxy@5.3.0` (.ci/run does).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
from grading import course_dir as ct

CONFIG = HERE / "jupyterhub_config.py"
PROXY = "configurable-http-proxy"
PROXY_HINT = "install it from npm: npm install -g configurable-http-proxy@5.3.0"


def prepare(state: Path, instructor: str = "instructor") -> Path:
    """The hub's folders: the exchange (writable by every user) and the instructor's course folder."""
    exchange = state / "exchange"
    exchange.mkdir(parents=True, exist_ok=True)
    exchange.chmod(0o1777)  # nbgrader's exchange: everyone writes, nobody removes another's files
    course = state / "home" / instructor / "vae-course"
    if not (course / "nbgrader_config.py").exists():
        ct.scratch_course(course)
        with open(course / "nbgrader_config.py", "a") as f:
            f.write(f"\n# The class's exchange on this hub (hub/run.py)\nc.Exchange.root = {str(exchange)!r}\n")
    return course


class Hub:
    """JupyterHub started from hub/jupyterhub_config.py in a subprocess; `with Hub(state, ...) as hub:`."""

    def __init__(self, state: Path, port: int = 8000, password: str | None = None,
                 students: tuple[str, ...] = ("alice", "bob", "carol"), instructor: str = "instructor",
                 api_port: int = 8081, proxy_api_port: int = 8001, startup_timeout: float = 180):
        self.state = Path(state).resolve()
        self.port, self.api_port, self.proxy_api_port = port, api_port, proxy_api_port
        self.password = password or secrets.token_urlsafe(12)
        self.students, self.instructor = tuple(students), instructor
        self.startup_timeout = startup_timeout
        self.base = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None
        self.log_path = self.state / "jupyterhub.log"

    def env(self) -> dict:
        env = dict(os.environ, HUB_STATE=str(self.state), HUB_PORT=str(self.port), HUB_API_PORT=str(self.api_port),
                   HUB_PROXY_API_PORT=str(self.proxy_api_port), HUB_PASSWORD=self.password,
                   HUB_INSTRUCTOR=self.instructor, HUB_STUDENTS=",".join(self.students))
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        return env

    def course(self) -> Path:
        return self.state / "home" / self.instructor / "vae-course"

    def start(self) -> "Hub":
        if shutil.which(PROXY) is None:
            raise RuntimeError(f"{PROXY} not found: {PROXY_HINT}")
        prepare(self.state, self.instructor)
        self._log = open(self.log_path, "a")
        cmd = [str(Path(sys.executable).parent / "jupyterhub"), "-f", str(CONFIG)]
        self.proc = subprocess.Popen(cmd, cwd=self.state, env=self.env(), stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterHub exited with code {self.proc.returncode}:\n{self.log()}")
            try:
                urllib.request.urlopen(f"{self.base}/hub/api/", timeout=2).read()
                return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"JupyterHub did not answer on {self.base} within {self.startup_timeout:.0f} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """Stop the hub, the proxy and every single-user server it started (one process group each)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the hub stops its proxy and, by default, the users' servers
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()
        self.proc = None
        pid_file = self.state / "jupyterhub-proxy.pid"  # a hub killed before it stopped its proxy leaves it running
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
            except (ValueError, ProcessLookupError):
                pass
            pid_file.unlink(missing_ok=True)

    def __enter__(self) -> "Hub":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> int:
    state = Path(os.environ.get("HUB_STATE", ROOT / "build" / "hub"))
    state.mkdir(parents=True, exist_ok=True)
    password_file = state / "password"
    password = os.environ.get("HUB_PASSWORD") or (password_file.read_text().strip() if password_file.exists() else "")
    if not password:
        password = secrets.token_urlsafe(12)
        password_file.write_text(password + "\n")
        password_file.chmod(0o600)
    students = tuple(s for s in os.environ.get("HUB_STUDENTS", "alice,bob,carol").split(",") if s)
    hub = Hub(state, port=int(os.environ.get("HUB_PORT", "8000")), password=password, students=students,
              instructor=os.environ.get("HUB_INSTRUCTOR", "instructor"))
    try:
        hub.start()
    except RuntimeError as err:
        print(err, file=sys.stderr)
        return 1
    print(f"JupyterHub: {hub.base}  users: {hub.instructor} (instructor), {', '.join(students)}  password: {password}")
    print(f"instructor's course folder: {hub.course()}   log: {hub.log_path}   Ctrl-C stops the hub")
    try:
        hub.proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        hub.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
