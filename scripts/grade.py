"""make grade: autograde a whole class in parallel and write build/grades.csv.

    make grade ASSIGNMENT=vae_by_hand SUBMISSIONS=path/to/submissions

SUBMISSIONS holds <student>/<assignment>/*.ipynb. Every submission is graded by its own worker in
its own scratch course folder with its own gradebook (so parallel workers never share a SQLite
file), then all results are merged into one gradebook at build/grading/<assignment>/gradebook.db,
whose autograded/ folder is ready for `nbgrader formgrader` and `nbgrader generate_feedback`.
A corrupted notebook costs only that notebook: it is reported in the `error` column and scored 0.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sqlite3
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import coursetools as ct

# Tables that hold one student's results; everything else (assignment, notebooks, cells) is shared
# and identical in every worker, because every worker's gradebook is a copy of the same template.
PER_STUDENT_TABLES = ("student", "submitted_assignment", "submitted_notebook", "grade", "comment")


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


def make_template(root: Path, assignment: str) -> Path:
    """A course folder with the assignment generated into its gradebook, copied for every worker."""
    ct.scratch_course(root, [assignment])
    ct.generate(root, assignment)
    return root


def grade_one(template: Path, work: Path, student: str, assignment: str, folder: Path, extra: list[str]) -> dict:
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
    if not any(dest.glob("*.ipynb")):
        errors.append("no gradable notebook in the submission")
    proc = ct.run_nbgrader(["autograde", assignment, "--student", student, "--force", *extra], work, check=False)
    if proc.returncode != 0:
        last = [line for line in proc.stdout.splitlines() + proc.stderr.splitlines() if "ERROR" in line]
        errors.append("autograde reported an error: " + (last[-1][:200] if last else f"exit {proc.returncode}"))
    return {"student": student, "work": work, "error": "; ".join(errors)}


def merge(main_db: Path, worker_db: Path) -> None:
    """Copy one worker's per-student rows into the merged gradebook (ids are UUIDs: no clashes)."""
    con = sqlite3.connect(main_db)
    try:
        con.execute("ATTACH DATABASE ? AS w", (str(worker_db),))
        for table in PER_STUDENT_TABLES:
            con.execute(f"INSERT OR REPLACE INTO main.{table} SELECT * FROM w.{table}")
        con.commit()
        con.execute("DETACH DATABASE w")
    finally:
        con.close()


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


def grade_class(assignment: str, submissions: Path, out_root: Path, jobs: int | None = None,
                extra: list[str] | None = None, progress: bool = True) -> list[dict]:
    """Grade every submission in parallel; merge into out_root/gradebook.db; return one row per student."""
    from tqdm.auto import tqdm

    found = find_submissions(Path(submissions), assignment)
    if out_root.exists():
        shutil.rmtree(out_root)
    template = make_template(out_root / "template", assignment)
    jobs = jobs or os.cpu_count() or 1
    results = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(grade_one, template, out_root / "workers" / s, s, assignment, f, extra or [])
                   for s, f in found.items()]
        for fut in tqdm(as_completed(futures), total=len(futures), desc=f"grading {assignment}", unit="submission",
                        disable=not progress):
            results.append(fut.result())

    # One gradebook for the whole class, filled sequentially after the workers: no SQLite locking.
    main_db = out_root / "gradebook.db"
    shutil.copy(template / "gradebook.db", main_db)
    shutil.copy(template / "nbgrader_config.py", out_root / "nbgrader_config.py")
    for name in ("solutions", "notebooks"):
        shutil.copytree(template / name, out_root / name)
    for r in sorted(results, key=lambda r: r["student"]):
        merge(main_db, r["work"] / "gradebook.db")
        graded = r["work"] / "autograded" / r["student"]
        if graded.exists():
            shutil.copytree(graded, out_root / "autograded" / r["student"], dirs_exist_ok=True)
        submitted = r["work"] / "submitted" / r["student"]
        if submitted.exists():
            shutil.copytree(submitted, out_root / "submitted" / r["student"], dirs_exist_ok=True)
    shutil.rmtree(out_root / "workers")
    shutil.rmtree(out_root / "template")
    return rows(main_db, assignment, {r["student"]: r["error"] for r in results})


def rows(db: Path, assignment: str, errors: dict[str, str]) -> list[dict]:
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
            row["error"] = errors[student]
            out.append(row)
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
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("JOBS", "0")) or None,
                        help="parallel workers (default: every core)")
    parser.add_argument("--out", default=str(ct.BUILD / "grades.csv"))
    args = parser.parse_args(argv)
    if not args.assignment or not args.submissions:
        parser.error("give the assignment and the folder: make grade ASSIGNMENT=vae_by_hand SUBMISSIONS=path/to/dir")
    if args.assignment not in ct.assignments():
        parser.error(f"unknown assignment {args.assignment!r}: choose from {ct.assignments()}")
    out_root = ct.BUILD / "grading" / args.assignment
    table = grade_class(args.assignment, Path(args.submissions), out_root, jobs=args.jobs)
    write_csv(Path(args.out), table)
    width = max(len(r["student"]) for r in table)
    for r in sorted(table, key=lambda r: -r["score"]):
        print(f"{r['student']:<{width}}  {r['score']:6g} / {r['max_score']:g}  {r['error']}")
    print(f"\nwrote {args.out} and the merged gradebook {out_root / 'gradebook.db'}")
    (ct.BUILD / "grades.json").write_text(json.dumps(table, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
