"""Reading a class's submissions: regular files only, never through a link, never blocking, never too big.

A submissions folder (<dir>/<student>/<assignment>/*.ipynb) may be writable by students: a shared folder, or
nbgrader's exchange inbound (mode 1777). What a student can place there is read by the grader, as the
grader: a symbolic link would make it read a classmate's notebook or the reference solutions, a FIFO would
block it before any time limit starts, a device would never end. Everything here is refused with a message
for the `error` column, before a byte is read:

- a student folder, an assignment folder or a file that is a symbolic link (at any depth: each of them is
  looked at with lstat, files are opened with O_NOFOLLOW);
- anything that is not a regular file (FIFO, socket, character or block device, folder named *.ipynb);
- a file larger than MAX_FILE_BYTES (checked on the open descriptor, and again while reading);
- a student folder whose name is not a plain identifier (STUDENT_NAME): the name reaches file paths,
  the gradebook and the formgrader's pages.

Files are opened with O_NONBLOCK after lstat said they are regular, then checked again on the descriptor
(fstat: same file, regular), so a file swapped for a FIFO in between is refused, not waited for.
``make grade`` (grading/classroom.py) reads submissions only through this module; ``nbgrader autograde`` run
by hand starts with ``RefuseUnsafeSubmission`` (nbgrader_config.py). On a hub, ``nbgrader collect`` takes a
submission from the exchange only when it is its student's own and holds no link or special file
(grading/exchange.py).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

__all__ = ["MAX_FILE_BYTES", "STUDENT_NAME", "Refused", "open_regular", "read_regular", "kind_of", "find_submissions",
           "Submission", "scan", "RefuseUnsafeSubmission", "unsafe_entries"]

MAX_FILE_BYTES = 50 << 20      # a notebook with every figure of the MNIST assignment saved is about 2 MB
TIMESTAMP_BYTES = 1 << 10
STUDENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")
KEPT = ("timestamp.txt",)      # besides the notebooks, what a submission brings to the grader


class Refused(Exception):
    """A path the grader will not read; the message names it and says why."""


def kind_of(mode: int) -> str:
    """What a file is, in words, from its st_mode."""
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder"), (stat.S_ISREG, "a regular file")):
        if test(mode):
            return name
    return "not a regular file"


def _refuse_unless_regular(path: Path, st: os.stat_result, limit: int) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise Refused(f"{path.name} is {kind_of(st.st_mode)}, not a regular file: refused")
    if st.st_size > limit:
        raise Refused(f"{path.name} is {st.st_size >> 20} MiB, over the {limit >> 20} MiB a submitted file may have: refused")


def open_regular(path: Path, limit: int = MAX_FILE_BYTES) -> int:
    """A read-only descriptor of `path` if it is a regular file (not a link) of at most `limit` bytes;
    Refused otherwise. Never blocks: lstat first, then open(O_NOFOLLOW | O_NONBLOCK) and fstat on the descriptor."""
    path = Path(path)
    try:
        _refuse_unless_regular(path, os.lstat(path), limit)
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except Refused:
        raise
    except OSError as exc:
        raise Refused(f"{path.name} could not be read ({exc.strerror}): refused") from None
    try:
        _refuse_unless_regular(path, os.fstat(fd), limit)
    except Refused:
        os.close(fd)
        raise
    return fd


def read_regular(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of `path` if it is a regular file (not a link) of at most `limit` bytes; Refused otherwise."""
    fd = open_regular(path, limit)
    try:
        chunks, size = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise Refused(f"{Path(path).name} grew past {limit >> 20} MiB while it was read: refused")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _folder_problem(path: Path, what: str) -> str | None:
    """Why `path` is not a plain folder (a link, a file...), or None."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        return f"the {what} {path.name} could not be read ({exc.strerror})"
    if not stat.S_ISDIR(st.st_mode):
        return f"the {what} {path.name} is {kind_of(st.st_mode)}, not a folder: refused"
    return None


def find_submissions(submissions: Path, assignment: str) -> tuple[dict[str, Path], dict[str, str]]:
    """({student: assignment folder} of the gradable submissions, {name: why refused} of the others).

    A student is whoever has an entry <name>/<assignment> under `submissions`; the student folder and
    the assignment folder must both be real folders and the name a plain identifier."""
    found, refused = {}, {}
    with os.scandir(submissions) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.startswith("."):
                continue
            student = Path(entry.path)
            if not entry.is_dir(follow_symlinks=True) and not entry.is_symlink():
                continue  # a stray file next to the student folders (a README, a CSV of names)
            inner = student / assignment
            if not os.path.lexists(inner) and not entry.is_symlink():
                continue  # this student has no folder for this assignment
            # a name that is not plain never becomes a row's student: the row is labelled, the error names it
            name = entry.name if STUDENT_NAME.match(entry.name) else "refused-" + hashlib.sha256(entry.name.encode(errors="replace")).hexdigest()[:8]
            problem = (_folder_problem(student, "student folder") or
                       (None if STUDENT_NAME.match(entry.name) else
                        f"the student folder's name {entry.name!r} is not a plain name (letters, digits, . _ @ + -): refused") or
                       _folder_problem(inner, "assignment folder"))
            if problem:
                refused[name] = problem
            else:
                found[entry.name] = inner
    return found, refused


@dataclass
class Submission:
    """What a student's assignment folder holds that the grader may read, and what it refused."""
    files: dict[str, bytes] = field(default_factory=dict)     # {file name: bytes}: notebooks and KEPT files
    problems: list[str] = field(default_factory=list)

    def digest(self) -> str:
        h = hashlib.sha256()
        for name in sorted(self.files):
            h.update(name.encode() + b"\0" + self.files[name] + b"\0")
        for problem in self.problems:
            h.update(b"!" + problem.encode() + b"\0")
        return h.hexdigest()


def scan(folder: Path, limit: int = MAX_FILE_BYTES) -> Submission:
    """The notebooks (*.ipynb) and KEPT files directly in `folder`, read safely; the rest is not read.

    Sub-folders are not collected (nbgrader grades the notebooks at the top only)."""
    sub = Submission()
    problem = _folder_problem(Path(folder), "assignment folder")
    if problem:
        sub.problems.append(problem)
        return sub
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if not (entry.name.endswith(".ipynb") or entry.name in KEPT):
                continue
            try:
                sub.files[entry.name] = read_regular(Path(entry.path), limit if entry.name not in KEPT else TIMESTAMP_BYTES)
            except Refused as exc:
                sub.problems.append(str(exc))
    return sub


def unsafe_entries(root: Path) -> list[str]:
    """Every entry under `root` (root included) that is a link or not a regular file or folder."""
    out = []
    problem = _folder_problem(Path(root), "folder")
    if problem:
        return [problem]
    for dirpath, dirnames, filenames in os.walk(root):  # os.walk does not follow links into folders
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                out.append(f"{os.path.relpath(os.path.join(dirpath, name), root)} is {kind_of(st.st_mode)}")
    return out


class RefuseUnsafeSubmission(Preprocessor):
    """First step of `nbgrader autograde` (nbgrader_config.py): a submission whose student folder, assignment
    folder or any entry is a link or a special file is not graded (nbgrader reports the error and grades the
    other students). nbgrader has opened the notebook already: a FIFO notebook blocks it before this runs,
    which is why `make grade` and `nbgrader collect` (below) refuse such files before nbgrader sees them."""

    enabled = Bool(True)

    def preprocess(self, nb, resources):
        from nbgrader.coursedir import CourseDirectory

        info = resources.get("nbgrader", {})
        coursedir = CourseDirectory(config=self.config)
        folder = Path(coursedir.format_path(coursedir.submitted_directory, info.get("student", ""), info.get("assignment", "")))
        problems = [p for p in (_folder_problem(folder.parent, "student folder"), _folder_problem(folder, "assignment folder")) if p]
        problems += [] if problems else unsafe_entries(folder)
        if problems:
            raise Refused(f"{info.get('student')}'s {info.get('assignment')} is not graded: " + "; ".join(sorted(set(problems))))
        return nb, resources
