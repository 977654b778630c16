"""make grade SCHEDULER=...: a class graded on a real Dask cluster (tests/dask_cluster.py: a `dask scheduler` and
`dask worker` processes on 127.0.0.1 only, each worker in a folder of its own with the instructor's build folder
out of its reach) scores exactly as local grading does, with a worker killed while it grades and the instructor's
run interrupted; a forged result is refused; the attacks gain nothing.

"As local grading" is tests/golden_scores.json: the per-question scores that test_grading_catalog.py checks local
grading against.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

import attacks
import catalog
from dask_cluster import LOOPBACK, LocalDaskCluster
from grading import classroom
from grading import cluster as dask_grading
from grading import course_dir as ct
from grading.gradebook import cell_scores
from test_grading_catalog import GOLDEN, SECRETS, SUBMISSION_TIMEOUT, TIMEOUTS, bait, survivors

A = "vae_by_hand"
NB2 = "02_latent_collapse_and_beta"
CANARY = "instructor-canary.txt"
FAULTS = Path(__file__).with_name("dask_worker_faults.py")
GOLDEN_SCORES = catalog.load_golden(GOLDEN).get("scores", {}).get(A, {})


def class_of_ten(subs: Path) -> dict[str, catalog.Entry | None]:
    """reference, untouched, the catalog's first valid alternative and seven wrong answers from all four notebooks,
    each a student of its own; {student: catalog entry (None for reference and untouched)}."""
    catalog.reference_and_untouched(subs, A)
    mutants = [e for e in catalog.ENTRIES if e.kind == "mutant" and e.assignment == A]
    by_notebook = {}
    for e in mutants:
        by_notebook.setdefault(e.notebook, []).append(e)
    chosen = [next(e for e in catalog.ENTRIES if e.kind == "alternative" and e.assignment == A)]
    while len(chosen) < 8:  # round robin over the notebooks
        for entries in by_notebook.values():
            if entries and len(chosen) < 8:
                chosen.append(entries.pop(0))
    for e in chosen:
        catalog.build(e, subs, e.name)
    return {"reference": None, "untouched": None, **{e.name: e for e in chosen}}


def expected_scores(students: dict) -> dict:
    """{student: {notebook: {grade_id: score}}} as local grading gives (tests/golden_scores.json)."""
    return {s: GOLDEN_SCORES[s] if e is None else {e.notebook: GOLDEN_SCORES[e.name][e.notebook]}
            for s, e in students.items()}


def graded_scores(db: Path, students: dict) -> dict:
    cells = cell_scores(db, A)
    return {s: cells.get(s, {}) if e is None else {e.notebook: cells.get(s, {}).get(e.notebook)}
            for s, e in students.items()}


class MakeGrade:
    """`make grade ... SCHEDULER=...` in its own process group, its output collected as it comes."""

    def __init__(self, subs: Path, build: Path, scheduler: str, *variables: str):
        env = {**os.environ, "VAE_COURSE_BUILD": str(build)}
        self.proc = subprocess.Popen(["make", "grade", f"ASSIGNMENT={A}", f"SUBMISSIONS={subs}", f"SCHEDULER={scheduler}",
                                      *variables], cwd=ct.ROOT, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(iter(self.proc.stdout.readline, "")), daemon=True)
        self.reader.start()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        self.reader.join(10)
        return code

    def interrupt(self) -> None:
        os.killpg(self.proc.pid, signal.SIGINT)


def wait_for(condition, timeout: float, what: str, poll: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def kept_results(out: Path) -> dict[str, dict]:
    """The results a run has kept so far: {student: graded.json}."""
    return {p.parent.name: json.loads(p.read_text()) for p in (out / "workers").glob(f"*/{classroom.GRADED}")}


def grading_processes(folder: Path) -> list:
    """nbgrader autograde processes running in `folder` (a worker's directory)."""
    import psutil

    found = []
    for p in psutil.process_iter(["cmdline", "cwd", "create_time"]):
        cmd, cwd = p.info["cmdline"] or [], p.info["cwd"] or ""
        if "nbgrader" in cmd and "autograde" in cmd and cwd.startswith(str(folder)):
            found.append(p)
    return found


def submissions_in(db: Path) -> list[str]:
    con = sqlite3.connect(db)
    try:
        return sorted(r[0] for r in con.execute("SELECT student_id FROM submitted_assignment"))
    finally:
        con.close()


def start_cluster(tmp: Path, build: Path, names=("w1", "w2"), env=None, preload=None, worker_env=None) -> LocalDaskCluster:
    (build / CANARY).write_text("the instructor's build folder")
    c = LocalDaskCluster(tmp / "cluster", hide=build, env=env)
    for name in names:
        c.add_worker(name, preload=preload, env=(worker_env or {}).get(name))
    c.wait_for_workers(len(names))
    return c


def test_a_class_on_dask_scores_as_local_grading_through_an_interruption_and_a_killed_worker(tmp_path):
    subs = tmp_path / "class"
    students = class_of_ten(subs)
    assert len(students) == 10 and set(expected_scores(students)) == set(students)
    build = tmp_path / "instructor-build"
    build.mkdir()
    out = build / "grading" / A
    with start_cluster(tmp_path, build) as c:
        # The scheduler and the workers listen on the loopback interface only.
        listening = [(p.pid, conn.laddr) for p in c.processes() for conn in p.net_connections("inet")
                     if conn.status == "LISTEN"]
        assert listening and all(addr.ip == LOOPBACK for _, addr in listening), listening
        # Each worker runs in its own folder and cannot see the instructor's build folder.
        assert sorted(c.client.run(os.getcwd).values()) == sorted(str(w.folder) for w in c.workers.values())
        assert (build / CANARY).exists() and set(c.client.run(os.path.exists, str(build / CANARY)).values()) == {False}
        assert list(c.client.run(os.listdir, str(build)).values()) == [[], []]
        addresses = {name: c.address_of(name) for name in c.workers}

        # First run: interrupted (Ctrl-C) once three submissions are graded.
        first = MakeGrade(subs, build, c.address, "TIMEOUT=300")
        wait_for(lambda: len(kept_results(out)) >= 3, 900, "three graded submissions")
        first.interrupt()
        assert first.wait(120) != 0
        assert "interrupted: the" in first.output and "run the same command again" in first.output, first.output[-2000:]
        kept = {s: mark["graded_at"] for s, mark in kept_results(out).items()}
        assert len(kept) >= 3

        # Second run: resumes, and loses worker w1 while it grades a submission of this run.
        started = time.time()
        second = MakeGrade(subs, build, c.address, "TIMEOUT=300")
        victim = wait_for(lambda: [p for p in grading_processes(c.workers["w1"].folder)
                                   if p.info["create_time"] > started and time.time() - p.info["create_time"] > 3],
                          600, "w1 grading a submission of the second run")[0]
        victim_student = victim.info["cmdline"][victim.info["cmdline"].index("--student") + 1]
        c.kill("w1")
        wait_for(lambda: not grading_processes(c.workers["w1"].folder), 30,
                 "the killed worker's nbgrader to die with it")
        assert second.wait(1200) == 0, second.output[-3000:]
    assert f"resuming an interrupted run: {len(kept)} submission(s)" in second.output, second.output

    # Every student graded once: the kept ones in the first run, the others in the second, the victim on w2.
    state = json.loads((out / "state.json").read_text())["students"]
    assert sorted(state) == sorted(students)
    assert all(state[s]["graded_at"] == kept[s] for s in kept)
    assert state[victim_student]["graded_by"] == addresses["w2"], (victim_student, state[victim_student])
    assert submissions_in(out / "gradebook.db") == sorted(students)
    rows = {r["student"]: r for r in csv.DictReader(open(build / f"grades-{A}.csv"))}
    assert sorted(rows) == sorted(students) and all(r["error"] == "" for r in rows.values()), rows
    # ... with exactly the scores of local grading.
    assert graded_scores(out / "gradebook.db", students) == expected_scores(students)
    assert not (out / "workers").exists()


def test_a_forged_result_is_refused_and_the_student_graded_again_elsewhere(tmp_path):
    """w1 forges: its second result is its first student's grade relabelled for another student. The result is
    refused, w1 gets no other student, and w2 grades that student again. A student whose grading fails on every
    worker (a full disk, on both) gets the error column and no grade; the next run tries again."""
    subs = tmp_path / "class"
    catalog.reference_and_untouched(subs, A)
    mutants = [e for e in catalog.ENTRIES if e.kind == "mutant" and e.assignment == A and e.notebook == NB2][:2]
    for e in mutants:
        catalog.build(e, subs, e.name)
    (subs / "reference").rename(subs / "zz-doomed")  # the reference's notebooks, graded by nobody
    students = {"untouched": None, **{e.name: e for e in mutants}}
    build = tmp_path / "instructor-build"
    build.mkdir()
    out = build / "grading" / A
    env = {**os.environ, "VAE_TEST_DOOMED": "zz-doomed"}
    with start_cluster(tmp_path, build, names=("w1",), env=env, preload=FAULTS,
                       worker_env={"w1": {"VAE_TEST_FORGE": "1"}}) as c:
        forger = c.address_of("w1")
        run = MakeGrade(subs, build, c.address, "TIMEOUT=300")
        wait_for(lambda: f"the Dask worker {forger} gets no more students" in run.output, 900, "w1's forged result")
        c.add_worker("w2", preload=FAULTS)  # honest, and doomed like w1
        c.wait_for_workers(2)
        honest = c.address_of("w2")
        assert run.wait(1200) == 0, run.output[-3000:]
    refusal = next(line for line in run.lines if f"the Dask worker {forger} gets no more students" in line)
    assert "was refused: its gradebook holds rows of other students" in refusal, refusal
    forged = refusal.split("its result for ")[1].split(" was refused")[0]
    state = json.loads((out / "state.json").read_text())["students"]
    assert state[forged]["graded_by"] == honest
    assert sorted(state) == sorted(students), "zz-doomed was graded on no try: the next run grades it"
    assert submissions_in(out / "gradebook.db") == sorted(students)
    assert graded_scores(out / "gradebook.db", students) == expected_scores(students)
    rows = {r["student"]: r for r in csv.DictReader(open(build / f"grades-{A}.csv"))}
    assert rows["zz-doomed"]["score"] == "0" and rows["zz-doomed"]["graded_now"] == "no"
    assert rows["zz-doomed"]["error"].startswith("not graded: grading failed on every one of 3 tries")
    assert "No space left on device" in rows["zz-doomed"]["error"]
    assert all(rows[s]["error"] == "" for s in students)


def test_the_attacks_graded_on_dask_gain_nothing(tmp_path):
    """The attack class of test_grading_catalog.py (tests/attacks.py), with its time limits, graded on two Dask
    workers that hold the grader's secret in their environment: every attack scores 0, the reference and the untouched release score as
    locally, nothing outlives grading, no secret and no hidden test reaches an output."""
    subs = tmp_path / "class"
    subs.mkdir()
    catalog.reference_and_untouched(subs, A)
    for e in catalog.ATTACKS:
        catalog.build(e, subs, e.name)
    build = tmp_path / "instructor-build"
    build.mkdir()
    out = build / "grading" / A
    with bait(subs):  # the canary in this process's environment, which the workers inherit
        with start_cluster(tmp_path, build) as c:
            table = classroom.grade_class(A, subs, out, extra=[f"--Execute.timeout={TIMEOUTS[A]}"], progress=False,
                                          timeout=SUBMISSION_TIMEOUT[A], scheduler=c.address)
            left = survivors()
    rows = {r["student"]: r for r in table}
    cells = cell_scores(out / "gradebook.db", A)
    assert cells["reference"] == GOLDEN_SCORES["reference"] and cells["untouched"] == GOLDEN_SCORES["untouched"]
    for e in catalog.ATTACKS:
        assert rows[e.name]["score"] == 0 and sum(cells.get(e.name, {}).get(e.notebook, {}).values()) == 0, e.name
    assert rows["reference"]["error"] == rows["untouched"]["error"] == ""
    assert f"{SUBMISSION_TIMEOUT[A]:g} s limit" in rows[attacks.SLEEP_EACH_CELL]["error"]
    assert left == []
    con = sqlite3.connect(out / "gradebook.db")
    assert {t for (t,) in con.execute("SELECT type FROM sqlite_master")} <= {"table", "index"}
    con.close()
    text = "".join(p.read_text(errors="replace") for p in (out / "autograded").rglob("*.ipynb"))
    assert text and all(secret not in text for secret in SECRETS.values())
    for path in out.rglob("*"):
        assert not path.is_file() or path.stat().st_size < 20 << 20, path


def test_an_unreachable_scheduler_is_named_with_the_fix(tmp_path):
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    subs = tmp_path / "class"
    catalog.reference_and_untouched(subs, A)
    run = MakeGrade(subs, tmp_path / "build", f"tcp://{LOOPBACK}:{port}")
    assert run.wait(300) != 0
    assert f"the Dask scheduler at SCHEDULER=tcp://{LOOPBACK}:{port} cannot be reached" in run.output, run.output[-2000:]
    assert "dask scheduler" in run.output and "without SCHEDULER" in run.output
    assert not (tmp_path / "build" / f"grades-{A}.csv").exists()


# ---- the trusted merge's checks, on one honest result and its forgeries ------------------------------------------

@pytest.fixture(scope="module")
def honest(tmp_path_factory):
    """(template gradebook, task as sent, the result grade_remote returns) for the untouched 02 of student dana."""
    tmp = tmp_path_factory.mktemp("honest")
    template = classroom.make_template(tmp / "template", A)
    files = {f"{NB2}.ipynb": (ct.NOTEBOOKS / A / f"{NB2}.ipynb").read_bytes()}
    sent = {"student": "dana", "assignment": A, "files": files, "digest": classroom.files_digest(files)}
    r = classroom.grade_one(template, tmp / "work", "dana", A, (files, []), [], 300)
    result = {"student": "dana", "assignment": A, "digest": sent["digest"], "error": r["error"],
              **dask_grading.pack_result(tmp / "work", "dana", A)}
    return template / "gradebook.db", sent, result


def _sql(result: dict, tmp: Path, sql: str) -> dict:
    db = tmp / "forged.db"
    db.write_bytes(result["gradebook"])
    con = sqlite3.connect(db)
    con.executescript(sql)
    con.commit()
    con.close()
    return {**result, "gradebook": db.read_bytes()}


FORGERIES = {
    "another_student": (lambda r, t: {**r, "student": "erin"}, "it is the result of 'erin', not of 'dana'"),
    "another_digest": (lambda r, t: {**r, "digest": "0" * 64}, "another submission than the one sent"),
    "changed_submission": (lambda r, t: {**r, "submitted": {f"{NB2}.ipynb": (ct.SOLUTIONS / A / f"{NB2}.ipynb").read_bytes()}},
                           "the submission it graded is not the one sent"),
    "another_students_rows": (lambda r, t: _sql(r, t, "UPDATE student SET id = 'erin'; "
                                                      "UPDATE submitted_assignment SET student_id = 'erin';"),
                              "its gradebook holds rows of other students: ['erin']"),
    "a_trigger": (lambda r, t: _sql(r, t, "CREATE TRIGGER rig AFTER UPDATE ON grade BEGIN UPDATE grade SET auto_score = 99; END;"),
                  "objects the template lacks or defines otherwise: ['rig']"),
    "score_above_the_points": (lambda r, t: _sql(r, t, "UPDATE grade SET auto_score = 1000 WHERE auto_score IS NOT NULL;"),
                               "outside 0 and the cell's points"),
    "a_grade_of_no_cell": (lambda r, t: _sql(r, t, "UPDATE grade SET cell_id = 'nowhere' WHERE rowid = 1;"),
                           "grade row(s) of its gradebook point at nothing"),
    "an_autograded_notebook_not_sent": (lambda r, t: {**r, "autograded": {**r["autograded"], "01_forward_pass_and_losses.ipynb": b"{}"}},
                                        "autograded files that were not sent"),
    "not_a_result": (lambda r, t: ["dana", 43.0], "it is a list, not a grading result"),
}


def test_the_honest_result_is_accepted(honest, tmp_path):
    template_db, sent, result = honest
    assert result["error"] == "" and set(result["autograded"]) == {f"{NB2}.ipynb"}
    assert dask_grading.check_result(sent, result, template_db, tmp_path / "check.db") is None


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_forged_result_is_refused_with_the_reason(honest, tmp_path, forgery):
    template_db, sent, result = honest
    forge, reason = FORGERIES[forgery]
    refused = dask_grading.check_result(sent, forge(result, tmp_path), template_db, tmp_path / "check.db")
    assert refused is not None and reason in refused, refused


def test_a_worker_folder_others_can_read_or_made_first_is_never_used(tmp_path, monkeypatch):
    """The worker's vae-grading/ holds the template (solutions, hidden fixtures): one that is not the worker's own
    with mode 0700 (another account made it first, or it is readable by all) is refused before anything is written."""
    import types

    import distributed

    from grading import classroom, cluster

    monkeypatch.setattr(distributed, "get_worker", lambda: types.SimpleNamespace(local_directory=str(tmp_path)))
    (tmp_path / "vae-grading").mkdir(mode=0o755)
    (tmp_path / "vae-grading").chmod(0o755)
    task = {"student": "s", "assignment": "vae_by_hand", "digest": "d", "grader": classroom.grader_digest(),
            "sandbox": "none", "template": {"source/x.txt": b"secret"}, "template_digest": "0" * 64}
    reply = cluster.grade_remote(task)
    assert "mode 0700" in reply["unfit"] and "failed" not in reply, reply
    assert list((tmp_path / "vae-grading").iterdir()) == [], "nothing of the template was written"
