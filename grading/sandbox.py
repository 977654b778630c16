"""Every autograding kernel in a bubblewrap sandbox.

nbclient starts kernels through a jupyter_client KernelManager; nbgrader's Execute preprocessor lets
the configuration choose its class (``c.Execute.kernel_manager_class``). SandboxKernelManager is that
class: it starts ``python -m ipykernel_launcher`` inside ``bwrap`` so that a student's code

- runs as an unprivileged uid of its own (a root grader gives each kernel a fresh uid from a pool);
- has no network (``--unshare-net``): nbclient talks to it over IPC sockets in a private folder;
- lives in a PID namespace with ``--die-with-parent``: nothing it starts outlives the kernel;
- gets an empty environment plus a few variables, and private size-limited ``/tmp`` and ``$HOME``;
- sees the interpreter, the installed packages and ``helpers`` read-only, and nothing else of the
  machine: no gradebook, no ``solutions/``, no course folder, no configuration, no other student,
  no ``build/``, no ``/root``, no repository;
- can write to exactly one folder: a fresh copy of the folder nbgrader runs the notebook in, held with
  its home and /tmp in size-limited in-memory file systems (nothing it writes reaches the disk);
- is capped in memory, file size, processes and CPU time (LIMITS).

Outside autograding (a student's Validate button, ``make course``'s plain execution) kernels start
as usual: a student's own machine needs no sandbox. Where bubblewrap cannot run, autograding stops
with a message that names the cause and the fix; ``VAE_SANDBOX=none`` (``make grade SANDBOX=none``)
grades without it.
"""

from __future__ import annotations

import fcntl
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

__all__ = ["LIMITS", "SandboxKernelManager", "SandboxUnavailable", "sandbox_mode", "sandbox_problem",
           "bwrap_command"]

# Per kernel. Memory: a training run of the MNIST notebooks peaks near 1 GiB. CPU seconds: the whole
# kernel's CPU time (grading runs no training); a submission's wall clock is capped by grade.py.
LIMITS = {
    "memory": 4 << 30,          # RLIMIT_DATA: heap and anonymous memory
    "file_size": 256 << 20,     # RLIMIT_FSIZE: largest file the kernel may write
    "processes": 256,           # RLIMIT_NPROC for the kernel's own uid (threads count)
    "cpu_seconds": 900,         # RLIMIT_CPU
    "tmp_size": 512 << 20,      # the private /tmp and $HOME (tmpfs)
    "open_files": 1024,         # RLIMIT_NOFILE
}
UID_POOL = range(210000, 212000)   # a root grader gives every kernel its own uid from this pool
LOCKS = Path(tempfile.gettempdir()) / "vae-grading-uids"
# Variables a kernel keeps from the grader's environment; everything else is dropped.
PASS_ENV = ("MPLBACKEND", "PYTHONWARNINGS", "NBGRADER_EXECUTION", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
            "TZ", "LANG", "LC_ALL", "PYTHONHASHSEED")
INSIDE_HOME = "/home/student"


class SandboxUnavailable(RuntimeError):
    """Autograding was asked to sandbox kernels, and bubblewrap cannot run here."""


def sandbox_mode() -> str:
    """'bwrap' (the default) or 'none' (VAE_SANDBOX=none: grade without a sandbox)."""
    mode = os.environ.get("VAE_SANDBOX", "bwrap").strip().lower() or "bwrap"
    if mode not in ("bwrap", "none"):
        raise SandboxUnavailable(f"VAE_SANDBOX={mode!r} is not understood: use VAE_SANDBOX=bwrap (default) or none")
    return mode


@lru_cache(maxsize=1)
def sandbox_problem() -> str | None:
    """None if bubblewrap can start a sandbox here, else a message naming the cause and the fix."""
    bwrap = shutil.which("bwrap")
    fix = ("Install bubblewrap (Debian/Ubuntu: `sudo apt-get install bubblewrap`) on a Linux machine with "
           "unprivileged user namespaces, or grade without a sandbox: `make grade SANDBOX=none` "
           "(every row of grades.csv then says so).")
    if bwrap is None:
        return f"autograding runs every student kernel in a bubblewrap sandbox, and `bwrap` is not installed. {fix}"
    probe = [bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"]
    if os.getuid() != 0:
        probe.insert(1, "--unshare-user")
    try:
        proc = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap could not start a test sandbox ({exc}). {fix}"
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        return f"bubblewrap could not start a test sandbox here ({why}): user namespaces may be disabled. {fix}"
    return None


def _grading() -> bool:
    """True while nbgrader autogrades (it sets NBGRADER_EXECUTION=autograde)."""
    return os.environ.get("NBGRADER_EXECUTION") == "autograde"


class _UidLease:
    """A uid from UID_POOL held for one kernel's lifetime (an flock on a file per uid)."""

    def __init__(self):
        LOCKS.mkdir(mode=0o700, exist_ok=True)
        for uid in UID_POOL:
            fd = os.open(LOCKS / str(uid), os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.uid, self._fd = uid, fd
            return
        raise SandboxUnavailable(f"every uid in {UID_POOL} is in use by another grading kernel")

    def release(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _ro_system_binds() -> list[str]:
    """Read-only views of the system: /usr (and the /bin, /lib… links to it) and a few /etc files."""
    args = []
    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        p = Path(top)
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), top]
        elif p.is_dir():
            args += ["--ro-bind", top, top]
    for f in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/fonts", "/etc/localtime",
              "/etc/alternatives", "/etc/mime.types", "/etc/nsswitch.conf", "/etc/os-release"):
        if os.path.exists(f):
            args += ["--ro-bind", f, f]
    return args


@lru_cache(maxsize=1)
def _kernel_helpers() -> str:
    """Where a kernel, which starts outside the course folder, imports `helpers` from (the installed course)."""
    probe = "import importlib.util, os; s = importlib.util.find_spec('helpers'); print(os.path.dirname(s.origin) if s and s.origin else '')"
    try:
        out = subprocess.run([sys.executable, "-c", probe], cwd="/", env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                             capture_output=True, text=True, timeout=60)
        return str(Path(out.stdout.strip()).resolve()) if out.returncode == 0 and out.stdout.strip() else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def _python_binds() -> list[str]:
    """The interpreter, the installed packages and the `helpers` package, read-only, at their own paths."""
    import importlib.util

    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent}
    spec = importlib.util.find_spec("helpers")
    if spec and spec.origin:
        paths.add(Path(spec.origin).resolve().parent)
    if _kernel_helpers():  # the grader may see a course folder's helpers/ the kernel does not (cwd on sys.path)
        paths.add(Path(_kernel_helpers()))
    out = []
    for p in sorted(paths, key=lambda q: len(q.parts)):
        if any(str(p).startswith(d) for d in ("/usr/",)) or str(p) == "/usr":
            continue  # already bound with /usr
        if any(p != q and q in p.parents for q in paths if not str(q).startswith("/usr")):
            continue  # inside another bound folder
        out += ["--ro-bind", str(p), str(p)]
    return out


def _parents_0755(targets: list[str], mounted: list[str], empty: tuple[str, ...] = ("/tmp", "/home")) -> list[str]:
    """--dir for every folder above the targets that bwrap would otherwise create with mode 0700.

    A sandbox started by root runs the kernel as another uid, which must be able to walk down to the
    folders bound for it (the interpreter may live under /root/.pyenv, the course under /tmp/fresh).
    mounted: folders bound whole (nothing to create below them); empty: the in-memory /tmp and /home,
    below which every folder on the way to a target must be created.
    """
    args, done = [], set(mounted) | set(empty)
    for target in targets:
        for parent in reversed(Path(target).parents):
            p = str(parent)
            if p == "/" or p in done or any(p.startswith(m + "/") for m in mounted):
                continue
            done.add(p)
            args += ["--perms", "0755", "--dir", p]
    return args


def bwrap_command(kernel_cmd: list[str], files: dict[str, int], folder: str, private: Path, uid: int | None,
                  env: dict[str, str]) -> list[str]:
    """The bwrap command line that runs kernel_cmd in `folder`, a fresh copy of the notebook's folder.

    files: {path inside the sandbox: readable file descriptor} for every file of that copy (the notebooks),
    and for /etc/passwd, /etc/group and the matplotlib font cache. The home folder, the copy and /tmp are
    size-limited in-memory file systems: nothing the kernel writes reaches the grader's disk.
    uid: the uid to switch to inside a sandbox started by root (None when the grader is not root:
    then bwrap maps the caller to the unprivileged uid 65534 in a user namespace).
    """
    args = [shutil.which("bwrap") or "bwrap",
            "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--hostname", "sandbox", "--clearenv"]
    if uid is None:
        args += ["--unshare-user", "--uid", "65534", "--gid", "65534", "--disable-userns"]
    else:  # privileged bwrap; the shim below switches to `uid`, which drops these two capabilities
        args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    for k, v in env.items():
        args += ["--setenv", k, v]
    system = _ro_system_binds()
    python = _python_binds()
    size = str(LIMITS["tmp_size"])
    args += system
    args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", size, "--tmpfs", "/tmp",
             "--perms", "0755", "--dir", "/home", "--perms", "0777", "--size", size, "--tmpfs", INSIDE_HOME]
    binds = python + ["--bind", str(private), str(private)]
    targets = [binds[i + 2] for i in range(0, len(binds), 3)]
    mounted = [system[i + 2] for i in range(0, len(system), 3) if system[i] != "--symlink"]
    args += _parents_0755(targets, mounted + ["/proc", "/dev"]) + binds
    for d in sorted(({str(Path(p).parent) for p in files} | {folder}) - {"/etc", INSIDE_HOME}):  # folder: even if empty
        args += ["--perms", "0777", "--dir", d]
    for path, fd in files.items():
        args += ["--perms", "0644" if path.startswith("/etc/") else "0666", "--file", str(fd), path]
    args += ["--chdir", folder, "--"]
    if uid is not None:
        shim = ("import os,sys; os.setgroups([]); os.setresgid(*[int(sys.argv[1])]*3); "
                "os.setresuid(*[int(sys.argv[1])]*3); os.execv(sys.argv[2], sys.argv[2:])")
        args += [sys.executable, "-I", "-S", "-c", shim, str(uid)]
    return args + list(kernel_cmd)


def _set_limits(nproc: bool):
    """Run in the child between fork and exec: the kernel's hard limits (it cannot raise them back)."""
    def apply():
        for res, value in ((resource.RLIMIT_DATA, LIMITS["memory"]), (resource.RLIMIT_FSIZE, LIMITS["file_size"]),
                           (resource.RLIMIT_CPU, LIMITS["cpu_seconds"]), (resource.RLIMIT_NOFILE, LIMITS["open_files"]),
                           (resource.RLIMIT_CORE, 0)):
            resource.setrlimit(res, (value, value))
        if nproc:
            resource.setrlimit(resource.RLIMIT_NPROC, (LIMITS["processes"], LIMITS["processes"]))
    return apply


def _chown_tree(root: Path, uid: int):
    for dirpath, dirnames, filenames in os.walk(root):
        os.chown(dirpath, uid, uid)
        for name in filenames:
            os.chown(os.path.join(dirpath, name), uid, uid, follow_symlinks=False)


class SandboxKernelManager(AsyncKernelManager):
    """A KernelManager that starts every autograding kernel in a bubblewrap sandbox (see the module)."""

    _private: Path | None = None
    _lease: _UidLease | None = None

    def _sandboxed(self) -> bool:
        if not _grading() or sandbox_mode() == "none":
            return False
        problem = sandbox_problem()
        if problem:
            raise SandboxUnavailable(problem)
        return True

    async def _async_pre_start_kernel(self, **kw):
        if self._sandboxed() and self._private is None:
            # The connection file and the IPC sockets live in a private folder of this kernel's own.
            self._private = Path(tempfile.mkdtemp(prefix="vae-kernel-"))
            self.transport = "ipc"
            self.ip = str(self._private / "ipc")
            self.connection_file = str(self._private / "kernel.json")
            if os.getuid() == 0:
                self._lease = _UidLease()
        return await super()._async_pre_start_kernel(**kw)

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        if self._private is None:
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        uid = self._lease.uid if self._lease else None
        source = Path(kw.pop("cwd", None) or os.getcwd())
        folder = f"{INSIDE_HOME}/{source.name}"
        inside = uid if uid is not None else 65534
        sources = {f"{folder}/{p.name}": p for p in sorted(source.iterdir()) if p.is_file()}
        sources.update({f"{INSIDE_HOME}/.matplotlib/{p.name}": p for p in _matplotlib_cache()})
        identity = {"/etc/passwd": f"student:x:{inside}:{inside}:student:{INSIDE_HOME}:/usr/sbin/nologin\n",
                    "/etc/group": f"student:x:{inside}:\n"}
        for name, text in identity.items():
            sources[name] = self._private / Path(name).name
            sources[name].write_text(text)
        fds = {path: os.open(p, os.O_RDONLY) for path, p in sources.items()}
        env = {k: os.environ[k] for k in PASS_ENV if k in os.environ}
        env.update({"HOME": INSIDE_HOME, "USER": "student", "LOGNAME": "student", "PATH": "/usr/bin:/bin",
                    "MPLCONFIGDIR": f"{INSIDE_HOME}/.matplotlib", "TMPDIR": "/tmp", "OMP_NUM_THREADS": "1",
                    "LANG": env.get("LANG", "C.UTF-8")})
        if uid is not None:  # the kernel creates its IPC sockets here
            _chown_tree(self._private, uid)
        cmd = bwrap_command(kernel_cmd, fds, folder, self._private, uid, env)
        # The kernel's own stdout/stderr (not the notebook's outputs) go nowhere, unless debugging the sandbox.
        quiet = subprocess.DEVNULL if not os.environ.get("VAE_SANDBOX_DEBUG") else None
        kw.update(cwd="/", env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                  stdin=subprocess.DEVNULL, stdout=quiet, stderr=quiet, pass_fds=tuple(fds.values()),
                  preexec_fn=_set_limits(nproc=uid is not None))
        try:
            return await super()._async_launch_kernel(cmd, **kw)
        finally:
            for fd in fds.values():
                os.close(fd)

    async def _async_interrupt_kernel(self):
        """Interrupt by message: a SIGINT to the process group would also reach bwrap, which it ends."""
        if self._private is not None:
            self.kernel_spec.interrupt_mode = "message"  # ipykernel then signals itself, inside the sandbox
        return await super()._async_interrupt_kernel()

    interrupt_kernel = _async_interrupt_kernel  # AsyncKernelManager exposes the coroutine itself

    async def _async_cleanup_resources(self, restart: bool = False):
        await super()._async_cleanup_resources(restart=restart)
        if restart or self._private is None:
            return
        shutil.rmtree(self._private, ignore_errors=True)
        self._private = None
        if self._lease:
            self._lease.release()
            self._lease = None


@lru_cache(maxsize=1)
def _matplotlib_cache() -> tuple[Path, ...]:
    """The grader's matplotlib font cache, copied into every kernel so that none rebuilds it (slow, noisy)."""
    try:
        import matplotlib
        from matplotlib import font_manager  # noqa: F401  (builds the grader's cache once)

        return tuple(Path(matplotlib.get_cachedir()).glob("fontlist-*.json"))
    except Exception:  # noqa: BLE001  (no cache: the kernel builds its own)
        return ()


def describe() -> dict:
    """What the sandbox applies, for the README and the tests."""
    return {"mode": sandbox_mode(), "limits": dict(LIMITS), "pass_env": list(PASS_ENV),
            "problem": sandbox_problem() if sandbox_mode() == "bwrap" else None}


if __name__ == "__main__":  # `python -m grading.sandbox`: can this machine sandbox grading kernels?
    print(json.dumps(describe(), indent=1))
    sys.exit(1 if describe()["problem"] else 0)
