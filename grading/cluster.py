"""make grade SCHEDULER=tcp://host:8786: a class graded on a Dask cluster, one task per student.

Each student's grading is one Dask task, grade_remote, which runs classroom.grade_one on a worker: the same
scratch course, the same nbgrader process and the same sandbox as local grading. A worker needs the course's
checkout and its .venv (a cluster's shared file system, or the same commit installed on each node) and
bubblewrap; it never needs the instructor's build/ or the submissions folder.

What travels:
- to the worker, as bytes: the template course (its gradebook.db, configuration, source and release: every task
  grades against the instructor's own template) and the student's submission as read_submission read it, with
  its sha256;
- back, as bytes: the notebooks nbgrader autograded, the submission as the worker graded it, the worker's gradebook
  (its only student's rows are taken) and nbgrader's log.

The instructor's side accepts a result only for the student the task was sent for, with the digest of what was
sent, the same submission bytes back, autograded files named as the notebooks sent, and a gradebook that holds no
other student, no changed schema and no score out of range (check_result, gradebook.foreign_rows). A refused
result is reported, the worker that returned it gets no other student in this run, and the student is graded
again on another worker. Every accepted result is kept at once in the class folder's workers/<student>/, as local
grading keeps its own (classroom.grade_class merges them), so an interrupted run loses nothing already graded.

Faults:
- a worker that dies while it grades: the scheduler gives its task to another worker (the grader and kernels of
  the dead worker die with it: classroom._die_with_parent, bubblewrap's --die-with-parent); a task whose grading
  killed workers four times over (Dask's allowed-failures) is not tried again;
- a task that fails (an exception on the worker) is tried again on another worker, MAX_TRIES times in all;
- a worker whose checkout, packages or sandbox differ from the instructor's (worker_problem) grades nothing and
  gets no other student;
- a student graded on no try: the `error` column says why, the previous grade (if any) is kept, and the next
  run tries again;
- the scheduler unreachable or lost: make grade stops with its address and the fix; what was graded is kept.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from . import classroom, gradebook
from . import sandbox as sb

MAX_TRIES = 3                  # tries per student (a refused result, a failure on the worker)
CONNECT_TIMEOUT = 10           # seconds to reach the scheduler
POLL = 5.0                     # seconds between looks at the cluster while waiting for results
NO_WORKER_WARNING = 30.0       # seconds without any worker before make grade says so
MAX_FILE = 64 << 20            # largest file a result may bring back (an autograded notebook is capped at 4 MiB)
MAX_LOG = 4 << 20


def connect(address: str):
    """A Client of the scheduler at `address`, or SystemExit naming the address and the fix."""
    from distributed import Client

    fix = ("start a scheduler there (`.venv/bin/dask scheduler` on that machine, then workers: README, "
           "\"Grading on a cluster\"), check the address and that its port is open to this machine, "
           "or grade on this machine: make grade without SCHEDULER")
    try:
        return Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise SystemExit(f"make grade: the Dask scheduler at SCHEDULER={address} cannot be reached ({why}): {fix}") from None


# ---- on the worker ------------------------------------------------------------------------------------------

_TEMPLATE_LOCK = threading.Lock()


def worker_problem(grader: str, mode: str) -> str | None:
    """Why this worker cannot grade as the instructor's machine would, or None."""
    if classroom.grader_digest() != grader:
        return ("its course checkout or packages differ from the instructor's (grading/, helpers/, nbgrader_config.py, "
                "nbgrader, numpy, torch, Python): check out the instructor's commit there, run make install, "
                "and restart the worker")
    if mode == "bwrap":
        return sb.sandbox_problem()
    return None


def _template(base: Path, files: dict[str, bytes], digest: str) -> Path:
    """The instructor's template course, written once per worker into its local directory."""
    folder = base / f"template-{digest[:16]}"
    with _TEMPLATE_LOCK:
        if not folder.is_dir():
            tmp = base / f".template-{uuid.uuid4().hex}"
            for rel, data in files.items():
                path = (tmp / rel).resolve()
                if not path.is_relative_to(tmp.resolve()):
                    raise ValueError(f"template file {rel!r} is outside the template")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            os.replace(tmp, folder)
    return folder


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()} if folder.is_dir() else {}


def pack_result(work: Path, student: str, assignment: str) -> dict:
    """What grade_one left in `work` that the instructor's side merges, as bytes."""
    folder = Path(student) / assignment
    log = (work / "autograde.log").read_text(errors="replace") if (work / "autograde.log").exists() else ""
    return {"gradebook": (work / "gradebook.db").read_bytes(), "autograded": _files(work / "autograded" / folder),
            "submitted": _files(work / "submitted" / folder), "log": log[-(MAX_LOG // 2):]}


def grade_remote(task: dict) -> dict:
    """The Dask task: grade one student's submission with classroom.grade_one in this worker's local directory;
    return the result as bytes (see the module's docstring)."""
    from distributed import get_worker

    worker = get_worker()
    reply = {"student": task["student"], "assignment": task["assignment"], "digest": task["digest"]}
    problem = worker_problem(task["grader"], task["sandbox"])
    if problem:
        return {**reply, "unfit": problem}
    base = Path(worker.local_directory) / "vae-grading"
    try:  # the template holds the solutions and hidden fixtures: no other account of the node may read or swap it
        sb.private_folder(base, "the solutions and hidden tests",
                          "remove it, or start the worker with another --local-directory")
    except sb.SandboxUnavailable as exc:
        return {**reply, "unfit": str(exc)}
    work = base / f"work-{uuid.uuid4().hex}"
    try:
        template = _template(base, task["template"], task["template_digest"])
        r = classroom.grade_one(template, work, task["student"], task["assignment"], (task["files"], task["problems"]),
                                task["extra"], task["timeout"], task["sandbox"])
        return {**reply, **pack_result(work, task["student"], task["assignment"]), "error": r["error"]}
    except Exception as exc:  # noqa: BLE001  (the instructor's side tries another worker)
        return {**reply, "failed": f"{type(exc).__name__}: {exc}"[:2000]}
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---- on the instructor's side --------------------------------------------------------------------------------

def check_result(sent: dict, result, template_db: Path, db: Path) -> str | None:
    """Why the result a worker returned for the task `sent` is refused, or None (accepted). Writes its gradebook
    to `db` to check it."""
    student = sent["student"]
    if not isinstance(result, dict):
        return f"it is a {type(result).__name__}, not a grading result"
    if result.get("student") != student:
        return f"it is the result of {str(result.get('student'))[:60]!r}, not of {student!r}, the student it was sent"
    if result.get("assignment") != sent["assignment"] or result.get("digest") != sent["digest"]:
        return "it names another assignment or another submission than the one sent"
    kinds = {"gradebook": bytes, "autograded": dict, "submitted": dict, "log": str, "error": str}
    wrong = [k for k, kind in kinds.items() if not isinstance(result.get(k), kind)]
    if wrong or not all(isinstance(n, str) and isinstance(b, bytes)
                        for k in ("autograded", "submitted") for n, b in result[k].items()):
        return f"it is not a grading result ({', '.join(wrong) or 'file names or contents'} malformed)"
    expected = classroom.gradable(sent["files"])
    if result["submitted"] != expected:
        return (f"the submission it graded is not the one sent (sha256 {classroom.files_digest(result['submitted'])[:12]}, "
                f"sent {classroom.files_digest(expected)[:12]})")
    strange = sorted(set(result["autograded"]) - set(expected))
    if strange:
        return f"it returns autograded files that were not sent: {strange[:3]}"
    big = sorted(n for n, b in [*result["autograded"].items(), ("gradebook.db", result["gradebook"])] if len(b) > MAX_FILE)
    if big or len(result["log"]) > MAX_LOG:
        return f"it returns files over {MAX_FILE >> 20} MiB: {big[:3] or ['the log']}"
    db.write_bytes(result["gradebook"])
    return gradebook.foreign_rows(template_db, db, student)


def _stage(result: dict, work: Path, check_dir: Path, student: str, assignment: str, log_header: str) -> None:
    """Lay an accepted result out as grade_one leaves a work folder (gradebook.db, autograded/, submitted/,
    autograde.log), in place of `work`."""
    for kind in ("autograded", "submitted"):
        folder = check_dir / kind / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in result[kind].items():
            (folder / name).write_bytes(data)
    (check_dir / "autograde.log").write_text(log_header + result["log"])
    shutil.rmtree(work, ignore_errors=True)
    os.replace(check_dir, work)


@dataclass
class _Job:
    student: str
    tries: int = 0
    avoid: set = field(default_factory=set)     # workers that failed or were refused for this student
    notes: list = field(default_factory=list)   # what happened on each try, for the log and the error column


def _say(message: str) -> None:
    print(f"make grade: {message}", file=sys.stderr, flush=True)


class _Run:
    """One make grade run on a cluster: submits a bounded window of tasks, checks and keeps every result."""

    def __init__(self, client, address: str, template: Path, workers_dir: Path, students: list[str],
                 found: dict[str, Path], assignment: str, extra: list[str], timeout: float, mode: str):
        self.client, self.address, self.assignment = client, address, assignment
        self.template_db = template / "gradebook.db"
        self.workers_dir = workers_dir
        self.found = found
        files = {str(p.relative_to(template)): p.read_bytes() for p in sorted(template.rglob("*")) if p.is_file()}
        self.common = {"assignment": assignment, "template": files, "template_digest": classroom.files_digest(files),
                       "grader": classroom.grader_digest(), "extra": list(extra), "timeout": timeout, "sandbox": mode}
        self.jobs = {s: _Job(s) for s in students}
        self.queue = deque(students)
        self.running: dict = {}                 # future -> (task as sent, the workers it was restricted to)
        self.bad: dict[str, str] = {}           # worker -> why it gets no more students
        self.graded = 0
        self.waiting_since: float | None = None

    def _lost(self, exc: BaseException) -> SystemExit:
        from distributed.client import FuturesCancelledError

        why = ("the connection to it was lost" if isinstance(exc, FuturesCancelledError)
               else f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}")
        return SystemExit(f"make grade: lost the Dask scheduler at SCHEDULER={self.address} ({why}). The {self.graded} "
                          "submission(s) graded in this run are kept: start the scheduler and its workers again and run "
                          "the same command to grade the others")

    def _workers(self) -> dict[str, int]:
        return dict(self.client.nthreads())

    def _give_up(self, job: _Job, why: str) -> dict:
        return {"student": job.student, "work": None,
                "error": f"not graded: {why} ({'; '.join(job.notes[-MAX_TRIES:])}): run make grade again to retry"}

    def _fill(self):
        """Submit queued students while fewer than two per worker thread are running (students already refused or
        failed on a worker go to the others). While every connected worker is excluded, or none is connected,
        nothing is given up: the students wait for a worker, and make grade says so every NO_WORKER_WARNING s."""
        alive = self._workers()
        good = {w for w in alive if w not in self.bad}
        if good or not (self.queue or self.running):
            self.waiting_since = None
        elif self.waiting_since is None:
            self.waiting_since = time.monotonic()
        elif time.monotonic() - self.waiting_since > NO_WORKER_WARNING:
            excluded = f" ({len(alive)} connected, all excluded)" if alive else ""
            _say(f"no worker that may grade is connected to the scheduler at {self.address}{excluded}: start one "
                 "(README, \"Grading on a cluster\"); waiting (Ctrl-C keeps what is graded)")
            self.waiting_since = time.monotonic()
        window = max(2, 2 * sum(alive[w] for w in good))
        while self.queue and len(self.running) < window and (good or not self.bad):
            job = self.jobs[self.queue.popleft()]
            allowed = ((good - job.avoid) or good) if (self.bad or job.avoid) else None
            files, problems = classroom.read_submission(self.found[job.student])
            sent = {**self.common, "student": job.student, "files": files, "problems": problems,
                    "digest": classroom.files_digest(files)}
            job.tries += 1
            future = self.client.submit(grade_remote, sent, key=f"grade-{self.assignment}-{job.student}-{job.tries}-"
                                        f"{uuid.uuid4().hex[:8]}", workers=sorted(allowed) if allowed else None,
                                        allow_other_workers=False, pure=False)
            self.running[future] = (sent, allowed or None)

    def _again(self, job: _Job, worker: str | None, why: str, count: bool = True):
        """Queue the student again (first in line), or give up after MAX_TRIES tries; yields a given-up result."""
        job.notes.append(f"try {job.tries}{' on ' + worker if worker else ''}: {why[:300]}")
        if worker:
            job.avoid.add(worker)
        if not count:
            job.tries -= 1
        if job.tries >= MAX_TRIES:
            yield self._give_up(job, f"grading failed on every one of {job.tries} tries")
        else:
            self.queue.appendleft(job.student)

    def _settle(self, future):
        """Yield the accepted result of a finished task, or a student given up; queue a retry otherwise."""
        from distributed import KilledWorker

        sent, _ = self.running.pop(future)
        job = self.jobs[sent["student"]]
        if future.status == "cancelled":
            if self.client.status != "running":
                raise self._lost(RuntimeError("the client was disconnected"))
            yield from self._again(job, None, "its task was cancelled by the cluster", count=False)
            return
        if future.status == "error":
            exc = future.exception()
            if isinstance(exc, KilledWorker):  # its grading killed several workers: Dask gave up on it
                job.notes.append(f"try {job.tries}: {exc}"[:300])
                yield self._give_up(job, "the workers grading it died (Dask's KilledWorker)")
            else:
                yield from self._again(job, None, f"{type(exc).__name__}: {exc}")
            return
        try:
            worker = (self.client.who_has([future]).get(future.key) or ["an unknown worker"])[0]
            result = future.result()
        except Exception as exc:  # noqa: BLE001  (its result was lost on the way: grade the student again)
            if self.client.status != "running":
                raise self._lost(exc) from None
            yield from self._again(job, None, f"its result could not be fetched ({type(exc).__name__}: {exc})")
            return
        future.release()
        if isinstance(result, dict) and "unfit" in result:
            self._exclude(worker, f"it cannot grade: {result['unfit']}")
            yield from self._again(job, worker, "the worker cannot grade", count=False)
            return
        if isinstance(result, dict) and "failed" in result:
            yield from self._again(job, worker, f"grading failed on the worker: {result['failed']}")
            return
        work = self.workers_dir / job.student
        check_dir = self.workers_dir / f".check-{job.student}-{uuid.uuid4().hex[:8]}"
        check_dir.mkdir(parents=True)
        try:
            reason = check_result(sent, result, self.template_db, check_dir / "gradebook.db")
            if reason:
                self._exclude(worker, f"its result for {job.student} was refused: {reason}")
                yield from self._again(job, worker, f"result refused: {reason}")
                return
            header = "".join(f"# earlier {note}\n" for note in job.notes) + f"# graded on the Dask worker {worker}\n"
            _stage(result, work, check_dir, job.student, self.assignment, header)
        finally:
            shutil.rmtree(check_dir, ignore_errors=True)
        self.graded += 1
        yield {"student": job.student, "work": work, "error": result["error"], "graded_by": worker}

    def _exclude(self, worker: str, why: str) -> None:
        if worker not in self.bad:
            self.bad[worker] = why
            _say(f"the Dask worker {worker} gets no more students in this run: {why}")

    def _unstick(self) -> None:
        """Tasks restricted to workers that are all gone would wait forever: submit them again."""
        alive = set(self._workers())
        for future, (sent, allowed) in list(self.running.items()):
            if allowed and not allowed & alive and alive:
                del self.running[future]
                future.cancel()
                self.jobs[sent["student"]].tries -= 1
                self.queue.appendleft(sent["student"])

    def results(self):
        from distributed import wait
        from distributed.client import FuturesCancelledError

        try:
            while self.queue or self.running:
                self._fill()
                if not self.running:
                    time.sleep(1)
                    continue
                try:
                    with self.client.as_current():
                        done, _ = wait(list(self.running), timeout=POLL, return_when="FIRST_COMPLETED")
                except TimeoutError:
                    done = []
                except FuturesCancelledError as exc:
                    if self.client.status != "running":
                        raise self._lost(exc) from None
                    done = [f for f in self.running if f.status == "cancelled"]
                for future in done:
                    yield from self._settle(future)
                self._unstick()
        except OSError as exc:  # CommClosedError: the scheduler went away; anything else is this machine's
            if self.client.status == "running":
                raise
            raise self._lost(exc) from None
        finally:
            for worker, why in self.bad.items():
                _say(f"worker {worker}: {why}")
            if self.running and self.client.status == "running":
                self.client.cancel(list(self.running))


def grade_on_cluster(address: str, template: Path, workers_dir: Path, students: list[str], found: dict[str, Path],
                     assignment: str, extra: list[str], timeout: float, mode: str):
    """Grade `students` on the Dask cluster whose scheduler is at `address`, one task each. Yields, as they come,
    {"student", "work", "error", "graded_by"} with the accepted result laid out in workers_dir/<student>/ as
    grade_one leaves it, or {"student", "work": None, "error"} for a student graded on no try."""
    client = connect(address)
    try:
        workers = client.nthreads()
        _say(f"grading {len(students)} submission(s) on the Dask cluster at {address}: {len(workers)} worker(s), "
             f"{sum(workers.values())} thread(s) now")
        workers_dir.mkdir(parents=True, exist_ok=True)
        yield from _Run(client, address, template, workers_dir, students, found, assignment, extra, timeout, mode).results()
    finally:
        client.close()
