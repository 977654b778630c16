"""make grade's class grader: incremental, never loses a hand grade, trusts no worker, says when unsandboxed.

Each class here has one notebook per student (vae_by_hand/02, which has a discussion graded by hand),
so every run stays short. The attacks on grading are in tests/attacks.py and test_grading_catalog.py.
"""

import csv
import shutil
import sqlite3

import pytest
from nbgrader.api import Gradebook

from grading import course_dir as ct
from grading import classroom
from grading import gradebook
from grading import sandbox as sb

A = "vae_by_hand"
NB = "02_latent_collapse_and_beta"


def submit(subs, student, source):
    folder = subs / student / A
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(source / A / f"{NB}.ipynb", folder / f"{NB}.ipynb")


def hand_cell_name(db) -> str:
    with Gradebook(f"sqlite:///{db}") as gb:
        names = [c.name for c in gb.find_notebook(NB, A).grade_cells if c.cell_type == "markdown"]
    assert names, "notebook 02 has a manually graded answer"
    return names[0]


def set_hand_grade(db, student, cell, score, comment):
    """What the formgrader does when the instructor types a score and a comment."""
    with Gradebook(f"sqlite:///{db}") as gb:
        g = gb.find_grade(cell, NB, A, student)
        g.manual_score = score
        c = gb.find_comment(cell, NB, A, student)
        c.manual_comment = comment
        gb.db.commit()


def hand_grade(db, student, cell):
    with Gradebook(f"sqlite:///{db}") as gb:
        return (gb.find_grade(cell, NB, A, student).manual_score,
                gb.find_comment(cell, NB, A, student).manual_comment)


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    """A term in five runs of the grader: first grading, nothing new, a late student, one re-grade, all."""
    subs = tmp_path_factory.mktemp("subs")
    out = tmp_path_factory.mktemp("grading") / A
    submit(subs, "alice", ct.SOLUTIONS)
    submit(subs, "bob", ct.NOTEBOOKS)
    runs = {"first": classroom.grade_class(A, subs, out, progress=False)}
    cell = hand_cell_name(out / "gradebook.db")
    set_hand_grade(out / "gradebook.db", "alice", cell, 2.0, "clear and complete")
    runs["nothing_new"] = classroom.grade_class(A, subs, out, progress=False)
    submit(subs, "carol", ct.SOLUTIONS)  # a late submission
    runs["late"] = classroom.grade_class(A, subs, out, progress=False)
    after_late = hand_grade(out / "gradebook.db", "alice", cell)
    runs["alice_again"] = classroom.grade_class(A, subs, out, progress=False, students=["alice"])
    after_alice = hand_grade(out / "gradebook.db", "alice", cell)
    runs["everyone"] = classroom.grade_class(A, subs, out, progress=False, regrade_all=True)
    return {"runs": {k: {r["student"]: r for r in v} for k, v in runs.items()}, "out": out, "cell": cell,
            "after_late": after_late, "after_alice": after_alice, "subs": subs}


def test_first_run_grades_everyone(term):
    first = term["runs"]["first"]
    assert set(first) == {"alice", "bob"} and all(r["graded_now"] == "yes" for r in first.values())
    assert first["alice"]["score"] > 0 and first["bob"]["score"] == 0
    assert first["alice"]["error"] == "" and first["bob"]["error"] == ""


def test_unchanged_submissions_are_not_graded_again(term):
    assert {s: r["graded_now"] for s, r in term["runs"]["nothing_new"].items()} == {"alice": "no", "bob": "no"}


def test_a_late_submission_is_graded_alone_and_keeps_the_others(term):
    late = term["runs"]["late"]
    assert {s: r["graded_now"] for s, r in late.items()} == {"alice": "no", "bob": "no", "carol": "yes"}
    assert late["carol"]["score"] == term["runs"]["first"]["alice"]["score"]
    assert late["alice"]["score"] == term["runs"]["first"]["alice"]["score"] + 2.0
    assert term["after_late"] == (2.0, "clear and complete")


def test_students_re_grades_only_them_and_keeps_their_hand_grade(term):
    run = term["runs"]["alice_again"]
    assert {s: r["graded_now"] for s, r in run.items()} == {"alice": "yes", "bob": "no", "carol": "no"}
    assert term["after_alice"] == (2.0, "clear and complete")
    assert "hand grade(s) kept" in run["alice"]["error"]


def test_regrade_all_keeps_every_hand_grade(term):
    run = term["runs"]["everyone"]
    assert all(r["graded_now"] == "yes" for r in run.values())
    assert hand_grade(term["out"] / "gradebook.db", "alice", term["cell"]) == (2.0, "clear and complete")
    assert run["alice"]["score"] == term["runs"]["first"]["alice"]["score"] + 2.0
    assert (term["out"] / "gradebook.db.bak").exists(), "the previous class gradebook is kept"


def test_the_csv_is_per_assignment(term, tmp_path, monkeypatch):
    monkeypatch.setattr(ct, "BUILD", tmp_path)
    table = list(term["runs"]["everyone"].values())
    classroom.write_csv(tmp_path / f"grades-{A}.csv", table)
    rows = list(csv.DictReader(open(tmp_path / f"grades-{A}.csv")))
    assert [r["student"] for r in rows] == ["alice", "bob", "carol"] and "error" in rows[0]


def _worker_db(tmp_path, template_db, student, sql=None):
    """A copy of a class gradebook holding only `student`, optionally tampered with by `sql`."""
    db = tmp_path / f"worker-{student}.db"
    shutil.copy(template_db, db)
    con = sqlite3.connect(db)
    if sql:
        con.executescript(sql)
    con.commit()
    con.close()
    return db


def test_the_merge_rejects_a_tampered_gradebook_and_copies_only_its_own_student(term, tmp_path):
    out = term["out"]
    trigger = ("CREATE TRIGGER rig AFTER UPDATE ON grade BEGIN UPDATE grade SET auto_score = 99; END;")
    tampered = _worker_db(tmp_path, out / "gradebook.db", "alice", trigger)
    errors = {}
    dest = tmp_path / "class.db"
    gradebook.build_class_gradebook(out / "template" / "gradebook.db", dest, None, {"alice": tampered}, [], errors)
    assert "rejected" in errors["alice"] and "trigger" in errors["alice"]
    con = sqlite3.connect(dest)
    assert con.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM student").fetchone() == (0,)
    con.close()
    # an untampered worker gradebook that also holds other students' rows: only its own student is copied
    honest = _worker_db(tmp_path, out / "gradebook.db", "bob")
    errors = {}
    gradebook.build_class_gradebook(out / "template" / "gradebook.db", dest, None, {"bob": honest}, [], errors)
    con = sqlite3.connect(dest)
    assert [r[0] for r in con.execute("SELECT id FROM student")] == ["bob"]
    con.close()


def test_without_a_sandbox_every_row_says_so(tmp_path):
    subs = tmp_path / "subs"
    submit(subs, "dana", ct.NOTEBOOKS)
    rows = classroom.grade_class(A, subs, tmp_path / "out", progress=False, sandbox="none")
    assert rows[0]["error"].startswith(classroom.NO_SANDBOX)


def test_where_bubblewrap_cannot_run_grading_stops_and_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(sb.shutil, "which", lambda name: None)
    sb.sandbox_problem.cache_clear()
    try:
        subs = tmp_path / "subs"
        submit(subs, "erin", ct.NOTEBOOKS)
        with pytest.raises(SystemExit) as info:
            classroom.grade_class(A, subs, tmp_path / "out", progress=False, sandbox="bwrap")
    finally:
        sb.sandbox_problem.cache_clear()
    message = str(info.value)
    assert "bwrap" in message and "apt-get install bubblewrap" in message and "SANDBOX=none" in message


def test_an_interrupted_run_keeps_what_it_graded_and_the_next_grades_only_the_rest(tmp_path):
    """Ctrl-C during make grade: the graders stop at once, every submission graded so far is kept, and running the
    same command again grades only the others."""
    import json
    import os
    import signal
    import subprocess
    import time

    subs = tmp_path / "subs"
    submit(subs, "frank", ct.NOTEBOOKS)
    submit(subs, "grace", ct.SOLUTIONS)
    out = tmp_path / "build" / "grading" / A
    proc = subprocess.Popen([str(ct.ROOT / ".venv" / "bin" / "python"), "scripts/grade.py", "--assignment", A,
                             "--submissions", str(subs), "--jobs", "1"], cwd=ct.ROOT, start_new_session=True,
                            env={**os.environ, "VAE_COURSE_BUILD": str(tmp_path / "build")},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 600
    while not (out / "workers" / "frank" / classroom.GRADED).exists():
        assert proc.poll() is None and time.monotonic() < deadline, "frank was never graded"
        time.sleep(0.2)
    import psutil

    def graders():
        return [p.info["cmdline"] for p in psutil.process_iter(["cmdline", "cwd"])
                if (p.info["cwd"] or "").startswith(str(out / "workers")) and "nbgrader" in (p.info["cmdline"] or [])]
    while not graders():  # grace's grader (one at a time)
        assert proc.poll() is None and time.monotonic() < deadline, "grace was never being graded"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted: the 1 submission(s) graded so far are kept" in output, output
    time.sleep(2)
    assert not graders(), "a grader outlived the interrupted run"
    assert not list((out / "workers" / "grace").glob("autograded/*/*/*.ipynb")), "grace's grader ran to its end"
    kept = json.loads((out / "workers" / "frank" / classroom.GRADED).read_text())

    rows = {r["student"]: r for r in classroom.grade_class(A, subs, out, progress=False)}
    state = json.loads((out / "state.json").read_text())["students"]
    assert state["frank"]["graded_at"] == kept["graded_at"], "frank was graded again"
    assert state["grace"]["graded_at"] >= kept["graded_at"]
    assert rows["frank"]["score"] == 0 and rows["grace"]["score"] > 0
    assert rows["frank"]["graded_now"] == rows["grace"]["graded_now"] == "yes"
