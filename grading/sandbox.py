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
- gets the student's notebooks as submitted (``kernel_files_from``: submitted/<student>/<assignment>/,
  regular *.ipynb files only), never nbgrader's execution folder, which holds the restored test cells with
  their hidden parts, the notebooks already autograded and the assignment's other files;
- can write to its copy of those notebooks, its home and /tmp (size-limited in-memory file systems), and
  to its connection folder, where it creates its IPC sockets: a private folder under ``kernel_base()``
  (never a shared /tmp) that a root grader mounts as a 256 KiB tmpfs of 32 files, removed when the kernel
  ends, and swept (``sweep_kernel_dirs``) when its grader died without removing it;
- is capped in memory, address space, file size, processes and CPU time (LIMITS), through cgroup v2
  where the machine offers its memory, cpu and pids controllers to a root grader (``Cgroup2``), and
  rlimits always; a seccomp filter refuses the system calls that hold memory outside the address space
  (memfd_create, System V shared memory, message queues and semaphores, io_uring).

Outside autograding (a student's Validate button, ``make course``'s plain execution) kernels start
as usual: a student's own machine needs no sandbox. Where bubblewrap cannot run, autograding stops
with a message that names the cause and the fix; ``VAE_SANDBOX=none`` (``make grade SANDBOX=none``)
grades without it.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import platform
import re
import resource
import secrets
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

__all__ = ["LIMITS", "SandboxKernelManager", "SandboxUnavailable", "sandbox_mode", "sandbox_problem",
           "bwrap_command", "seccomp_program", "kernel_base", "sweep_kernel_dirs", "remove_kernel_dir", "Cgroup2"]

# Per kernel. Memory: grading the MNIST reference peaks at 0.9 GiB resident and 4.0 GiB of address space
# (torch's CUDA libraries reserve most of it without using it), with 14 threads. CPU seconds: the whole
# kernel's CPU time per process (grading runs no training); a submission's wall clock is capped by grade.py.
LIMITS = {
    "memory": 4 << 30,          # RLIMIT_DATA: heap and private anonymous memory; cgroup v2 memory.max
    "address_space": 6 << 30,   # RLIMIT_AS: every mapping, shared and file-backed (mapped memfds) included
    "file_size": 256 << 20,     # RLIMIT_FSIZE: largest file the kernel may write
    "processes": 64,            # RLIMIT_NPROC for the kernel's own uid (threads count); cgroup v2 pids.max
    "cpu_seconds": 900,         # RLIMIT_CPU, per process
    "cpus": 1,                  # cgroup v2 cpu.max (where the machine has it): one core's worth of CPU time
    "tmp_size": 512 << 20,      # the private /tmp and $HOME (tmpfs)
    "open_files": 1024,         # RLIMIT_NOFILE
    "kernel_dir_bytes": 256 << 10,  # the connection folder's tmpfs (root grader): connection file, IPC sockets
    "kernel_dir_files": 32,
}
# System calls that would hold memory outside RLIMIT_AS (a memfd filled with write(), System V shared memory,
# message queues and semaphores kept after detaching, io_uring's rings): the kernel gets EPERM.
DENIED_SYSCALLS = {
    "x86_64": {"memfd_create": 319, "memfd_secret": 447, "shmget": 29, "msgget": 68, "semget": 64, "io_uring_setup": 425},
    "aarch64": {"memfd_create": 279, "memfd_secret": 447, "shmget": 194, "msgget": 186, "semget": 190, "io_uring_setup": 425},
}
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
UID_POOL = range(210000, 212000)   # a root grader gives every kernel its own uid from this pool
# The uid leases of every root grader of this machine: never in a world-writable /tmp, where a user could make the
# folder first and have root create files through its links, or hold every lease.
LOCKS = Path("/run/vae-grading-uids") if os.path.isdir("/run") else Path(tempfile.gettempdir()) / "vae-grading-uids"
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
        private_folder(LOCKS, "the kernels' uid leases", "remove it")
        for uid in UID_POOL:
            try:
                fd = os.open(LOCKS / str(uid), os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            except OSError:  # a link (ELOOP) or another entry that is no lease file: not this uid
                continue
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
                  env: dict[str, str], seccomp_fd: int | None = None) -> list[str]:
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
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    args += ["--chdir", folder, "--"]
    if uid is not None:
        shim = ("import os,sys; os.setgroups([]); os.setresgid(*[int(sys.argv[1])]*3); "
                "os.setresuid(*[int(sys.argv[1])]*3); os.execv(sys.argv[2], sys.argv[2:])")
        args += [sys.executable, "-I", "-S", "-c", shim, str(uid)]
    return args + list(kernel_cmd)


def seccomp_program(machine: str | None = None) -> bytes:
    """A classic BPF seccomp filter (what bwrap --seccomp reads): EPERM for DENIED_SYSCALLS and for every
    system call of another ABI (x32, i386), everything else allowed."""
    machine = machine or platform.machine()
    if machine not in DENIED_SYSCALLS:
        raise SandboxUnavailable(f"no seccomp filter for {machine}: the sandbox knows x86_64 and aarch64")
    ld, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    allow, deny = 0x7FFF0000, 0x00050000 | errno.EPERM
    numbers = sorted(DENIED_SYSCALLS[machine].values())
    body = [(ld, 0, 0, 0)]                                   # A = seccomp_data.nr
    if machine == "x86_64":
        body.append((jge, 0, 0, 0x40000000))                 # x32 system calls: jump target set below
    body += [(jeq, 0, 0, nr) for nr in numbers]
    prog = [(ld, 0, 0, 4), (jeq, 0, 0, AUDIT_ARCH[machine])] + body + [(ret, 0, 0, allow), (ret, 0, 0, deny)]
    deny_at = len(prog) - 1
    out = []
    for i, (code, jt, jf, k) in enumerate(prog):
        if code == jeq and i == 1:
            jt, jf = 0, deny_at - i - 1                      # another architecture: deny
        elif code in (jeq, jge):
            jt, jf = deny_at - i - 1, 0
        out.append(struct.pack("HBBI", code, jt, jf, k))
    return b"".join(out)


_libc = ctypes.CDLL(None, use_errno=True)
MS_NOSUID, MS_NODEV, MS_NOEXEC, MNT_DETACH = 0x2, 0x4, 0x8, 0x2
KERNEL_DIR = re.compile(r"^k-(\d+)-[0-9a-f]+$")


def kernel_base() -> Path:
    """Where each kernel's connection folder is made: private to the grader, never a shared /tmp.

    $VAE_KERNEL_DIR if set; for a root grader /run/vae-grading; else $XDG_RUNTIME_DIR/vae-kernels, or
    <tmp>/vae-kernels-<uid>, a folder of mode 0700 that must be the grader's own (a link or another
    user's folder is refused)."""
    if os.environ.get("VAE_KERNEL_DIR"):
        base = Path(os.environ["VAE_KERNEL_DIR"])
    elif os.getuid() == 0 and os.path.isdir("/run"):
        base = Path("/run/vae-grading")
    elif os.environ.get("XDG_RUNTIME_DIR"):
        base = Path(os.environ["XDG_RUNTIME_DIR"]) / "vae-kernels"
    else:
        base = Path(tempfile.gettempdir()) / f"vae-kernels-{os.getuid()}"
    return private_folder(base, "the kernels' connection files",
                          "remove it, or set VAE_KERNEL_DIR to a private folder")


def private_folder(path: Path, holds: str, fix: str) -> Path:
    """`path`, made with mode 0700 if missing; refused (SandboxUnavailable naming `holds` and `fix`) unless it is
    a folder of this process's own uid that no other account can read or write: one that someone else made first
    (a link, or a folder in a shared /tmp) is never used."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise SandboxUnavailable(f"{path} must be a folder of the grader's own with mode 0700 (it holds {holds}): {fix}")
    return path


def _mounted(path: Path) -> bool:
    target = str(path).replace(" ", "\\040")
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == target for line in f)


def remove_kernel_dir(path: Path) -> None:
    """Unmount (a root grader's tmpfs) and delete one kernel's connection folder."""
    if os.getuid() == 0 and _mounted(path):
        _libc.umount2(str(path).encode(), MNT_DETACH)
    shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_kernel_dirs(owner: int | None = None, base: Path | None = None) -> list[Path]:
    """Remove the connection folders of graders that are gone (or, with `owner`, of that grader process,
    alive or not): a grader stopped by SIGKILL never removes its own. Returns what was removed."""
    base = base or kernel_base()
    removed = []
    for d in sorted(base.iterdir()):
        m = KERNEL_DIR.match(d.name)
        if m and (int(m.group(1)) == owner if owner is not None else not _alive(int(m.group(1)))):
            remove_kernel_dir(d)
            removed.append(d)
    return removed


def make_kernel_dir(uid: int | None) -> Path:
    """A fresh connection folder k-<grader pid>-<random> under kernel_base(); for a root grader a tmpfs
    of LIMITS["kernel_dir_bytes"] and LIMITS["kernel_dir_files"] owned by the kernel's uid."""
    base = kernel_base()
    sweep_kernel_dirs(base=base)
    path = base / f"k-{os.getpid()}-{secrets.token_hex(4)}"
    path.mkdir(mode=0o700)
    if os.getuid() == 0 and uid is not None:
        options = (f"size={LIMITS['kernel_dir_bytes']},nr_inodes={LIMITS['kernel_dir_files']},mode=0700,"
                   f"uid={uid},gid={uid}").encode()
        if _libc.mount(b"tmpfs", str(path).encode(), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options) != 0:
            err = ctypes.get_errno()
            shutil.rmtree(path, ignore_errors=True)
            raise SandboxUnavailable(f"could not mount the kernel's connection folder {path} as a tmpfs: {os.strerror(err)}")
    return path


class Cgroup2:
    """A cgroup v2 of one kernel, with memory.max, memory.swap.max, cpu.max and pids.max (root grader only).

    Used where `find()` finds a cgroup2 hierarchy whose root offers the memory, cpu and pids controllers;
    elsewhere (a machine whose controllers are on cgroup v1, a grader that is not root) the rlimits alone
    apply. The kernel's process joins the group between fork and exec (`join`)."""

    NEEDED = ("memory", "cpu", "pids")
    GROUP = "vae-grading"

    def __init__(self, root: Path):
        self.root = Path(root)
        self.path: Path | None = None

    @classmethod
    def find(cls, candidates=("/sys/fs/cgroup", "/sys/fs/cgroup/unified")) -> "Cgroup2 | None":
        if os.getuid() != 0 or os.environ.get("VAE_SANDBOX_CGROUP", "") == "none":
            return None
        for root in map(Path, candidates):
            try:
                if set(cls.NEEDED) <= set((root / "cgroup.controllers").read_text().split()):
                    return cls(root)
            except OSError:
                continue
        return None

    def create(self, name: str) -> Path:
        group = self.root / self.GROUP
        enable = " ".join(f"+{c}" for c in self.NEEDED)
        (self.root / "cgroup.subtree_control").write_text(enable)
        group.mkdir(exist_ok=True)
        (group / "cgroup.subtree_control").write_text(enable)
        self.path = group / name
        self.path.mkdir(exist_ok=True)
        period = 100000
        for key, value in (("memory.max", LIMITS["memory"]), ("memory.swap.max", 0), ("pids.max", LIMITS["processes"]),
                           ("cpu.max", f"{LIMITS['cpus'] * period} {period}")):
            if (self.path / key).exists():
                (self.path / key).write_text(str(value))
        return self.path

    def join(self) -> None:
        """In the child between fork and exec: move this process (and so the kernel) into the group."""
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def remove(self) -> None:
        if self.path is None:
            return
        try:
            if (self.path / "cgroup.kill").exists():
                (self.path / "cgroup.kill").write_text("1")
            self.path.rmdir()
        except OSError:
            pass
        self.path = None


def _set_limits(nproc: bool, cgroup: Cgroup2 | None = None):
    """Run in the child between fork and exec: the kernel's hard limits (it cannot raise them back)."""
    def apply():
        if cgroup is not None:
            cgroup.join()
        for res, value in ((resource.RLIMIT_DATA, LIMITS["memory"]), (resource.RLIMIT_AS, LIMITS["address_space"]),
                           (resource.RLIMIT_FSIZE, LIMITS["file_size"]),
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
    _cgroup: Cgroup2 | None = None
    # The folder whose notebooks the kernel gets (ExecuteSandboxed sets the student's submitted folder);
    # None: the folder the kernel is started in. Only regular *.ipynb files are copied, never a link.
    kernel_files_from: Path | None = None

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
            if os.getuid() == 0:
                self._lease = _UidLease()
            self._private = make_kernel_dir(self._lease.uid if self._lease else None)
            self.transport = "ipc"
            self.ip = str(self._private / "ipc")
            self.connection_file = str(self._private / "kernel.json")
        return await super()._async_pre_start_kernel(**kw)

    def _kernel_files(self, cwd: Path, folder: str) -> dict[str, int]:
        """{path inside the sandbox: descriptor} of the notebooks the kernel gets (regular files only)."""
        from .collect import Refused, open_regular

        source = Path(self.kernel_files_from) if self.kernel_files_from is not None else cwd
        fds = {}
        try:
            entries = sorted(os.scandir(source), key=lambda e: e.name)
        except OSError as exc:
            self.log.warning("the kernel gets no notebook: %s could not be read (%s)", source, exc)
            return fds
        for entry in entries:
            if entry.name.endswith(".ipynb"):
                try:
                    fds[f"{folder}/{entry.name}"] = open_regular(Path(entry.path))
                except Refused as exc:
                    self.log.warning("not given to the kernel: %s", exc)
        return fds

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        if self._private is None:
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        uid = self._lease.uid if self._lease else None
        cwd = Path(kw.pop("cwd", None) or os.getcwd())
        folder = f"{INSIDE_HOME}/{cwd.name}"
        inside = uid if uid is not None else 65534
        fds = self._kernel_files(cwd, folder)
        sources = {f"{INSIDE_HOME}/.matplotlib/{p.name}": p for p in _matplotlib_cache()}
        identity = {"/etc/passwd": f"student:x:{inside}:{inside}:student:{INSIDE_HOME}:/usr/sbin/nologin\n",
                    "/etc/group": f"student:x:{inside}:\n"}
        for name, text in identity.items():
            sources[name] = self._private / Path(name).name
            sources[name].write_text(text)
        fds.update({path: os.open(p, os.O_RDONLY) for path, p in sources.items()})
        seccomp_read, seccomp_write = os.pipe()
        os.write(seccomp_write, seccomp_program())
        os.close(seccomp_write)
        env = {k: os.environ[k] for k in PASS_ENV if k in os.environ}
        env.update({"HOME": INSIDE_HOME, "USER": "student", "LOGNAME": "student", "PATH": "/usr/bin:/bin",
                    "MPLCONFIGDIR": f"{INSIDE_HOME}/.matplotlib", "TMPDIR": "/tmp", "OMP_NUM_THREADS": "1",
                    "LANG": env.get("LANG", "C.UTF-8")})
        if uid is not None:  # the kernel creates its IPC sockets here
            _chown_tree(self._private, uid)
            cgroup = Cgroup2.find()
            if cgroup is not None:
                try:
                    cgroup.create(self._private.name)
                    self._cgroup = cgroup
                except OSError as exc:  # the rlimits still apply
                    self.log.warning("no cgroup v2 for this kernel (%s): rlimits only", exc)
                    cgroup.remove()
        cmd = bwrap_command(kernel_cmd, fds, folder, self._private, uid, env, seccomp_fd=seccomp_read)
        # The kernel's own stdout/stderr (not the notebook's outputs) go nowhere, unless debugging the sandbox.
        quiet = subprocess.DEVNULL if not os.environ.get("VAE_SANDBOX_DEBUG") else None
        kw.update(cwd="/", env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                  stdin=subprocess.DEVNULL, stdout=quiet, stderr=quiet, pass_fds=tuple(fds.values()) + (seccomp_read,),
                  preexec_fn=_set_limits(nproc=uid is not None, cgroup=self._cgroup))
        try:
            return await super()._async_launch_kernel(cmd, **kw)
        finally:
            for fd in list(fds.values()) + [seccomp_read]:
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
        remove_kernel_dir(self._private)
        self._private = None
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None
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
    cgroup = Cgroup2.find()
    return {"mode": sandbox_mode(), "limits": dict(LIMITS), "pass_env": list(PASS_ENV),
            "cgroup_v2": str(cgroup.root) if cgroup else None, "denied_syscalls": sorted(DENIED_SYSCALLS.get(platform.machine(), {})),
            "problem": sandbox_problem() if sandbox_mode() == "bwrap" else None}


if __name__ == "__main__":  # `python -m grading.sandbox`: can this machine sandbox grading kernels?
    print(json.dumps(describe(), indent=1))
    sys.exit(1 if describe()["problem"] else 0)
