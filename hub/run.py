"""make hub: JupyterHub 5 with nbgrader's exchange on 127.0.0.1, a class on one machine where every person is
their own OS user.

    sudo make hub                                      # http://127.0.0.1:8000, state in /srv/vae-hub
    sudo HUB_STUDENTS=ann,ben,cem HUB_PORT=8100 make hub
    sudo HUB_ROSTER=roster.txt make hub                # one student name per line (# comments)

It runs as root (it creates accounts and starts each person's server as that person). Every start:

- creates a system account <HUB_PREFIX><name> (prefix `vae-` by default, so that a roster name never meets a
  system user such as `postgres`) for the instructor (HUB_INSTRUCTOR, default `instructor`) and each student,
  or reuses the one an earlier start created (marked in its GECOS field; any other existing account of that
  name is refused). A new account gets a random password, printed once and kept in <state>/hub/passwords
  (root only); `passwd <account>` changes it. People log in with their account name.
- lays out the state folder (HUB_STATE, default /srv/vae-hub; mode 0711, so nobody lists it):
  hub/ (root, 0700: the hub's database, cookie secret, log, passwords), config/<account>/ (root-owned, readable
  by its account: the Jupyter and nbgrader settings the hub gives that server), home/<account>/ (0700, the
  account's own: HOME), and exchange/ (nbgrader's: 1777, with the course's folder already made by the
  instructor's account, so that no student can take its name: inbound/ 2733 writable but not listable,
  outbound/ 0755, feedback/ 0711). The instructor's course folder is home/<instructor>/vae-course/
  (nbgrader_config.py and solutions/ from this repository on the first start; later starts keep it).
- closes this repository to the class except what their servers run (SHARED: the virtual environment, helpers/,
  grading/, scripts/, the Makefile and pyproject.toml): every other entry (solutions/, tests/, .git, build/...)
  loses all access for others (the repository folder itself stays listable: make needs it). Each folder on the way
  to the environment, the interpreter and the state folder gets o+x when it lacks it (printed). A check then
  runs Python as a student account: it must import helpers, grading and nbgrader.

Then JupyterHub (hub/jupyterhub_config.py) authenticates with PAM and spawns each server as its account.
Stop with Ctrl-C. It needs configurable-http-proxy from npm: `npm install -g configurable-http-proxy@5.3.0`.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import NamedTuple

from grading import course_dir as ct

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CONFIG = HERE / "jupyterhub_config.py"
PROXY = "configurable-http-proxy"
PROXY_HINT = "install it from npm: npm install -g configurable-http-proxy@5.3.0"
DEFAULT_STATE = Path("/srv/vae-hub")
COURSE_ID = "vae-course"
MARK = "vae-course hub account"  # the GECOS field of every account the hub created
NAME = re.compile(r"[a-z][a-z0-9_-]*\Z")
# What the class's servers and the instructor's tools (make feedback) read in this repository.
SHARED = (".venv", "helpers", "grading", "scripts", "Makefile", "pyproject.toml")


class HubError(RuntimeError):
    """The hub cannot start as configured; the message names the problem and the fix."""


class Person(NamedTuple):
    name: str      # on the roster
    account: str   # the OS account, JupyterHub user and nbgrader student id: prefix + name
    role: str      # "instructor" or "student"


def read_roster(path: Path) -> list[str]:
    """Student names from a roster file: one per line, blank lines and # comments ignored."""
    names = [line.split("#", 1)[0].strip() for line in Path(path).read_text().splitlines()]
    return [n for n in names if n]


def people(instructor: str, students, prefix: str) -> list[Person]:
    out = [Person(instructor, prefix + instructor, "instructor")] + [Person(s, prefix + s, "student") for s in students]
    for p in out:
        if not NAME.match(p.name) or not NAME.match(p.account) or len(p.account) > 32:
            raise HubError(f"{p.name!r} cannot name an account ({p.account!r}): use lower-case letters, digits, '-' "
                           "and '_', starting with a letter, at most 32 characters with the prefix (HUB_PREFIX)")
    names = [p.name for p in out]
    if len(set(names)) != len(names):
        raise HubError(f"a name appears twice among the instructor and the students: {names}")
    return out


# -- accounts -----------------------------------------------------------------------------------------------
def _tool(name: str) -> str:
    """The path of a system tool (useradd, usermod, chpasswd: in /usr/sbin, which a user's PATH may lack)."""
    found = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    if found is None:
        raise HubError(f"{name} is missing: install Debian's passwd package (apt-get install passwd)")
    return found


def ensure_account(account: str, home: Path) -> bool:
    """The system account `account` with home `home`: created (True) or the hub's earlier one (False)."""
    try:
        pw = pwd.getpwnam(account)
    except KeyError:
        subprocess.run([_tool("useradd"), "--home-dir", str(home), "--no-create-home", "--shell", "/bin/bash",
                        "--user-group", "--comment", MARK, account], check=True, capture_output=True, text=True)
        return True
    if pw.pw_gecos != MARK:
        raise HubError(f"the system account {account!r} exists and was not created by the hub (its GECOS is "
                       f"{pw.pw_gecos!r}): choose another HUB_PREFIX, or another name on the roster")
    if pw.pw_dir != str(home):
        subprocess.run([_tool("usermod"), "--home", str(home), account], check=True, capture_output=True, text=True)
    return False


def set_password(account: str, password: str) -> None:
    if len(password) < 8 or ":" in password or "\n" in password:
        raise HubError(f"the password for {account} must have at least 8 characters and no ':' or line break")
    subprocess.run([_tool("chpasswd")], input=f"{account}:{password}\n", check=True, capture_output=True, text=True)


def ids(account: str) -> tuple[int, int]:
    pw = pwd.getpwnam(account)
    return pw.pw_uid, pw.pw_gid


def _mkdir(path: Path, mode: int, uid: int = 0, gid: int = 0) -> Path:
    """A folder with exactly this owner and mode (never following a link)."""
    if path.is_symlink():
        raise HubError(f"{path} is a symbolic link: remove it (the hub makes its own folders)")
    path.mkdir(exist_ok=True)
    os.chown(path, uid, gid, follow_symlinks=False)
    os.chmod(path, mode)
    return path


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            os.chown(name, uid, gid, follow_symlinks=False)


# -- the state folder ---------------------------------------------------------------------------------------
def layout(state: Path, everyone: list[Person]) -> Path:
    """The state folder (see the module); returns the instructor's course folder."""
    _mkdir(state, 0o711)
    _mkdir(state / "hub", 0o700)
    # root's alone even were the folder opened (JupyterHub writes its cookie secret 0600 itself)
    fd = os.open(state / "hub" / "jupyterhub.sqlite", os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)
    os.close(fd)
    _mkdir(state / "config", 0o711)
    _mkdir(state / "home", 0o711)
    for p in everyone:
        uid, gid = ids(p.account)
        home = state / "home" / p.account
        if not home.exists():
            _mkdir(home, 0o700, uid, gid)
        elif home.is_symlink() or home.lstat().st_uid != uid:
            raise HubError(f"{home} exists and is not {p.account}'s folder: move it away")
        else:
            os.chmod(home, 0o700)
    instructor = next(p for p in everyone if p.role == "instructor")
    uid, gid = ids(instructor.account)
    exchange = _mkdir(state / "exchange", 0o1777)  # nbgrader's exchange: everyone may enter and create
    course_x = exchange / COURSE_ID  # made now, by the instructor's account, so that no student can take it
    for path, mode in ((course_x, 0o755), (course_x / "outbound", 0o755), (course_x / "inbound", 0o2733),
                       (course_x / "feedback", 0o711)):
        if not path.exists():
            _mkdir(path, mode, uid, gid)
        elif path.is_symlink() or path.lstat().st_uid != uid:
            raise HubError(f"{path} is not the instructor's ({instructor.account}): remove it and start again")
    course = state / "home" / instructor.account / COURSE_ID
    if not (course / "nbgrader_config.py").exists():
        ct.scratch_course(course)
        with open(course / "nbgrader_config.py", "a") as f:
            f.write("\n# The class's exchange on this hub, and its collect: a submission is collected only when it is "
                    "its student's own (grading/exchange.py; hub/run.py wrote these lines)\n"
                    f"c.Exchange.root = {str(exchange)!r}\n"
                    "c.ExchangeFactory.collect = 'grading.exchange.ExchangeCollect'\n")
        _chown_tree(course, uid, gid)
    return course


# -- the repository and the environment, as the class sees them -------------------------------------------
def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise HubError(f"the course's package {name!r} is not installed in {sys.prefix}: run make install")
    return Path(list(spec.submodule_search_locations)[0]).resolve()


def close_repository(root: Path = ROOT) -> list[str]:
    """Take every access of others away from the repository's entries outside SHARED; return what changed."""
    changed = []
    mode = root.stat().st_mode & 0o7777
    if mode & 0o007 != 0o005:  # names only (make looks its files up by listing the folder)
        os.chmod(root, (mode & ~0o007) | 0o005)
        changed.append(f"{root} o=rx")
    for entry in sorted(root.iterdir()):
        if entry.name in SHARED or entry.is_symlink():
            continue
        mode = entry.stat().st_mode & 0o7777
        if mode & 0o007:
            os.chmod(entry, mode & ~0o007)
            changed.append(f"{entry} o-rwx")
    return changed


def open_way(path: Path) -> list[str]:
    """o+x on every folder above `path` that lacks it (traversal only: nobody may list them); what changed."""
    changed = []
    for parent in reversed(path.parents):
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(parent, (mode & 0o7777) | stat.S_IXOTH)
            changed.append(f"{parent} o+x")
    return changed


def writable_by_others(folder: Path, limit: int = 5) -> list[str]:
    """Files and folders under `folder` that any user may write (links aside)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            st = os.lstat(name)
            if not stat.S_ISLNK(st.st_mode) and st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:
                found.append(name)
                if len(found) >= limit:
                    return found
    return found


def open_runtime(state: Path) -> list[str]:
    """Close the repository, open the way to what the class runs; fail when the class could change it."""
    changed = close_repository()
    venv, packages = Path(sys.prefix).resolve(), [_package_dir("helpers"), _package_dir("grading")]
    python = [Path(os.path.realpath(sys.executable)).parent, Path(sys.base_prefix).resolve()]
    for target in [venv, *python, *packages, ROOT / "scripts", state]:
        changed += open_way(target)
    for shared in [venv, *packages]:
        if not shared.stat().st_mode & stat.S_IROTH or not shared.stat().st_mode & stat.S_IXOTH:
            raise HubError(f"{shared} is not readable by other users, and the class's servers run from it: "
                           f"chmod -R o+rX {shared}")
        writable = writable_by_others(shared)
        if writable:
            raise HubError(f"any user may change {writable}, which the class's servers (the instructor's too) "
                           f"run: chmod -R o-w {shared}")
    for inside in (venv, *packages):
        if ROOT in inside.parents and inside.relative_to(ROOT).parts[0] not in SHARED:
            raise HubError(f"{inside} is in the repository's {inside.relative_to(ROOT).parts[0]}/, which make hub "
                           "closes to the class: install the course into the repository's .venv (make install)")
    if ROOT == state or ROOT in state.parents:
        raise HubError(f"the state folder {state} is inside the repository, which make hub closes to the class: "
                       f"choose a HUB_STATE outside it (default {DEFAULT_STATE})")
    return changed


def as_user(account: str, cmd: list[str], home: Path | None = None, env: dict | None = None, **kw):
    """Run cmd as `account` (its uid, gid and no other group), with HOME set: subprocess.run's result."""
    uid, gid = ids(account)
    home = home or Path(pwd.getpwnam(account).pw_dir)
    full = {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin", "HOME": str(home),
            "USER": account, "LOGNAME": account, "LANG": os.environ.get("LANG", "C.UTF-8"), **(env or {})}
    kw.setdefault("cwd", home)
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    return subprocess.run(cmd, user=uid, group=gid, extra_groups=[], env=full, umask=0o022, **kw)


def check_runtime(account: str) -> None:
    """A student's account can run the course's Python and import what its kernels and nbgrader need."""
    probe = "import helpers, grading.exchange, nbgrader, jupyterhub; print('ok')"
    proc = as_user(account, [sys.executable, "-c", probe], cwd="/")
    if proc.returncode != 0 or proc.stdout.strip() != "ok":
        raise HubError(f"the class's account {account} cannot run the course's Python ({sys.executable}):\n"
                       f"{proc.stderr.strip()[-2000:]}")


# -- the hub -----------------------------------------------------------------------------------------------
class Hub:
    """JupyterHub started from hub/jupyterhub_config.py in a subprocess; `with Hub(state, ...) as hub:`.

    passwords: {name: password} for some or all people, set at every start (a test's); a new account
    without one gets a random password (self.new_passwords, and <state>/hub/passwords).
    """

    def __init__(self, state: Path = DEFAULT_STATE, port: int = 8000, students=("alice", "bob", "carol"),
                 instructor: str = "instructor", prefix: str = "vae-", passwords: dict[str, str] | None = None,
                 api_port: int = 8081, proxy_api_port: int = 8001, startup_timeout: float = 180):
        self.state = Path(state).resolve()
        self.port, self.api_port, self.proxy_api_port = port, api_port, proxy_api_port
        self.prefix, self.students, self.instructor = prefix, tuple(students), instructor
        self.people = people(instructor, self.students, prefix)
        self.passwords = dict(passwords or {})
        self.new_passwords: dict[str, str] = {}
        self.startup_timeout = startup_timeout
        self.base = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None
        self.log_path = self.state / "hub" / "jupyterhub.log"
        self.opened: list[str] = []
        self.prepared = False

    def account(self, name: str) -> str:
        """The OS account (and JupyterHub user) of a person on the roster."""
        return self.prefix + name

    def home(self, name: str) -> Path:
        return self.state / "home" / self.account(name)

    def course(self) -> Path:
        return self.home(self.instructor) / COURSE_ID

    def env(self) -> dict:
        env = dict(os.environ, HUB_STATE=str(self.state), HUB_PORT=str(self.port), HUB_API_PORT=str(self.api_port),
                   HUB_PROXY_API_PORT=str(self.proxy_api_port), HUB_PREFIX=self.prefix,
                   HUB_INSTRUCTOR=self.instructor, HUB_STUDENTS=",".join(self.students))
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        return env

    def prepare(self) -> Path:
        """Accounts, passwords, the state folder and the class's view of the repository; the course folder."""
        if os.geteuid() != 0:
            raise HubError("make hub creates a system account per person and starts every server as its person: "
                           "run it as root (sudo make hub)")
        for p in self.people:
            created = ensure_account(p.account, self.state / "home" / p.account)
            if p.name in self.passwords:
                set_password(p.account, self.passwords[p.name])
            elif created:
                self.new_passwords[p.name] = secrets.token_urlsafe(12)
                set_password(p.account, self.new_passwords[p.name])
        course = layout(self.state, self.people)
        if self.new_passwords:
            record = self.state / "hub" / "passwords"
            with open(os.open(record, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a") as f:
                for name, password in self.new_passwords.items():
                    f.write(f"{name}\t{self.account(name)}\t{password}\n")
        self.opened = open_runtime(self.state)
        check_runtime(self.people[-1].account)
        self.prepared = True
        return course

    def start(self) -> "Hub":
        if shutil.which(PROXY) is None:
            raise HubError(f"{PROXY} not found: {PROXY_HINT}")
        for port in (self.port, self.api_port, self.proxy_api_port):
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is no use
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    raise HubError(f"port {port} on 127.0.0.1 is in use (another hub?): stop it, or choose other "
                                   "ports (HUB_PORT)") from None
        if not self.prepared:
            self.prepare()
        self._log = open(os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a")
        cmd = [str(Path(sys.executable).parent / "jupyterhub"), "-f", str(CONFIG)]
        # umask 022: nbgrader's exchange expects the files it copies (released feedback) to be readable
        self.proc = subprocess.Popen(cmd, cwd=self.state / "hub", env=self.env(), stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True, umask=0o022)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HubError(f"JupyterHub exited with code {self.proc.returncode}:\n{self.log()}")
            try:
                urllib.request.urlopen(f"{self.base}/hub/api/", timeout=2).read()
                return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        self.stop()
        raise HubError(f"JupyterHub did not answer on {self.base} within {self.startup_timeout:.0f} s:\n{self.log()}")

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
        pid_file = self.state / "hub" / "jupyterhub-proxy.pid"  # a hub killed before it stopped its proxy leaves it
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
    state = Path(os.environ.get("HUB_STATE") or DEFAULT_STATE)
    roster = os.environ.get("HUB_ROSTER")
    try:
        students = (read_roster(Path(roster)) if roster
                    else [s for s in os.environ.get("HUB_STUDENTS", "alice,bob,carol").split(",") if s])
        hub = Hub(state, port=int(os.environ.get("HUB_PORT", "8000")), students=students,
                  instructor=os.environ.get("HUB_INSTRUCTOR", "instructor"), prefix=os.environ.get("HUB_PREFIX", "vae-"))
        hub.start()
    except (HubError, OSError, subprocess.CalledProcessError) as err:
        detail = getattr(err, "stderr", "") or ""
        print(f"make hub: {err}{(': ' + detail.strip()) if detail else ''}", file=sys.stderr)
        return 1
    if hub.opened:
        print("the class's view of this machine: " + "; ".join(hub.opened))
    print(f"JupyterHub: {hub.base}   instructor: {hub.instructor} (account {hub.account(hub.instructor)})   "
          f"students: {', '.join(hub.students)}")
    for name, password in hub.new_passwords.items():
        print(f"  new account {hub.account(name)}, password {password}")
    if hub.new_passwords:
        print(f"kept in {hub.state / 'hub' / 'passwords'} (root only)")
    print("every account keeps its password from one start to the next: passwd <account> sets a new one")
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
