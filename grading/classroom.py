"""Grading a class (make grade, scripts/grade.py): in parallel, incrementally, each student kernel in a sandbox.

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

import csv
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from . import collect
from . import course_dir as ct
from . import gradebook

NO_SANDBOX = "graded without a sandbox (SANDBOX=none)"
DEFAULT_TIMEOUT = 600


def find_submissions(submissions: Path, assignment: str) -> tuple[dict[str, Path], dict[str, str]]:
    """({student: folder} for every <student>/<assignment>/ under submissions, {student: why refused})."""
    if not submissions.is_dir():
        raise SystemExit(f"SUBMISSIONS={submissions} is not a folder: point it at <dir> holding <student>/{assignment}/*.ipynb")
    found, refused = collect.find_submissions(submissions, assignment)
    if not found and not refused:
        raise SystemExit(f"no submissions found: expected {submissions}/<student>/{assignment}/*.ipynb")
    return found, refused


def check_notebook(name: str, data: bytes) -> str | None:
    """None if data is a readable notebook, else a message for the instructor."""
    import nbformat

    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # invalid JSON, wrong schema, binary garbage ...
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        return f"{name} is not a valid notebook ({first}); it scores 0: ask the student to re-submit it"
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
    submission = collect.scan(folder)  # regular files only: no link, FIFO, device or oversized file is read
    errors = list(submission.problems)
    for name, data in submission.files.items():
        problem = check_notebook(name, data) if name.endswith(".ipynb") else None
        if problem:
            errors.append(problem)
        else:
            (dest / name).write_bytes(data)
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
        if sandbox != "none":  # its kernels' connection folders, whatever happened (a SIGKILL skips their clean-up)
            from .sandbox import sweep_kernel_dirs
            sweep_kernel_dirs(owner=proc.pid)
    (work / "autograde.log").write_text(out or "")
    return {"student": student, "work": work, "error": "; ".join(errors)}


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

    from . import sandbox as sb

    mode = sandbox or sb.sandbox_mode()
    if mode not in ("bwrap", "none"):
        raise SystemExit(f"SANDBOX={mode!r} is not understood: use SANDBOX=bwrap (the default) or SANDBOX=none")
    if mode == "bwrap" and sb.sandbox_problem():
        raise SystemExit(sb.sandbox_problem())
    if mode == "bwrap":
        sb.sweep_kernel_dirs()  # what an interrupted run left

    found, refused = find_submissions(Path(submissions), assignment)
    unknown = sorted(set(students or []) - set(found) - set(refused))
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
    digests = {s: collect.scan(f).digest() for s, f in found.items()}
    todo = sorted(s for s in found if regrade_all or s in (students or []) or known.get(s, {}).get("digest") != digests[s])

    jobs = jobs or int(os.environ.get("JOBS", "0") or 0) or os.cpu_count() or 1
    results = []
    workers = out_root / "workers"
    shutil.rmtree(workers, ignore_errors=True)  # an interrupted run's scratch courses
    if todo:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(grade_one, template, workers / s, s, assignment, found[s], extra or [], timeout, mode)
                       for s in todo]
            for fut in tqdm(as_completed(futures), total=len(futures), desc=f"grading {assignment}",
                            unit="submission", disable=not progress):
                results.append(fut.result())

    errors = {s: known[s].get("error", "") for s in known}
    errors.update({r["student"]: r["error"] for r in results})
    errors.update(refused)  # a link or a special file in place of a student's folder: not graded, reported
    if mode == "none":
        for r in results:
            errors[r["student"]] = "; ".join(filter(None, [NO_SANDBOX, errors[r["student"]]]))
    main_db = out_root / "gradebook.db"
    carried = sorted(s for s in known if s not in todo and main_db.exists())
    fresh = {r["student"]: r["work"] / "gradebook.db" for r in results}
    gradebook.build_class_gradebook(template / "gradebook.db", main_db, main_db if main_db.exists() else None,
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
    return gradebook.rows(main_db, assignment, {s: errors.get(s, "") for s in sorted(set(known) | set(found) | set(refused))},
                graded_now=set(todo))


def write_csv(path: Path, table: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]))
        writer.writeheader()
        for row in table:
            writer.writerow({k: (f"{v:g}" if isinstance(v, float) else v) for k, v in row.items()})
