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
- Resumable: each graded submission is kept in workers/<student>/ with a graded.json mark until the class
  gradebook holds it, so a run that was interrupted (Ctrl-C, a lost connection, a killed process) is resumed by
  running it again: only the students it had not graded yet are graded.
- On a cluster: with a Dask scheduler's address (make grade SCHEDULER=tcp://host:8786) each submission is graded
  as one Dask task by grade_one on a worker, and only a result that passes the checks of grading/cluster.py is
  merged. Without it, a thread pool here runs grade_one, and nothing Dask-related is imported.
"""

from __future__ import annotations

import csv
import ctypes
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from functools import lru_cache
from pathlib import Path

from . import collect
from . import course_dir as ct
from . import gradebook

NO_SANDBOX = "graded without a sandbox (SANDBOX=none)"
DEFAULT_TIMEOUT = 600
GRADED = "graded.json"  # in a worker folder: the submission there is graded, and with what (see _resumable)


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


def read_submission(folder: Path) -> tuple[dict[str, bytes], list[str]]:
    """What grading takes from a submission folder, as bytes: {name: bytes} of its notebooks and timestamp.txt,
    and the problems met reading them."""
    submission = collect.scan(folder)  # regular files only: no link, FIFO, device or oversized file is read
    return submission.files, submission.problems


def gradable(files: dict[str, bytes]) -> dict[str, bytes]:
    """The files of a submission that grade_one places in the scratch course: every valid notebook, timestamp.txt."""
    return {name: data for name, data in files.items() if not name.endswith(".ipynb") or check_notebook(name, data) is None}


def files_digest(files: dict[str, bytes]) -> str:
    """sha256 of a submission's file names and bytes, as read by read_submission."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name] + b"\0")
    return h.hexdigest()


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


@lru_cache(maxsize=1)
def grader_digest() -> str:
    """What a result depends on besides the template and the submission: the grading code, helpers/, the nbgrader
    configuration and the versions of the packages that compute answers. A Dask worker whose checkout differs
    grades nothing (grading/cluster.py); a kept result of an interrupted run graded by other code is not reused."""
    from importlib.metadata import version

    h = hashlib.sha256()
    for p in sorted([*(ct.ROOT / "grading").rglob("*.py"), *(ct.ROOT / "helpers").rglob("*.py"), ct.ROOT / "nbgrader_config.py"]):
        h.update(str(p.relative_to(ct.ROOT)).encode() + b"\0" + p.read_bytes() + b"\0")
    for package in ("nbgrader", "nbclient", "ipykernel", "numpy", "torch"):
        h.update(f"{package}=={version(package)}\0".encode())
    h.update(sys.version.encode())
    return h.hexdigest()


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


_RUNNING: set[subprocess.Popen] = set()  # the nbgrader processes of this process's grade_one calls
_RUNNING_LOCK = threading.Lock()


def stop_graders() -> None:
    """Kill every running grade_one's nbgrader and its kernels (an interrupted make grade)."""
    with _RUNNING_LOCK:
        for proc in list(_RUNNING):
            _kill_group(proc)


def _die_with_parent():
    """preexec_fn: the grader gets SIGKILL when the process that started it dies (a Dask worker killed while it
    grades, an interrupted make grade), instead of grading on for nobody; its kernels die with it (bwrap's
    --die-with-parent). Linux only; elsewhere nothing."""
    parent = os.getpid()
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def preexec():
        prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the call
            os._exit(1)
    return preexec


def grade_one(template: Path, work: Path, student: str, assignment: str,
              submission: Path | tuple[dict[str, bytes], list[str]], extra: list[str], timeout: float,
              sandbox: str = "bwrap") -> dict:
    """Autograde one submission in its own copy of the template; return its scores and any error.

    submission: the student's folder, or what read_submission read of it ({name: bytes}, problems), as a Dask
    worker receives it."""
    files, problems = read_submission(submission) if isinstance(submission, Path) else submission
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(template, work)
    dest = work / "submitted" / student / assignment
    dest.mkdir(parents=True)
    errors = list(problems)
    for name, data in sorted(files.items()):
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
                            start_new_session=True, preexec_fn=_die_with_parent())
    with _RUNNING_LOCK:
        _RUNNING.add(proc)
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
        with _RUNNING_LOCK:
            _RUNNING.discard(proc)
    (work / "autograde.log").write_text(out or "")
    return {"student": student, "work": work, "error": "; ".join(errors)}


def _load_state(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _resumable(workers: Path, todo: list[str], digests: dict[str, str], config: dict) -> list[dict]:
    """The results an interrupted run graded and kept (workers/<student>/graded.json) for this very submission,
    template and grader: merged without grading them again. Every other worker folder is removed."""
    kept = []
    if workers.is_dir():
        for work in sorted(workers.iterdir()):
            mark = _load_state(work / GRADED)
            student = mark.get("student")
            if (student == work.name and student in todo and mark.get("digest") == digests[student]
                    and mark.get("config") == config):
                kept.append({"student": student, "work": work, "error": mark.get("error", ""),
                             "graded_at": mark.get("graded_at"), "graded_by": mark.get("graded_by", "")})
            else:
                shutil.rmtree(work, ignore_errors=True)
    return kept


def _mark_graded(result: dict, digest: str, config: dict) -> None:
    """Write graded.json into the result's folder: from now on an interruption does not lose it."""
    result["graded_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
    mark = {"student": result["student"], "digest": digest, "config": config, "error": result["error"],
            "graded_at": result["graded_at"], "graded_by": result.get("graded_by", "")}
    tmp = result["work"] / (GRADED + ".tmp")
    tmp.write_text(json.dumps(mark, indent=1) + "\n")
    os.replace(tmp, result["work"] / GRADED)


def _grade_here(template: Path, workers: Path, todo: list[str], found: dict[str, Path], assignment: str,
                extra: list[str], timeout: float, mode: str, jobs: int):
    """grade_one for every student of todo, `jobs` at a time on this machine; yields each result as it is done.
    Closed early (Ctrl-C), it drops what has not started and kills the graders that are running."""
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        futures = [pool.submit(grade_one, template, workers / s, s, assignment, found[s], extra, timeout, mode)
                   for s in todo]
        for fut in as_completed(futures):
            yield {**fut.result(), "graded_by": "local"}
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        stop_graders()
        raise
    finally:
        pool.shutdown(wait=True)


def grade_class(assignment: str, submissions: Path, out_root: Path, jobs: int | None = None,
                extra: list[str] | None = None, progress: bool = True, students: list[str] | None = None,
                regrade_all: bool = False, timeout: float = DEFAULT_TIMEOUT, sandbox: str | None = None,
                scheduler: str | None = None) -> list[dict]:
    """Grade what needs grading, in parallel (here, or on the Dask cluster of `scheduler`); merge into
    out_root/gradebook.db; return one row per student."""
    from contextlib import closing

    from tqdm.auto import tqdm

    from . import sandbox as sb

    mode = sandbox or sb.sandbox_mode()
    if mode not in ("bwrap", "none"):
        raise SystemExit(f"SANDBOX={mode!r} is not understood: use SANDBOX=bwrap (the default) or SANDBOX=none")
    if mode == "bwrap" and not scheduler and sb.sandbox_problem():  # on a cluster, each worker checks its own
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
        state_file.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")  # an interrupted run keeps this template
    known = state.get("students", {})
    digests = {s: collect.scan(f).digest() for s, f in found.items()}
    todo = sorted(s for s in found if regrade_all or s in (students or []) or known.get(s, {}).get("digest") != digests[s])

    # What a kept result must share with this run to be merged instead of graded again.
    config = {"template": hashlib.sha256((template / "gradebook.db").read_bytes()).hexdigest(),
              "grader": grader_digest(), "sandbox": mode, "extra": list(extra or [])}
    workers = out_root / "workers"
    results = _resumable(workers, todo, digests, config)
    if results:
        print(f"resuming an interrupted run: {len(results)} submission(s) it graded are merged without grading "
              "them again", flush=True)
    rest = [s for s in todo if s not in {r["student"] for r in results}]
    failed = {}  # students a cluster could not grade: not merged, graded again by the next run
    if rest:
        if scheduler:
            from . import cluster

            runner = cluster.grade_on_cluster(scheduler, template, workers, rest, found, assignment, extra or [],
                                              timeout, mode)
        else:
            jobs = jobs or int(os.environ.get("JOBS", "0") or 0) or os.cpu_count() or 1
            runner = _grade_here(template, workers, rest, found, assignment, extra or [], timeout, mode, jobs)
        try:
            with closing(runner):
                for r in tqdm(runner, total=len(rest), desc=f"grading {assignment}", unit="submission",
                              disable=not progress):
                    if r.get("work") is None:
                        failed[r["student"]] = r["error"]
                        continue
                    _mark_graded(r, digests[r["student"]], config)
                    results.append(r)
        except KeyboardInterrupt:
            print(f"\ninterrupted: the {len(results)} submission(s) graded so far are kept in {workers}; run the same "
                  f"command again to merge them and grade the other {len(todo) - len(results)}", file=sys.stderr, flush=True)
            raise

    errors = {s: known[s].get("error", "") for s in known}
    errors.update({r["student"]: r["error"] for r in results})
    errors.update(refused)  # a link or a special file in place of a student's folder: not graded, reported
    if mode == "none":
        for r in results:
            errors[r["student"]] = "; ".join(filter(None, [NO_SANDBOX, errors[r["student"]]]))
    main_db = out_root / "gradebook.db"
    for s, why in failed.items():  # a student graded before keeps that grade (and its hand grades)
        errors[s] = "; ".join(filter(None, [why, "the previous grade is kept" if s in known else ""]))
    carried = sorted(s for s in known if (s not in todo or s in failed) and main_db.exists())
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
                               "graded_at": r["graded_at"], "graded_by": r["graded_by"]}
    state["students"] = known
    state_file.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")
    shutil.rmtree(workers, ignore_errors=True)  # after state.json: a kept result is dropped once it is merged
    return gradebook.rows(main_db, assignment, {s: errors.get(s, "") for s in sorted(set(known) | set(found) | set(refused))},
                graded_now=set(todo) - set(failed))


def write_csv(path: Path, table: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]))
        writer.writeheader()
        for row in table:
            writer.writerow({k: (f"{v:g}" if isinstance(v, float) else v) for k, v in row.items()})
