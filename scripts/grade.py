"""make grade: autograde a class in parallel, incrementally, each student kernel in a sandbox.

    make grade ASSIGNMENT=vae_by_hand SUBMISSIONS=path/to/submissions            # new or changed only
    make grade ASSIGNMENT=vae_by_hand SUBMISSIONS=... STUDENTS=alice,bob         # these again
    make grade ASSIGNMENT=vae_by_hand SUBMISSIONS=... REGRADE=all                # everyone again

SUBMISSIONS holds <student>/<assignment>/*.ipynb. The class gradebook lives in
build/grading/<assignment>/ (gradebook.db, autograded/, submitted/), ready for the formgrader and
`nbgrader generate_feedback`; the scores go to build/grades-<assignment>.csv (and build/grades.csv,
a copy of the last run's table).

- Incremental: a submission is graded again only when its files changed, when it is named in
  STUDENTS, with REGRADE=all, or when the assignment's source (solutions/<assignment>/) changed since
  the last run (a fixed test): then everyone is graded again. Hand grades, extra credit, hand comments
  and flags are carried over to the new autograde, so a re-grade never loses them; the previous class
  gradebook is kept as gradebook.db.bak.
- Safe: every submission is graded by its own nbgrader process in its own scratch course (one
  gradebook per worker: no SQLite locks), and every kernel runs in a bubblewrap sandbox that sees a
  copy of that student's notebooks and nothing else (grading/sandbox.py). The template course, its
  configuration and every gradebook are made and read by the grader only. The merge trusts nothing a
  worker wrote: it starts from a clean copy of the template gradebook, copies only the rows of the
  worker's own student, and rejects a gradebook with triggers, views or tables the template lacks.
- Bounded: a submission gets TIMEOUT seconds of wall clock (default 600); past that its grader is
  stopped, it keeps the notebooks graded so far, and the `error` column says why.
- A corrupted notebook costs only that notebook: it is reported in the `error` column and scored 0.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import coursetools as ct

# Per-student tables, and how a row finds its student: (table, column, parent table) chains.
PER_STUDENT = (
    ("student", "id", None),
    ("submitted_assignment", "student_id", "student"),
    ("submitted_notebook", "assignment_id", "submitted_assignment"),
    ("grade", "notebook_id", "submitted_notebook"),
    ("comment", "notebook_id", "submitted_notebook"),
)
# What a human decides in the formgrader; carried over when a student is graded again.
HAND_FIELDS = {"grade": ("manual_score", "extra_credit"), "comment": ("manual_comment",),
               "submitted_notebook": ("flagged",), "submitted_assignment": ("extension",)}
NO_SANDBOX = "graded without a sandbox (SANDBOX=none)"
DEFAULT_TIMEOUT = 600


def find_submissions(submissions: Path, assignment: str) -> dict[str, Path]:
    """{student: folder} for every <student>/<assignment>/ under submissions."""
    if not submissions.is_dir():
        raise SystemExit(f"SUBMISSIONS={submissions} is not a folder: point it at <dir> holding <student>/{assignment}/*.ipynb")
    found = {p.name: p / assignment for p in sorted(submissions.iterdir()) if (p / assignment).is_dir()}
    if not found:
        raise SystemExit(f"no submissions found: expected {submissions}/<student>/{assignment}/*.ipynb")
    return found


def check_notebook(path: Path) -> str | None:
    """None if path is a readable notebook, else a message for the instructor."""
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # invalid JSON, wrong schema, binary garbage ...
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        return f"{path.name} is not a valid notebook ({first}); it scores 0: ask the student to re-submit it"
    return None


def folder_digest(folder: Path, pattern: str = "*") -> str:
    """sha256 of the names and bytes of the files in folder (recursively)."""
    h = hashlib.sha256()
    for p in sorted(q for q in folder.rglob(pattern) if q.is_file() and ".ipynb_checkpoints" not in q.parts):
        h.update(str(p.relative_to(folder)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def source_digest(assignment: str) -> str:
    """What the template depends on: the assignment's source notebooks and the nbgrader configuration."""
    return hashlib.sha256((folder_digest(ct.SOLUTIONS / assignment) + (ct.ROOT / "nbgrader_config.py").read_text())
                          .encode()).hexdigest()


def make_template(root: Path, assignment: str) -> Path:
    """A course folder with the assignment generated into its gradebook, copied for every worker."""
    ct.scratch_course(root, [assignment])
    ct.generate(root, assignment)
    return root


def _kill_group(proc: subprocess.Popen):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def grade_one(template: Path, work: Path, student: str, assignment: str, folder: Path, extra: list[str],
              timeout: float, sandbox: str = "bwrap") -> dict:
    """Autograde one submission in its own copy of the template; return its scores and any error."""
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(template, work)
    dest = work / "submitted" / student / assignment
    dest.mkdir(parents=True)
    errors = []
    for nb in sorted(folder.glob("*.ipynb")):
        problem = check_notebook(nb)
        if problem:
            errors.append(problem)
        else:
            shutil.copy(nb, dest / nb.name)
    if (folder / "timestamp.txt").is_file():
        shutil.copy(folder / "timestamp.txt", dest / "timestamp.txt")
    if not any(dest.glob("*.ipynb")):
        errors.append("no gradable notebook in the submission")
    env = ct.nbgrader_env()
    env.update(PYTHONUNBUFFERED="1", VAE_SANDBOX=sandbox)
    # Its own process group, so that the whole grader (and every kernel it started) can be stopped at once.
    proc = subprocess.Popen(ct.NBGRADER + ["autograde", assignment, "--student", student, "--force", *extra],
                            cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, _ = proc.communicate()
        errors.append(f"stopped after the {timeout:g} s limit for one submission; notebooks graded before "
                      "then keep their scores, the rest score 0")
    else:
        if proc.returncode != 0:
            last = [line for line in out.splitlines() if "ERROR" in line or "SandboxUnavailable" in line]
            errors.append("autograde reported an error: " + (last[-1][:300] if last else f"exit {proc.returncode}"))
    finally:
        _kill_group(proc)
    (work / "autograde.log").write_text(out or "")
    return {"student": student, "work": work, "error": "; ".join(errors)}


class UntrustedGradebook(Exception):
    """A gradebook whose schema differs from the template's (a trigger, a view, an extra table...)."""


def _schema(con: sqlite3.Connection, db: str = "main") -> set[tuple[str, str]]:
    return {(t, n) for t, n in con.execute(f"SELECT type, name FROM {db}.sqlite_master WHERE name NOT LIKE 'sqlite_%'")}


def _student_ids(con: sqlite3.Connection, db: str, student: str) -> dict[str, list[str]]:
    """{table: [row ids]} of one student's rows in database db, following PER_STUDENT's chains."""
    ids: dict[str, list[str]] = {}
    for table, column, parent in PER_STUDENT:
        keys = [student] if parent is None else ids[parent]
        marks = ",".join("?" * len(keys)) or "NULL"
        ids[table] = [r[0] for r in con.execute(f"SELECT id FROM {db}.{table} WHERE {column} IN ({marks})", keys)]
    return ids


def copy_student(con: sqlite3.Connection, source: str, student: str, expected: set) -> None:
    """Copy one student's rows from attached database `source` into main, after checking its schema."""
    extra = _schema(con, source) - expected
    if extra:
        raise UntrustedGradebook(f"unexpected objects {sorted(extra)[:4]}")
    ids = _student_ids(con, source, student)
    for table, _, _ in PER_STUDENT:
        if ids[table]:
            marks = ",".join("?" * len(ids[table]))
            con.execute(f"INSERT OR REPLACE INTO main.{table} SELECT * FROM {source}.{table} WHERE id IN ({marks})",
                        ids[table])


def _hand_keys(con: sqlite3.Connection, db: str, student: str) -> dict:
    """{(table, notebook, cell): {field: value}} of one student's hand-entered values in database db."""
    out = {}
    rows = con.execute(
        f"SELECT sn.id, nb.name, sn.flagged, sa.extension FROM {db}.submitted_notebook sn "
        f"JOIN {db}.submitted_assignment sa ON sn.assignment_id = sa.id JOIN {db}.notebook nb ON sn.notebook_id = nb.id "
        "WHERE sa.student_id = ?", (student,)).fetchall()
    for sn_id, nb_name, flagged, extension in rows:
        out[("submitted_notebook", nb_name, None)] = {"flagged": flagged}
        out[("submitted_assignment", None, None)] = {"extension": extension}
        for table, cell_table in (("grade", "base_cell"), ("comment", "base_cell")):
            fields = HAND_FIELDS[table]
            for row in con.execute(f"SELECT c.name, {', '.join('t.' + f for f in fields)} FROM {db}.{table} t "
                                   f"JOIN {db}.{cell_table} c ON t.cell_id = c.id WHERE t.notebook_id = ?", (sn_id,)):
                out[(table, nb_name, row[0])] = dict(zip(fields, row[1:]))
    return out


def carry_hand_grades(con: sqlite3.Connection, previous: str, student: str) -> int:
    """Write the hand grades the student had in database `previous` onto their new rows in main."""
    carried = 0
    new = {k: None for k in _hand_keys(con, "main", student)}
    for (table, nb_name, cell), values in _hand_keys(con, previous, student).items():
        if (table, nb_name, cell) not in new or all(v is None for v in values.values()):
            continue
        sets = ", ".join(f"{f} = ?" for f in values)
        if table == "submitted_assignment":
            con.execute(f"UPDATE main.submitted_assignment SET {sets} WHERE student_id = ?", (*values.values(), student))
        elif table == "submitted_notebook":
            con.execute(f"UPDATE main.submitted_notebook SET {sets} WHERE id IN (SELECT sn.id FROM main.submitted_notebook sn "
                        "JOIN main.submitted_assignment sa ON sn.assignment_id = sa.id JOIN main.notebook nb "
                        "ON sn.notebook_id = nb.id WHERE sa.student_id = ? AND nb.name = ?)",
                        (*values.values(), student, nb_name))
        else:
            cell_table = "base_cell"
            con.execute(f"UPDATE main.{table} SET {sets} WHERE id IN (SELECT t.id FROM main.{table} t "
                        "JOIN main.submitted_notebook sn ON t.notebook_id = sn.id JOIN main.submitted_assignment sa "
                        f"ON sn.assignment_id = sa.id JOIN main.notebook nb ON sn.notebook_id = nb.id "
                        f"JOIN main.{cell_table} c ON t.cell_id = c.id "
                        "WHERE sa.student_id = ? AND nb.name = ? AND c.name = ?)",
                        (*values.values(), student, nb_name, cell))
            carried += table == "grade" and values.get("manual_score") is not None
    return carried


def build_class_gradebook(template_db: Path, dest: Path, previous: Path | None, fresh: dict[str, Path],
                          carried: list[str], errors: dict[str, str]) -> None:
    """dest = template + fresh students' rows (from their workers) + carried students' rows (from previous)."""
    tmp = dest.with_suffix(".db.new")
    shutil.copy(template_db, tmp)
    con = sqlite3.connect(tmp)
    try:
        expected = _schema(con)
        if previous is not None and previous.exists():
            con.execute("ATTACH DATABASE ? AS prev", (str(previous),))
            bad = _schema(con, "prev") - expected
            if bad:  # the formgrader's own gradebook never has these: something tampered with it
                raise UntrustedGradebook(f"{previous} has unexpected objects {sorted(bad)[:4]}: not merged; "
                                         "restore it from gradebook.db.bak")
        for student in carried:
            copy_student(con, "prev", student, expected)
        for student, worker_db in sorted(fresh.items()):
            con.execute("ATTACH DATABASE ? AS w", (str(worker_db),))
            try:
                copy_student(con, "w", student, expected)
                if previous is not None and previous.exists():
                    n = carry_hand_grades(con, "prev", student)
                    if n:
                        errors[student] = "; ".join(filter(None, [errors.get(student), f"{n} hand grade(s) kept from before"]))
            except UntrustedGradebook as exc:
                errors[student] = "; ".join(filter(None, [errors.get(student), f"worker gradebook rejected ({exc}): not graded"]))
            con.commit()
            con.execute("DETACH DATABASE w")
        con.commit()
    finally:
        con.close()
    if dest.exists():
        shutil.copy(dest, dest.with_suffix(".db.bak"))
    os.replace(tmp, dest)


def _load_state(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def grade_class(assignment: str, submissions: Path, out_root: Path, jobs: int | None = None,
                extra: list[str] | None = None, progress: bool = True, students: list[str] | None = None,
                regrade_all: bool = False, timeout: float = DEFAULT_TIMEOUT, sandbox: str | None = None) -> list[dict]:
    """Grade what needs grading, in parallel; merge into out_root/gradebook.db; return one row per student."""
    from tqdm.auto import tqdm

    from grading import sandbox as sb

    mode = sandbox or sb.sandbox_mode()
    if mode not in ("bwrap", "none"):
        raise SystemExit(f"SANDBOX={mode!r} is not understood: use SANDBOX=bwrap (the default) or SANDBOX=none")
    if mode == "bwrap" and sb.sandbox_problem():
        raise SystemExit(sb.sandbox_problem())

    found = find_submissions(Path(submissions), assignment)
    unknown = sorted(set(students or []) - set(found))
    if unknown:
        raise SystemExit(f"STUDENTS names {unknown}, who have no {assignment} folder in {submissions}")
    out_root.mkdir(parents=True, exist_ok=True)
    state_file = out_root / "state.json"
    state = _load_state(state_file)
    source = source_digest(assignment)
    template = out_root / "template"
    if state.get("source") != source or not (template / "gradebook.db").exists():
        if state.get("source"):
            print(f"the source of {assignment} changed since the last run: grading everyone again "
                  "(hand grades are kept)", flush=True)
            regrade_all = True
        make_template(template, assignment)
        state = {"source": source, "students": state.get("students", {}) if state.get("source") else {}}
    known = state.get("students", {})
    digests = {s: folder_digest(f) for s, f in found.items()}
    todo = sorted(s for s in found if regrade_all or s in (students or []) or known.get(s, {}).get("digest") != digests[s])

    jobs = jobs or int(os.environ.get("JOBS", "0") or 0) or os.cpu_count() or 1
    results = []
    workers = out_root / "workers"
    if todo:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(grade_one, template, workers / s, s, assignment, found[s], extra or [], timeout, mode)
                       for s in todo]
            for fut in tqdm(as_completed(futures), total=len(futures), desc=f"grading {assignment}",
                            unit="submission", disable=not progress):
                results.append(fut.result())

    errors = {s: known[s].get("error", "") for s in known}
    errors.update({r["student"]: r["error"] for r in results})
    if mode == "none":
        for r in results:
            errors[r["student"]] = "; ".join(filter(None, [NO_SANDBOX, errors[r["student"]]]))
    main_db = out_root / "gradebook.db"
    carried = sorted(s for s in known if s not in todo and main_db.exists())
    fresh = {r["student"]: r["work"] / "gradebook.db" for r in results}
    build_class_gradebook(template / "gradebook.db", main_db, main_db if main_db.exists() else None,
                          fresh, carried, errors)

    # The formgrader and generate_feedback read these from the class folder.
    shutil.copy(template / "nbgrader_config.py", out_root / "nbgrader_config.py")
    for name in ("solutions", "notebooks"):
        shutil.rmtree(out_root / name, ignore_errors=True)
        shutil.copytree(template / name, out_root / name)
    (out_root / "logs").mkdir(exist_ok=True)
    for r in results:
        if (r["work"] / "autograde.log").exists():  # nbgrader's own log of this submission, for the instructor
            shutil.copy(r["work"] / "autograde.log", out_root / "logs" / f"{r['student']}.log")
        for kind in ("autograded", "submitted"):
            src, dst = r["work"] / kind / r["student"], out_root / kind / r["student"]
            shutil.rmtree(dst, ignore_errors=True)
            if src.exists():
                shutil.copytree(src, dst)
        known[r["student"]] = {"digest": digests[r["student"]], "error": errors[r["student"]],
                               "graded_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    shutil.rmtree(workers, ignore_errors=True)
    state["students"] = known
    state_file.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")
    return rows(main_db, assignment, {s: errors.get(s, "") for s in sorted(set(known) | set(found))},
                graded_now=set(todo))


def rows(db: Path, assignment: str, errors: dict[str, str], graded_now: set | None = None) -> list[dict]:
    """One CSV row per student: total score, max score, one column per notebook, error."""
    from nbgrader.api import Gradebook

    out = []
    with Gradebook(f"sqlite:///{db}") as gb:
        notebooks = [nb.name for nb in gb.find_assignment(assignment).notebooks]
        max_score = gb.find_assignment(assignment).max_score
        for student in sorted(errors):
            row = {"student": student, "score": 0.0, "max_score": max_score}
            row.update({nb: 0.0 for nb in notebooks})
            try:
                sub = gb.find_submission(assignment, student)
                row["score"] = sub.score
                for nb in sub.notebooks:
                    row[nb.name] = nb.score
            except Exception:
                errors[student] = errors[student] or "not graded"
            row["graded_now"] = "yes" if graded_now is None or student in graded_now else "no"
            row["error"] = errors[student]
            out.append(row)
    return out


def cell_scores(db: Path, assignment: str) -> dict:
    """{student: {notebook: {grade_id: score}}} from a gradebook (manual cells count their auto score)."""
    from nbgrader.api import Gradebook

    out: dict = {}
    with Gradebook(f"sqlite:///{db}") as gb:
        for sub in gb.assignment_submissions(assignment):
            per_nb = out.setdefault(sub.student_id, {})
            for nb in sub.notebooks:
                per_nb[nb.name] = {g.name: float(g.score or 0.0) for g in nb.grades}
    return out


def write_csv(path: Path, table: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]))
        writer.writeheader()
        for row in table:
            writer.writerow({k: (f"{v:g}" if isinstance(v, float) else v) for k, v in row.items()})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assignment", default=os.environ.get("ASSIGNMENT"))
    parser.add_argument("--submissions", default=os.environ.get("SUBMISSIONS"))
    parser.add_argument("--students", default=os.environ.get("STUDENTS", ""),
                        help="comma-separated students to grade again even if unchanged")
    parser.add_argument("--regrade", default=os.environ.get("REGRADE", ""), choices=["", "all"],
                        help="'all': grade every submission again (hand grades are kept)")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("JOBS", "0") or 0) or None,
                        help="parallel workers (default: every core)")
    parser.add_argument("--timeout", type=float, default=float(os.environ.get("TIMEOUT") or DEFAULT_TIMEOUT),
                        help=f"wall-clock seconds for one submission (default {DEFAULT_TIMEOUT})")
    parser.add_argument("--sandbox", default=os.environ.get("SANDBOX") or None, choices=[None, "bwrap", "none"],
                        help="bwrap (default) or none: grade without a sandbox")
    parser.add_argument("--out", default=None, help="CSV path (default build/grades-<assignment>.csv)")
    args = parser.parse_args(argv)
    if not args.assignment or not args.submissions:
        parser.error("give the assignment and the folder: make grade ASSIGNMENT=vae_by_hand SUBMISSIONS=path/to/dir")
    if args.assignment not in ct.assignments():
        parser.error(f"unknown assignment {args.assignment!r}: choose from {ct.assignments()}")
    out_root = ct.BUILD / "grading" / args.assignment
    students = [s.strip() for s in args.students.split(",") if s.strip()]
    table = grade_class(args.assignment, Path(args.submissions), out_root, jobs=args.jobs, students=students,
                        regrade_all=args.regrade == "all", timeout=args.timeout, sandbox=args.sandbox)
    out = Path(args.out) if args.out else ct.BUILD / f"grades-{args.assignment}.csv"
    write_csv(out, table)
    write_csv(ct.BUILD / "grades.csv", table)
    width = max(len(r["student"]) for r in table)
    for r in sorted(table, key=lambda r: (-r["score"], r["student"])):
        mark = "" if r["graded_now"] == "yes" else "  (unchanged, not re-graded)"
        print(f"{r['student']:<{width}}  {r['score']:6g} / {r['max_score']:g}  {r['error']}{mark}")
    print(f"\nwrote {out} and the class gradebook {out_root / 'gradebook.db'}")
    (ct.BUILD / f"grades-{args.assignment}.json").write_text(json.dumps(table, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
