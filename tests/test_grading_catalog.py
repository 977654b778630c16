"""Grade the whole catalog as one class, with the real nbgrader pipeline, and check every score.

The expected per-question score of the reference, the untouched release and every catalog entry is
pinned in tests/golden_scores.json, together with a hash of every test cell: changing a test (its
code or points) fails here until the golden file is regenerated and reviewed:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_grading_catalog.py
"""

import hashlib
import json
import os
import socket
import sqlite3
import subprocess
import threading
from contextlib import contextmanager

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
    """Processes an attack started, or any process running as a sandbox uid."""
    ps = subprocess.run(["ps", "-eo", "uid=,pid=,args="], capture_output=True, text=True).stdout.splitlines()
    from grading.sandbox import UID_POOL

    return [line for line in ps if attacks.MARK in line or int(line.split()[0]) in UID_POOL]


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
        with bait(subs):
            table = classroom.grade_class(a, subs, out, extra=extra, progress=False, timeout=SUBMISSION_TIMEOUT[a])
        GRADED_CLASSES[a] = {"out": out, "subs": subs, "survivors": survivors(), "students": students}
        by_student = {r["student"]: r for r in table}
        cells = cell_scores(out / "gradebook.db", a)
        # report every entry under its own name, with only its own notebook
        rows[a] = {"reference": by_student["reference"], "untouched": by_student["untouched"]}
        scores[a] = {"reference": cells["reference"], "untouched": cells["untouched"]}
        for student, entries in students.items():
            for e in entries:
                rows[a][e.name] = by_student[student]
                got = {e.notebook: cells.get(student, {}).get(e.notebook, {})}
                # An attack's notebook may not be graded at all (it killed its kernel, or ran out of time):
                # its scores are checked to be 0, not pinned in the golden file.
                (ATTACK_SCORES if e.kind == "attack" else scores[a])[e.name] = got
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
def test_cheat_scores_what_its_honest_twin_scores(graded, entry):
    twin = next(e for e in catalog.ENTRIES if e.name == entry.twin)
    assert twin.kind == "mutant" and twin.notebook == entry.notebook
    assert entry_scores(graded, entry) == entry_scores(graded, twin)


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
