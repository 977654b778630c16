"""Grade the whole catalog as one class, with the real nbgrader pipeline, and check every score.

The expected per-question score of the reference, the untouched release and every catalog entry is
pinned in tests/golden_scores.json, together with a hash of every test cell: changing a test (its
code or points) fails here until the golden file is regenerated and reviewed:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_grading_catalog.py
"""

import hashlib
import json
import os
import re
import socket
import sqlite3
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest

import attacks
import catalog
from grading import course_dir as ct
from grading import classroom
from grading.gradebook import cell_scores

GOLDEN = catalog.ROOT / "tests" / "golden_scores.json"
# A short cell timeout keeps the infinite-loop entry cheap; every honest cell finishes in a few seconds.
TIMEOUTS = {"vae_by_hand": 20}
# Wall-clock seconds per submission: far above what an honest submission needs on a loaded 2-core
# machine (up to 80 s for four vae_by_hand notebooks, 60 s a notebook for mnist_vaes), and for
# vae_by_hand below what attacks.SLEEP_EACH_CELL takes: nbgrader restores the 10 test cells, so its
# sleep stays in 12 of the 22 code cells, 180 s.
SUBMISSION_TIMEOUT = {"vae_by_hand": 150, "mnist_vaes": 900}
SECRETS = {"env": "canary-env-7f3a9c", "file": "canary-file-51be20"}
ASSIGNMENTS = sorted({e.assignment for e in catalog.ENTRIES})


def test_cell_hashes() -> dict:
    """{assignment: {notebook: {grade_id: sha256 of source and points}}} for every graded test cell, and the
    sha256 of each assignment's hidden fixtures."""
    out = {}
    for a in ASSIGNMENTS:
        for name in ct.notebook_names(a):
            nb = nbformat.read(ct.SOLUTIONS / a / name, as_version=4)
            cells = {}
            for cell in nb.cells:
                meta = cell.metadata.get("nbgrader", {})
                if meta.get("grade") and cell.cell_type == "code":
                    cells[meta["grade_id"]] = hashlib.sha256(f"{meta['points']}\n{cell.source}".encode()).hexdigest()[:16]
            out.setdefault(a, {})[name[:-len(".ipynb")]] = cells
        fixtures = ct.SOLUTIONS / a / ct.FIXTURES_FILE  # what the hidden tests import: part of every test
        if fixtures.is_file():
            out[a][ct.FIXTURES_FILE] = {"sha256": hashlib.sha256(fixtures.read_bytes()).hexdigest()[:16]}
    return out


test_cell_hashes.__test__ = False  # a helper, not a test
GRADED_CLASSES = {}  # assignment -> what the fixture left to inspect
ATTACK_SCORES = {}  # attack name -> {notebook: {grade_id: score}}


@contextmanager
def bait(subs):
    """What an attack looks for: a secret in the grader's environment and next to the submissions, and
    the reference answers served on the loopback interface."""
    (subs.parent / attacks.CANARY_FILE).write_text(SECRETS["file"])
    (subs / attacks.CANARY_FILE).write_text(SECRETS["file"])
    answers = "\n".join(c.source for c in nbformat.read(
        catalog.ROOT / "solutions" / "vae_by_hand" / "01_forward_pass_and_losses.ipynb", as_version=4).cells
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")).encode()
    server = socket.create_server(("127.0.0.1", attacks.LOOPBACK_PORT))
    server.settimeout(0.5)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(answers)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    old = os.environ.get(attacks.CANARY_ENV)
    os.environ[attacks.CANARY_ENV] = SECRETS["env"]
    try:
        yield
    finally:
        stop.set()
        thread.join()
        server.close()
        if old is None:
            os.environ.pop(attacks.CANARY_ENV, None)
        else:
            os.environ[attacks.CANARY_ENV] = old


def survivors() -> list[str]:
    """Processes an attack started, or any process running as a sandbox uid, except another environment's
    (on a shared machine, another checkout grading at the same time: a kernel of its own interpreter)."""
    import sys

    ps = subprocess.run(["ps", "-eo", "uid=,pid=,args="], capture_output=True, text=True).stdout.splitlines()
    from grading.sandbox import UID_POOL

    ours = str(Path(sys.prefix) / "bin")

    def elsewhere(line):
        return any(word.endswith(("/bin/python", "/bin/python3")) and not word.startswith(ours) and "/.venv/" in word
                   for word in line.split()[2:3])
    return [line for line in ps if (attacks.MARK in line or int(line.split()[0]) in UID_POOL) and not elsewhere(line)]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade reference, untouched and every entry, one class per assignment; return scores and rows."""
    scores, rows = {}, {}
    for a in ASSIGNMENTS:
        subs = tmp_path_factory.mktemp(f"class-{a}")
        catalog.reference_and_untouched(subs, a)
        students = catalog.pack([e for e in catalog.ENTRIES if e.assignment == a])
        for student, entries in students.items():
            for entry in entries:
                catalog.build(entry, subs, student)
        out = tmp_path_factory.mktemp(f"graded-{a}") / a
        extra = [f"--Execute.timeout={TIMEOUTS[a]}"] if a in TIMEOUTS else []
        started = time.monotonic()
        with bait(subs):
            table = classroom.grade_class(a, subs, out, extra=extra, progress=False, timeout=SUBMISSION_TIMEOUT[a])
        GRADED_CLASSES[a] = {"out": out, "subs": subs, "survivors": survivors(), "students": students, "table": table,
                             "seconds": time.monotonic() - started}
        by_student = {r["student"]: r for r in table}
        cells = cell_scores(out / "gradebook.db", a)
        # report every entry under its own name, with only its own notebook
        rows[a] = {"reference": by_student["reference"], "untouched": by_student["untouched"]}
        scores[a] = {"reference": cells["reference"], "untouched": cells["untouched"]}
        for student, entries in students.items():
            for e in entries:
                # a folder whose name is not plain gets a row of its own label (grading/collect.py)
                rows[a][e.name] = by_student.get(student) or next(r for r in table if "not a plain name" in r["error"])
                got = {e.notebook: cells.get(student, {}).get(e.notebook, {})}
                # An attack's notebook may not be graded at all (it killed its kernel, or ran out of time):
                # its scores are checked to be 0 (or its twin's), not pinned in the golden file.
                (ATTACK_SCORES if e.kind in catalog.OWN_STUDENT else scores[a])[e.name] = got
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps({"test_cells": test_cell_hashes(), "scores": scores}, indent=1, sort_keys=True) + "\n")
    return scores, rows


def entry_scores(graded, entry):
    return graded[0][entry.assignment][entry.name].get(entry.notebook, {})


def reference_scores(graded, entry):
    return graded[0][entry.assignment]["reference"][entry.notebook]


def test_golden_file_matches_the_current_tests(graded):
    golden = catalog.load_golden(GOLDEN)
    assert golden.get("test_cells") == test_cell_hashes(), (
        "a test cell changed: regenerate tests/golden_scores.json (see this module's docstring) and review the diff")


def test_every_score_matches_the_golden_file(graded):
    golden = catalog.load_golden(GOLDEN)["scores"]
    assert graded[0] == golden


def test_catalog_is_large_enough():
    kinds = [e.kind for e in catalog.ENTRIES]
    assert kinds.count("mutant") >= 40 and kinds.count("alternative") >= 8
    assert {e.assignment for e in catalog.ENTRIES if e.kind == "mutant"} == {"vae_by_hand", "mnist_vaes"}
    assert len({e.name for e in catalog.ENTRIES}) == len(catalog.ENTRIES)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_full_and_untouched_zero(graded, assignment):
    rows = graded[1][assignment]
    assert rows["reference"]["error"] == "" and rows["untouched"]["error"] == ""
    assert rows["untouched"]["score"] == 0
    for notebook, cells in graded[0][assignment]["untouched"].items():
        assert set(cells.values()) == {0.0}, notebook
    for notebook, cells in graded[0][assignment]["reference"].items():
        tests = {gid: v for gid, v in cells.items() if gid in test_cell_hashes()[assignment][notebook]}
        assert tests and all(v > 0 for v in tests.values()), notebook


def by_kind(kind):
    return [pytest.param(e, id=e.name) for e in catalog.ENTRIES if e.kind == kind]


@pytest.mark.parametrize("entry", by_kind("mutant"))
def test_mutant_loses_points_only_where_the_mistake_is(graded, entry):
    got, ref = entry_scores(graded, entry), reference_scores(graded, entry)
    assert sum(got.values()) < sum(ref.values())
    for gid, full in ref.items():
        if gid in entry.loses:
            assert got[gid] < full, f"{gid} should lose points"
        else:
            assert got[gid] == full, f"{gid} should keep its points"


@pytest.mark.parametrize("entry", by_kind("alternative"))
def test_valid_alternative_gets_full_marks(graded, entry):
    assert entry_scores(graded, entry) == reference_scores(graded, entry)


@pytest.mark.parametrize("entry", by_kind("cheat"))
def test_cheating_gains_nothing(graded, entry):
    got, ref = entry_scores(graded, entry), reference_scores(graded, entry)
    assert set(got) == set(ref), "the graded cells are the original ones"
    for gid, full in ref.items():
        if gid in entry.loses:
            assert got[gid] < full, f"{gid}: the cheat should not earn these points"
        else:
            assert got[gid] <= full
    rows = graded[1][entry.assignment]
    assert rows[entry.name]["max_score"] == rows["reference"]["max_score"], "the cheat changed the maximum score"


@pytest.mark.parametrize("entry", [pytest.param(e, id=e.name) for e in catalog.ENTRIES if e.twin])
def test_a_cheat_scores_what_its_honest_mistakes_score(graded, entry):
    """A cheat built on a mutant's mistakes (a float16 answer, an edited given cell) scores what the mutant scores,
    and less on the questions its cheat makes wrong too."""
    twin = next(e for e in catalog.ENTRIES if e.name == entry.twin)
    assert twin.notebook == entry.notebook and set(twin.loses) <= set(entry.loses)
    got, honest = entry_scores(graded, entry), entry_scores(graded, twin)
    for gid, points in honest.items():
        if gid in set(entry.loses) - set(twin.loses):
            assert got[gid] < points, f"{gid}: the cheat should lose points here"
        else:
            assert got[gid] == points, f"{gid}: the cheat scores {got[gid]}, its honest mistakes {points}"


@pytest.mark.parametrize("entry", by_kind("fault"))
def test_faults_do_not_stop_grading(graded, entry):
    got, ref = entry_scores(graded, entry), reference_scores(graded, entry)
    row = graded[1][entry.assignment][entry.name]
    if entry.raw is not None:  # a corrupted file: reported, scored 0, and the rest of the class is graded
        assert "not a valid notebook" in row["error"] and entry.notebook in row["error"]
        assert row[entry.notebook] == 0
        return
    assert row["error"] == ""
    for gid, full in ref.items():
        if gid in entry.loses:
            assert got[gid] == 0, f"{gid} depends on the faulty cell"
        else:
            assert got[gid] == full, f"{gid} is independent of the fault and keeps its points"



@pytest.mark.parametrize("entry", by_kind("attack"))
def test_attack_scores_zero(graded, entry):
    got = ATTACK_SCORES[entry.name].get(entry.notebook, {})
    assert sum(got.values()) == 0, f"the attack earned {got}"
    assert graded[1][entry.assignment][entry.name]["score"] == 0


def test_honest_classmates_keep_full_marks_next_to_the_attacks(graded):
    """Every student graded with the attacks whose notebooks are the reference's keeps the reference's marks."""
    for a in {e.assignment for e in catalog.ATTACKS}:
        assert graded[0][a]["reference"] == catalog.load_golden(GOLDEN)["scores"][a]["reference"]
        for e in catalog.ENTRIES:
            if e.assignment == a and e.kind == "alternative":
                assert entry_scores(graded, e) == reference_scores(graded, e), e.name


def test_class_gradebook_has_no_trigger_view_or_extra_table(graded):
    for a, info in GRADED_CLASSES.items():
        con = sqlite3.connect(info["out"] / "gradebook.db")
        kinds = {t for (t,) in con.execute("SELECT type FROM sqlite_master")}
        con.close()
        assert kinds <= {"table", "index"}, kinds


def test_nothing_outlives_grading(graded):
    for a, info in GRADED_CLASSES.items():
        assert info["survivors"] == [], info["survivors"]
    assert not os.path.exists("/tmp/vae-attack-config-ran"), "code an attack wrote into a config ran"


def test_nothing_grows_past_the_caps(graded):
    """No file in the class folder over 20 MB, no autograded notebook over 5 MB, no 1 GB file anywhere."""
    for a, info in GRADED_CLASSES.items():
        for path in info["out"].rglob("*"):
            if path.is_file():
                limit = 5 << 20 if path.suffix == ".ipynb" else 20 << 20
                assert path.stat().st_size < limit, f"{path} is {path.stat().st_size} bytes"
        for path in info["subs"].rglob("big.bin"):
            raise AssertionError(f"an attack wrote {path}")


def _outputs(nb) -> str:
    return json.dumps([c.get("outputs", []) for c in nb.cells])


def test_no_secret_reaches_any_output(graded):
    """The environment's and the file's canaries appear in no autograded output, and the hidden tests in
    nothing the student sees: neither in the output of any cell but a test cell's own traceback (which
    the instructor sees), nor anywhere in what the feedback filter leaves."""
    from grading.feedback import HideHiddenTests

    hidden = set()
    for nb_path in (catalog.ROOT / "solutions" / "vae_by_hand").glob("*.ipynb"):
        for cell in nbformat.read(nb_path, as_version=4).cells:
            if "### BEGIN HIDDEN TESTS" in cell.source:
                region = cell.source.split("### BEGIN HIDDEN TESTS", 1)[1].split("### END HIDDEN TESTS", 1)[0]
                hidden |= {line.strip() for line in region.splitlines() if len(line.strip()) > 30}
    assert hidden
    info = GRADED_CLASSES["vae_by_hand"]
    checked = 0
    for nb_path in (info["out"] / "autograded").rglob("*.ipynb"):
        nb = nbformat.read(nb_path, as_version=4)
        text = _outputs(nb)
        for name, secret in SECRETS.items():
            assert secret not in text, f"the {name} canary is in {nb_path}"
        others = nbformat.v4.new_notebook(cells=[c for c in nb.cells if "### BEGIN HIDDEN TESTS" not in c.source])
        feedback, _ = HideHiddenTests().preprocess(nb, {})
        for where, shown in (("a cell other than a test cell", _outputs(others)), ("the feedback", json.dumps(feedback))):
            leaked = [line for line in hidden if json.dumps(line)[1:-1] in shown]
            assert not leaked, f"hidden tests in {where} of {nb_path}: {leaked[:2]}"
        checked += 1
    assert checked >= len(info["students"])


def test_the_config_and_packages_are_untouched(graded):
    info = GRADED_CLASSES["vae_by_hand"]
    assert (info["out"] / "nbgrader_config.py").read_text() == (catalog.ROOT / "nbgrader_config.py").read_text()
    import numpy.testing

    assert "assert_allclose = lambda" not in open(numpy.testing.__file__).read()


def test_a_submission_over_its_time_limit_is_stopped_and_says_why(graded):
    entry = next(e for e in catalog.ATTACKS if e.name == attacks.SLEEP_EACH_CELL)
    row = graded[1][entry.assignment][entry.name]
    assert f"{SUBMISSION_TIMEOUT[entry.assignment]:g} s limit" in row["error"]


# -- issue 19: what a submission could do around the kernel ------------------------------------------------------

def _autograded(info, student, notebook):
    return nbformat.read(info["out"] / "autograded" / student / "vae_by_hand" / f"{notebook}.ipynb", as_version=4)


def _student_of(info, name):
    return next(s for s, entries in info["students"].items() if any(e.name == name for e in entries))


def _printed(nb, marker):
    """What the code cells of a notebook printed, as one text (the attacks report what they got)."""
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                   if o.get("output_type") == "stream" and marker in c.source)


ACTIVE = re.compile(r"(?i)<script|\son\w+\s*=|javascript:|vbscript:|data:text/html|<iframe|<object|<embed|<form|<meta|<base\b")


def test_no_output_of_any_autograded_notebook_can_run(graded):
    """Every output of every autograded notebook (the XSS attacker's too, skip-tagged cells included) is
    inert: only the kept types, no script, handler, javascript: URL, iframe, object, form, meta or base,
    no widget state; the attacker's saved outputs are still there, cleaned."""
    from grading.sanitize import KEPT_MIME_TYPES

    info = GRADED_CLASSES["vae_by_hand"]
    checked = 0
    for path in (info["out"] / "autograded").rglob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        assert "widgets" not in nb.metadata, path
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                assert set(data) <= set(KEPT_MIME_TYPES), (path, set(data))
                assert not ACTIVE.search(json.dumps(data)), (path, json.dumps(data)[:300])
            assert not ACTIVE.search(json.dumps(cell.get("attachments", {}))), path
            assert not ACTIVE.search(json.dumps(cell.metadata.get("tags", []))), path
        checked += 1
    assert checked >= len(info["students"])
    xss = _autograded(info, _student_of(info, "a20_xss_in_formgrader"), "02_latent_collapse_and_beta")
    skipped = next(c for c in xss.cells if c.get("id") == "xss-skipped")
    assert [o["data"].get("text/plain") for o in skipped.outputs if "data" in o][:1] == ["figure"], skipped.outputs
    shown = [o for c in xss.cells if "a20_xss_in_formgrader" in c.source for o in c.outputs]
    assert any("isolated" in json.dumps(o.get("data", {})) for o in shown), "the harmless part of the HTML is kept"


ACTIVE_TAGS = {"script", "iframe", "object", "embed", "form", "meta", "base", "frame", "frameset"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "srcdoc"}


def active_markup(page: str) -> list[str]:
    """Tags and attributes of an HTML page that could run something: script-like tags, on* handlers and
    javascript:/vbscript:/data:text/html URLs. Text is inert (the student's source shown as code, escaped,
    may well say `onerror=`), so it is not read; only the markup the browser builds is."""
    from html.parser import HTMLParser

    found = []

    class Reader(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag in ACTIVE_TAGS:
                found.append(f"<{tag}>")
            for name, value in attrs:
                url = re.sub(r"[\x00-\x20]", "", value or "").lower()
                if name.startswith("on") or (name in URL_ATTRIBUTES and url.startswith(
                        ("javascript:", "vbscript:", "data:text/html"))):
                    found.append(f"<{tag} {name}>")

        handle_startendtag = handle_starttag

    Reader(convert_charrefs=True).feed(page)
    return found


def test_active_markup_reads_tags_not_text():
    """The reader of the feedback test: escaped source is text, a handler or a script in the markup is not."""
    assert active_markup("<pre>&lt;img src=x onerror=alert(1)&gt;</pre>") == []
    assert active_markup("<img src=x onerror=alert(1)>") == ["<img onerror>"]
    assert active_markup('<a href=" JaVa\tscript:alert(1)">x</a>') == ["<a href>"]
    assert active_markup("<div><script>alert(1)</script></div>") == ["<script>"]


def test_feedback_of_the_xss_attacker_carries_no_script_and_no_hidden_test(graded):
    """make feedback's pages for the attacker: a Content-Security-Policy first in <head>, no script but the
    MathJax loader of the head, nothing active in the body, and no hidden test in any encoding."""
    from grading import csp, feedback

    info = GRADED_CLASSES["vae_by_hand"]
    student = _student_of(info, "a20_xss_in_formgrader")
    ct.run_nbgrader(["generate_feedback", "vae_by_hand", "--student", student, "--force"], info["out"])
    pages = sorted((info["out"] / "feedback" / student / "vae_by_hand").glob("*.html"))
    autograded = sorted(p.stem for p in (info["out"] / "autograded" / student / "vae_by_hand").glob("*.ipynb"))
    assert "02_latent_collapse_and_beta" in autograded  # the notebook with the attack; others as submitted
    assert [p.stem for p in pages] == autograded
    for page in pages:
        html = page.read_text()
        head, body = re.split(r"</head\s*>", html, maxsplit=1)
        assert re.search(r'<head[^>]*>\s*<meta http-equiv="Content-Security-Policy" content="script-src ', head), page
        assert "'unsafe-inline'" not in head and "'unsafe-eval'" not in head
        assert len(csp.head_scripts(html)) == html.count("<script") == 1, page
        assert active_markup(body) == [], page
    assert feedback.check(info["out"] / "feedback" / student) == []


def test_the_leak_check_reads_the_common_encodings(tmp_path):
    """A hidden-test line printed base64-encoded, hex, reversed, ROT13, as character codes or compressed
    is found (the check of scripts/feedback.py before any feedback is sent)."""
    import base64
    import codecs
    import zlib

    from grading import feedback

    lines = feedback.hidden_lines(sorted((catalog.ROOT / "solutions").glob("*/*.ipynb")))
    line = max(lines, key=len)
    encoded = {"base64": "x" + base64.b64encode(("# my notes\n" + line).encode()).decode(),
               "hex": line.encode().hex(), "reversed": line[::-1], "rot13": codecs.encode(line, "rot13"),
               "character codes": ", ".join(str(ord(ch)) for ch in line),
               "base64 of zlib": base64.b64encode(zlib.compress(line.encode())).decode()}
    for name, text in encoded.items():
        page = tmp_path / name / "page.html"
        page.parent.mkdir()
        page.write_text(f"<html><body><pre>{text}</pre></body></html>")
        assert feedback.check(page.parent), f"a hidden-test line encoded as {name} was not found"
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "page.html").write_text("<html><body><pre>" + base64.b64encode(b"nothing hidden here at all").decode() + "</pre></body></html>")
    assert feedback.check(clean) == []


def test_the_oracle_scores_what_its_mistakes_score(graded):
    """An oracle that runs every test cell it finds next to it scores exactly what the same honest mistakes
    score without it: the kernel finds only the submitted notebooks, whose tests are the visible parts."""
    got = {e.name: ATTACK_SCORES[e.name][e.notebook] for e in catalog.ORACLES}
    oracle, twin = got[attacks.ORACLE], got[attacks.ORACLE_TWIN]
    reference = graded[0]["mnist_vaes"]["reference"]["01_base_vae"]
    assert oracle == twin
    assert {gid for gid in reference if twin[gid] < reference[gid]} == set(catalog.ORACLES[0].loses)
    printed = _printed(nbformat.read(GRADED_CLASSES["mnist_vaes"]["out"] / "autograded" /
                                     _student_of(GRADED_CLASSES["mnist_vaes"], attacks.ORACLE) / "mnist_vaes" / "01_base_vae.ipynb",
                                     as_version=4), "_oracle(")
    assert "test cells found" in printed, "the oracle did not run"


@pytest.mark.parametrize("name", sorted(attacks.SHAPES))
def test_a_submission_that_is_not_regular_files_is_refused(graded, name):
    """A link (to the solutions, to a classmate), a FIFO, a device, a socket, a 60 MiB notebook or a folder
    named with markup: refused with the reason in the error column, scored 0, and the class is graded."""
    row = graded[1]["vae_by_hand"][name]
    assert attacks.SHAPES[name][1] in row["error"] and "refused" in row["error"], row
    assert row["score"] == 0


def test_nothing_the_kernels_wrote_stays_on_the_grader_disk(graded):
    """The attacks' files (FILL_PREFIX) are nowhere: not in the class folder, the submissions, the host's
    /tmp or the kernels' connection folders; no connection folder of a dead grader is left; and the
    connection folder took at most its tmpfs's files and bytes (a21, and a18 before its SIGKILL)."""
    from grading import sandbox

    info = GRADED_CLASSES["vae_by_hand"]
    base = sandbox.kernel_base()
    for root in (info["out"], info["subs"], base, "/tmp"):
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith(("pytest-of", "systemd"))] if root == "/tmp" else dirnames
            hits = [f for f in filenames + dirnames if f.startswith(attacks.FILL_PREFIX)]
            assert not hits, f"{dirpath}: {hits[:3]}"
    dead = [d for d in base.iterdir() if sandbox.KERNEL_DIR.match(d.name) and not sandbox._alive(int(d.name.split("-")[1]))]
    assert not dead, dead
    if os.getuid() == 0:
        report = _printed(_autograded(info, _student_of(info, "a21_fill_connection_folder"), "01_forward_pass_and_losses"),
                          "get_connection_file")
        first = report.splitlines()
        kernel_dir = [l for l in first if l.startswith(str(base)) and l.endswith("MB")]
        assert kernel_dir, report
        files, size = re.search(r" (\d+) files (\d+) MB$", kernel_dir[0]).groups()
        assert int(files) < sandbox.LIMITS["kernel_dir_files"] and int(size) <= 1, kernel_dir[0]


def test_memory_outside_the_address_space_is_refused(graded):
    """memfd_create, System V shared memory and message queues are refused; an 8 GiB shared mapping is
    past RLIMIT_AS (nothing was touched: the attack costs the machine nothing)."""
    info = GRADED_CLASSES["vae_by_hand"]
    printed = _printed(_autograded(info, _student_of(info, "a22_memory_outside_the_limit"), "01_forward_pass_and_losses"), "HELD")
    held = dict(re.findall(r"\('(\w+)', '([^']*)'\)", printed))
    assert held == {"memfd": "refused errno 1", "shmget": "refused errno 1", "msgget": "refused errno 1",
                    "mmap_shared_8GiB": "refused errno 12"}, printed


def test_a_fork_loop_stops_at_the_process_limit(graded):
    from grading.sandbox import LIMITS

    info = GRADED_CLASSES["vae_by_hand"]
    printed = _printed(_autograded(info, _student_of(info, "a12_fork_loop"), "01_forward_pass_and_losses"), "os.fork")
    assert "fork stopped after" in printed
    assert int(re.search(r"fork stopped after (\d+)", printed).group(1)) < LIMITS["processes"]


def test_every_submission_finishes_within_its_time_limit(graded):
    """Only the submission that sleeps past its limit is stopped; every other one (the attacks included)
    finishes within TIMEOUT."""
    for a, info in GRADED_CLASSES.items():
        slow = [r["student"] for r in info["table"] if "s limit" in r["error"]]
        assert slow == ([_student_of(info, attacks.SLEEP_EACH_CELL)] if a == "vae_by_hand" else []), slow
