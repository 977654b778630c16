"""The autograding kernel's sandbox (grading/sandbox.py), from inside.

One sandboxed kernel answers every question a student's code could ask of its surroundings; the class-level
attacks are in tests/attacks.py.
"""

import asyncio
import json
import os

import pytest

from grading import sandbox as sb

PROBE = r'''
import json, os, resource, socket
facts = {"uid": os.getuid(), "cwd": os.getcwd(), "files": sorted(os.listdir(".")),
         "env": sorted(os.environ), "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
         "root": os.path.isdir("/root/.ssh") or os.path.exists("/root/.bashrc"),
         "limits": {n: resource.getrlimit(getattr(resource, n))[1] for n in ("RLIMIT_DATA", "RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_NPROC", "RLIMIT_CPU")}}
try:
    os.memfd_create("m")
    facts["memfd"] = "allowed"
except OSError as exc:
    facts["memfd"] = exc.errno
from ipykernel.connect import get_connection_file
private = os.path.dirname(os.path.abspath(get_connection_file()))
facts["private"] = private
made = 0
try:
    for i in range(100):
        open(os.path.join(private, "f%d" % i), "w").close()
        made += 1
except OSError:
    pass
facts["private_files"] = made
try:
    socket.create_connection(("127.0.0.1", PORT), timeout=2)
    facts["network"] = True
except OSError:
    facts["network"] = False
writable = []
for d in ("/usr", os.path.dirname(os.__file__), os.path.dirname(json.__file__), "/etc", ".", "/tmp", os.path.expanduser("~")):
    try:
        open(os.path.join(d, "probe.txt"), "w").close()
        writable.append(d)
    except OSError:
        pass
facts["writable"] = writable
try:
    open("big.bin", "wb").write(b"\0" * (300 << 20))
    facts["big_file"] = True
except OSError:
    facts["big_file"] = False
print(json.dumps(facts))
'''


async def reply_to(kc, msg_id):
    """The shell reply to msg_id (earlier replies are skipped)."""
    while True:
        msg = await kc.get_shell_msg(timeout=120)
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg


async def run_in_kernel(km_class, cwd, code_cells, expressions=()):
    """Start a kernel with km_class in cwd, run code_cells, evaluate expressions; return (stdout, answers)."""
    km = km_class(kernel_name="python3")
    await km.start_kernel(cwd=str(cwd), extra_arguments=["--HistoryManager.hist_file=:memory:"])
    kc = km.client()
    kc.start_channels()
    out, answers = [], []
    try:
        await kc.wait_for_ready(timeout=120)
        for code in code_cells:
            msg_id = kc.execute(code)
            await reply_to(kc, msg_id)
            while True:
                msg = await kc.get_iopub_msg(timeout=120)
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] == "stream":
                    out.append(msg["content"]["text"])
                if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    break
        for expr in expressions:
            msg = await reply_to(kc, kc.execute("", silent=True, user_expressions={"q": expr}))
            answers.append(msg["content"]["user_expressions"]["q"].get("data", {}).get("text/plain"))
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)
    return "".join(out), answers


@pytest.fixture(scope="module")
def inside(tmp_path_factory):
    if sb.sandbox_problem():
        pytest.skip(sb.sandbox_problem())
    folder = tmp_path_factory.mktemp("student") / "vae_by_hand"
    folder.mkdir()
    (folder / "01.ipynb").write_text("{}")
    # nbgrader's execution folder holds more than the submission: a restored test cell, an autograded
    # notebook, the assignment's other files; the kernel must get the submitted notebooks only
    (folder / "02.ipynb").write_text('{"hidden": "### BEGIN HIDDEN TESTS"}')
    (folder / "hidden_fixtures.py").write_text("secret = 1\n")
    submitted = tmp_path_factory.mktemp("submitted") / "vae_by_hand"
    submitted.mkdir()
    (submitted / "01.ipynb").write_text("{}")
    (submitted / "notes.txt").write_text("not a notebook")
    os.symlink(folder / "02.ipynb", submitted / "02.ipynb")  # a link is not followed

    class Manager(sb.SandboxKernelManager):
        kernel_files_from = submitted

    os.environ["NBGRADER_EXECUTION"] = "autograde"
    os.environ["VAE_TEST_SECRET"] = "do-not-print"
    try:
        out, _ = asyncio.run(run_in_kernel(Manager, folder, [PROBE.replace("PORT", "1")]))
    finally:
        os.environ.pop("NBGRADER_EXECUTION")
        os.environ.pop("VAE_TEST_SECRET")
    return json.loads(out.strip().splitlines()[-1]), folder


def test_the_kernel_runs_as_an_unprivileged_uid(inside):
    facts, _ = inside
    assert facts["uid"] != 0


def test_it_sees_a_copy_of_its_own_folder_and_can_write_only_there(inside):
    facts, folder = inside
    assert facts["files"] == ["01.ipynb"] and facts["cwd"].endswith("/vae_by_hand")
    assert str(folder) != facts["cwd"]
    assert set(facts["writable"]) <= {".", "/tmp", "/home/student"} and "." in facts["writable"]
    assert not (folder / "probe.txt").exists(), "the kernel wrote into the grader's folder"


def test_it_has_no_network_no_environment_and_no_root(inside):
    facts, _ = inside
    assert facts["network"] is False
    # Only the variables the sandbox passes or sets (ipykernel adds a few of its own, such as CLICOLOR).
    allowed = set(sb.PASS_ENV) | {"HOME", "USER", "LOGNAME", "PATH", "MPLCONFIGDIR", "TMPDIR", "OMP_NUM_THREADS",
                                  "LANG", "PWD", "TERM"}
    assert "VAE_TEST_SECRET" not in facts["env"]
    assert set(facts["env"]) & set(os.environ) <= allowed, set(facts["env"]) & set(os.environ) - allowed
    assert facts["root"] is False


def test_it_lives_in_its_own_pid_namespace(inside):
    facts, _ = inside
    assert facts["pids"][0] == 1 and len(facts["pids"]) < 10


def test_its_limits_are_set_and_a_big_file_is_refused(inside):
    facts, _ = inside
    assert facts["limits"] == {"RLIMIT_DATA": sb.LIMITS["memory"], "RLIMIT_AS": sb.LIMITS["address_space"],
                               "RLIMIT_FSIZE": sb.LIMITS["file_size"],
                               "RLIMIT_NPROC": sb.LIMITS["processes"], "RLIMIT_CPU": sb.LIMITS["cpu_seconds"]}
    assert facts["big_file"] is False


def test_memory_outside_the_address_space_is_refused(inside):
    """memfd_create (a memfd filled with write() is counted by no rlimit) gets EPERM from the seccomp filter."""
    facts, _ = inside
    assert facts["memfd"] == 1


def test_the_connection_folder_is_private_bounded_and_removed(inside):
    """Not in the host's /tmp; for a root grader a tmpfs of LIMITS['kernel_dir_files'] files; gone after the kernel."""
    facts, _ = inside
    private = facts["private"]
    assert private.startswith(str(sb.kernel_base()) + "/k-") and not private.startswith("/tmp/vae-kernel")
    if os.getuid() == 0:
        assert facts["private_files"] < sb.LIMITS["kernel_dir_files"]
    assert not os.path.exists(private), "the connection folder outlived its kernel"


def test_the_kernel_gets_only_the_submitted_notebooks(inside):
    facts, _ = inside
    assert facts["files"] == ["01.ipynb"]


def test_a_dead_graders_connection_folders_are_swept(tmp_path):
    dead = subprocess_pid_of_a_finished_process()
    stale = tmp_path / f"k-{dead}-0a1b2c3d"
    stale.mkdir()
    (stale / "kernel.json").write_text("{}")
    live = tmp_path / f"k-{os.getpid()}-0a1b2c3d"
    live.mkdir()
    other = tmp_path / "not-a-kernel-folder"
    other.mkdir()
    assert sb.sweep_kernel_dirs(base=tmp_path) == [stale]
    assert not stale.exists() and live.exists() and other.exists()
    assert sb.sweep_kernel_dirs(owner=os.getpid(), base=tmp_path) == [live]


def subprocess_pid_of_a_finished_process() -> int:
    import subprocess

    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_the_seccomp_filter_denies_exactly_its_system_calls():
    """The program's jump targets: every listed number (and, on x86_64, any x32 call or another ABI) to EPERM."""
    import struct

    for machine, numbers in sb.DENIED_SYSCALLS.items():
        prog = sb.seccomp_program(machine)
        insns = [struct.unpack("HBBI", prog[i:i + 8]) for i in range(0, len(prog), 8)]
        assert insns[-1] == (0x06, 0, 0, 0x00050000 | 1) and insns[-2] == (0x06, 0, 0, 0x7FFF0000)
        deny = len(insns) - 1
        checked = {k for i, (code, jt, jf, k) in enumerate(insns) if code == 0x15 and i > 1 and i + 1 + jt == deny}
        assert checked == set(numbers.values())
        assert insns[1][1:3] == (0, deny - 2), "another architecture's calls are denied"


def test_cgroup_v2_limits_where_the_machine_has_the_controllers(tmp_path, monkeypatch):
    """With a cgroup2 root that offers memory, cpu and pids, each kernel gets its group with the limits."""
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma misc\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    monkeypatch.setattr(os, "getuid", lambda: 0)
    group = sb.Cgroup2.find(candidates=(str(tmp_path / "missing"), str(tmp_path)))
    assert group is not None
    kernel = tmp_path / "vae-grading" / "k-1-00"
    kernel.mkdir(parents=True)
    for key in ("memory.max", "memory.swap.max", "pids.max", "cpu.max", "cgroup.procs"):
        (kernel / key).write_text("")  # what a real cgroupfs creates with the folder
    assert group.create("k-1-00") == kernel
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+memory +cpu +pids"
    assert {k: (kernel / k).read_text() for k in ("memory.max", "memory.swap.max", "pids.max", "cpu.max")} == {
        "memory.max": str(sb.LIMITS["memory"]), "memory.swap.max": "0", "pids.max": str(sb.LIMITS["processes"]),
        "cpu.max": f"{sb.LIMITS['cpus'] * 100000} 100000"}
    group.join()
    assert (kernel / "cgroup.procs").read_text() == str(os.getpid())
    (tmp_path / "nothing-here").mkdir()
    assert sb.Cgroup2.find(candidates=(str(tmp_path / "nothing-here"),)) is None


def test_this_machine_is_described(tmp_path):
    """python -m grading.sandbox says which limits apply here (cgroup v2 or rlimits only)."""
    info = sb.describe()
    assert info["limits"]["address_space"] == sb.LIMITS["address_space"]
    assert "memfd_create" in info["denied_syscalls"]


def test_outside_autograding_kernels_start_as_usual(tmp_path):
    os.environ.pop("NBGRADER_EXECUTION", None)
    out, _ = asyncio.run(run_in_kernel(sb.SandboxKernelManager, tmp_path, ["import os; print(os.getcwd())"]))
    assert out.strip() == str(tmp_path)


def test_a_course_cloned_under_tmp_is_reachable_by_the_kernels_uid(monkeypatch, tmp_path):
    """A clone in /tmp/fresh: its venv is bound on top of the sandbox's empty /tmp, and every folder on
    the way there is created 0755 (bwrap would make it 0700, which the kernel's uid cannot enter)."""
    venv = "/tmp/fresh/.venv"
    monkeypatch.setattr(sb, "_python_binds", lambda: ["--ro-bind", venv, venv])
    args = sb.bwrap_command(["python"], {}, sb.INSIDE_HOME, tmp_path / "vae-kernel-x", 210000, {})
    tmpfs = args.index("/tmp", args.index("--tmpfs"))
    made = args.index("/tmp/fresh")
    assert args[made - 3:made] == ["--perms", "0755", "--dir"] and tmpfs < made < args.index(venv)
    assert args.count("/tmp/fresh") == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="uid leases are a root grader's")
def test_a_users_lease_folder_with_links_is_refused(monkeypatch, tmp_path):
    """The attack: another user makes the lease folder first (it was /tmp/vae-grading-uids) with a link named like a
    lease; root then created, as root, the file the link points at (say /etc/nologin), or waited on leases the user
    held. Now the folder must be root's own with mode 0700, and a lease is never opened through a link."""
    victim = tmp_path / "created-by-root"
    folder = tmp_path / "vae-grading-uids"
    folder.mkdir(mode=0o755)
    os.symlink(victim, folder / str(sb.UID_POOL[0]))
    os.lchown(folder / str(sb.UID_POOL[0]), 1234, 1234)
    os.chown(folder, 1234, 1234)
    monkeypatch.setattr(sb, "LOCKS", folder)
    with pytest.raises(sb.SandboxUnavailable, match="must be a folder of the grader's own"):
        sb._UidLease()
    os.chown(folder, 0, 0)
    os.chmod(folder, 0o700)
    lease = sb._UidLease()   # root's own folder: the link is not followed, the next uid is leased
    try:
        assert lease.uid == sb.UID_POOL[1] and not victim.exists()
    finally:
        lease.release()
