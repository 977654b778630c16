"""nbgrader's collect for a hub where every person is an OS user: a submission is its owner's, or refused.

`nbgrader submit` (the Assignment List's Submit button) copies the student's folder into the exchange's
inbound/ as ``<student>+<assignment>+<timestamp>+<random>``, owned by the student who ran it. The student id
in that name is whatever the submitting process says (``nbgrader submit ... --student=carol`` names carol),
and the folder stays writable by its owner. Stock nbgrader's collect only logs a warning when the name and
the owner differ, and collects anyway. ExchangeCollect (configured as ``c.ExchangeFactory.collect`` in the
hub course's nbgrader_config.py, by hub/run.py) collects a submission only when

- it is a real folder (not a symbolic link) whose OS owner is the student its name names;
- everything in it is a folder or a regular file of that same owner: no symbolic link (the collecting
  instructor would follow it into files the student cannot read, such as the solutions), no pipe or device,
  no file of another user;
- its timestamp.txt holds the time its name claims, and nothing in it changed more than SLACK from that
  time (a file's status-change time, ctime, is set by the kernel and no user can set it back): a submission
  cannot be backdated past the due date, nor edited after it was handed in;
- it is no bigger than nbgrader's CourseDirectory.max_dir_size.

Each submission is checked while it is copied into a private staging folder (every file opened without
following links and checked through its open descriptor, so nothing can be swapped in between the check and
the copy); nbgrader then collects from that copy. A refused submission is never copied to submitted/: the
student's latest acceptable one is collected instead, if any. Each refusal is logged as an error (the
formgrader's Collect dialog and `nbgrader collect` show it) and appended to refused_submissions.log in the
course folder.
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import pwd
import shutil
import stat
import tempfile

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.exchange.default.collect import ExchangeCollect as _NbgraderCollect
from nbgrader.exchange.default.collect import groupby
from nbgrader.utils import check_mode, parse_utc

__all__ = ["ExchangeCollect", "SLACK", "REPORT", "submission_problem"]

# How far from the time a submission's name claims its files may have been created or changed. nbgrader submit
# takes its timestamp, then copies the folder (at most CourseDirectory.max_dir_size, 100 MB): seconds.
SLACK = dt.timedelta(minutes=5)
REPORT = "refused_submissions.log"  # in the course folder
_CHUNK = 1 << 20


class Refused(Exception):
    """A submission that is not its student's own, untouched hand-in."""


def _when(st: os.stat_result) -> dt.datetime:
    """The status-change time of a file, as a naive UTC datetime (nbgrader's timestamps are naive UTC)."""
    return dt.datetime.fromtimestamp(st.st_ctime, dt.timezone.utc).replace(tzinfo=None)


def _owner(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


class _Snapshot:
    """Copy one submission folder into `dest`, checking every entry through its open descriptor."""

    def __init__(self, student: str, uid: int, claimed: dt.datetime, max_bytes: int):
        self.student, self.uid, self.claimed, self.max_bytes = student, uid, claimed, max_bytes
        self.total = 0

    def check(self, st: os.stat_result, what: str) -> None:
        if st.st_uid != self.uid:
            raise Refused(f"{what} belongs to {_owner(st.st_uid)}, not to {self.student}")
        changed = _when(st)
        if not self.claimed - SLACK <= changed <= self.claimed + SLACK:
            raise Refused(f"{what} was changed at {changed:%Y-%m-%d %H:%M:%S} UTC, but the submission claims "
                          f"{self.claimed:%Y-%m-%d %H:%M:%S} UTC")

    def folder(self, fd: int, dest: str, what: str) -> None:
        os.mkdir(dest, 0o700)
        with os.scandir(fd) as entries:
            names = sorted(e.name for e in entries)
        for name in names:
            inside = f"{what}/{name}"
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                raise Refused(f"{inside} is a symbolic link")
            if stat.S_ISDIR(st.st_mode):
                sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                try:
                    self.check(os.fstat(sub), inside)
                    self.folder(sub, os.path.join(dest, name), inside)
                finally:
                    os.close(sub)
            elif stat.S_ISREG(st.st_mode):
                self.file(fd, name, os.path.join(dest, name), inside)
            else:
                raise Refused(f"{inside} is not a regular file (a pipe, socket or device)")

    def file(self, dir_fd: int, name: str, dest: str, what: str) -> None:
        try:
            src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
        except OSError as err:  # ELOOP: replaced by a link since it was listed
            raise Refused(f"{what} cannot be opened safely ({err.strerror})") from None
        try:
            st = os.fstat(src)
            if not stat.S_ISREG(st.st_mode):
                raise Refused(f"{what} is not a regular file")
            self.check(st, what)
            with open(dest, "wb") as out:
                while chunk := os.read(src, _CHUNK):
                    self.total += len(chunk)
                    if self.total > self.max_bytes:
                        raise Refused(f"the submission is larger than {self.max_bytes} bytes "
                                      "(CourseDirectory.max_dir_size)")
                    out.write(chunk)
        finally:
            os.close(src)


def submission_problem(inbound: str, filename: str, student: str, claimed: dt.datetime, dest: str,
                       max_bytes: int) -> str | None:
    """Copy inbound/filename to dest (a path that does not exist yet) if it is `student`'s own untouched
    submission of time `claimed`; else return why not (dest is then removed)."""
    try:
        uid = pwd.getpwnam(student).pw_uid
    except KeyError:
        return f"no OS user is called {student}"
    snap = _Snapshot(student, uid, claimed, max_bytes)
    parent = os.open(inbound, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            top = os.open(filename, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
        except OSError as err:
            return f"it is not a folder ({err.strerror})"
        try:
            snap.check(os.fstat(top), "the submission folder")
            snap.folder(top, dest, filename)
        finally:
            os.close(top)
        stamp = os.path.join(dest, "timestamp.txt")
        if not os.path.isfile(stamp):
            return "it holds no timestamp.txt"
        with open(stamp) as f:
            text = f.read().strip()
        try:
            written = parse_utc(text)
        except (ValueError, OverflowError):
            return f"its timestamp.txt is not a time: {text[:60]!r}"
        if written != claimed:
            return f"its timestamp.txt says {text[:60]!r}, its name {claimed:%Y-%m-%d %H:%M:%S.%f} UTC"
        return None
    except Refused as why:
        return str(why)
    finally:
        os.close(parent)


class ExchangeCollect(_NbgraderCollect):
    """nbgrader's collect, taking only submissions that are their student's own (see the module)."""

    def init_src(self):
        if self.coursedir.course_id == "":
            self.fail("No course id specified. Re-run with --course flag.")
        self.course_path = os.path.join(self.root, self.coursedir.course_id)
        self.inbound_path = os.path.join(self.course_path, "inbound")
        if not os.path.isdir(self.inbound_path):
            self.fail(f"Course not found: {self.inbound_path}")
        if not check_mode(self.inbound_path, read=True, execute=True):
            self.fail(f"You don't have read permissions for the directory: {self.inbound_path}")
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            try:
                self.duedate = gb.find_assignment(self.coursedir.assignment_id).duedate
            except MissingEntry:
                self.duedate = None
        self._staging = tempfile.mkdtemp(prefix="nbgrader-collect-")
        student_id = self.coursedir.student_id if self.coursedir.student_id else "*"
        pattern = os.path.join(self.inbound_path, f"{student_id}+{self.coursedir.assignment_id}+*")
        records = []
        for path in glob.glob(pattern):
            try:
                records.append(self._path_to_record(path))
            except Exception as err:  # noqa: BLE001 - a name nbgrader cannot parse is one more refusal
                self._refuse(os.path.basename(path), f"its name is not <student>+<assignment>+<timestamp> ({err})")
        chosen = []
        for student, versions in sorted(groupby(records, lambda r: r["username"]).items()):
            versions = self._sort_by_timestamp(versions)  # newest first
            if self.duedate is not None and self.before_duedate:
                versions = ([v for v in versions if v["timestamp"] <= self.duedate]
                            + [v for v in versions if v["timestamp"] > self.duedate])
            for record in versions:  # the first acceptable one, in nbgrader's order of preference
                if self._stage(record):
                    chosen.append(record)
                    break
        self.src_records = chosen
        # nbgrader copies from the checked copies, which belong to the collecting user
        self.inbound_path, self.check_owner = self._staging, False

    def _stage(self, record) -> bool:
        max_bytes = 1000 * self.coursedir.max_dir_size
        dest = os.path.join(self._staging, record["filename"])
        problem = submission_problem(self.inbound_path, record["filename"], record["username"], record["timestamp"],
                                     dest, max_bytes)
        if problem:
            shutil.rmtree(dest, ignore_errors=True)
            self._refuse(record["filename"], problem)
            return False
        return True

    def _refuse(self, filename: str, why: str) -> None:
        message = f"REFUSED submission {filename}: {why}"
        self.log.error(message)
        try:
            with open(os.path.join(self.coursedir.root, REPORT), "a") as f:
                f.write(f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M:%S} UTC  {message}\n")
        except OSError as err:
            self.log.error("could not record the refusal in %s: %s", REPORT, err)

    def copy_files(self):
        try:
            super().copy_files()
        finally:
            shutil.rmtree(self._staging, ignore_errors=True)
