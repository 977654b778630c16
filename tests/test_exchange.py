"""grading.exchange.ExchangeCollect: a submission is collected only if it is its student's own, untouched.

Each test builds the exchange's inbound/ as `nbgrader submit` leaves it (<student>+<assignment>+<timestamp>+
<random>, with timestamp.txt) and collects as the formgrader does (nbgrader.utils.capture_log). The student is
the OS user running the tests; another student is another OS user (nobody, or root when the tests run as
nobody). Forging, links, backdating, late edits, pipes and unparseable names are each refused and reported,
and the student's latest acceptable submission is collected instead.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import secrets
import sys
from pathlib import Path

import pytest
from nbgrader.coursedir import CourseDirectory
from nbgrader.exchange.default.collect import ExchangeCollect as StockCollect
from nbgrader.utils import capture_log
from traitlets.config import Config

from grading import exchange

ME = getpass.getuser()
OTHER = "nobody" if ME != "nobody" else "root"
A = "ps1"


@pytest.fixture
def course(tmp_path, monkeypatch):
    # the gradebook runs its migrations with this interpreter's alembic, by name
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    inbound = tmp_path / "exchange" / "course" / "inbound"
    inbound.mkdir(parents=True)
    (tmp_path / "course").mkdir()
    return tmp_path


def submit(root: Path, student: str, when: dt.datetime | None = None, files: dict | None = None,
           stamp: str | None = None) -> Path:
    """A submission folder as nbgrader submit writes it; `when` is naive UTC (default: now)."""
    when = when or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    ts = when.strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    folder = root / "exchange" / "course" / "inbound" / f"{student}+{A}+{ts}+{secrets.token_urlsafe(9)}"
    folder.mkdir()
    for name, text in (files or {"answer.ipynb": f"work of {student} at {ts}"}).items():
        (folder / name).write_text(text)
    (folder / "timestamp.txt").write_text(stamp if stamp is not None else ts)
    return folder


def collect(root: Path, app=exchange.ExchangeCollect) -> dict:
    cfg = Config()
    cfg.CourseDirectory.root = str(root / "course")
    cfg.CourseDirectory.course_id = "course"
    cfg.CourseDirectory.assignment_id = A
    cfg.Exchange.root = str(root / "exchange")
    coursedir = CourseDirectory(config=cfg)
    return capture_log(app(coursedir=coursedir, config=cfg))


def collected(root: Path, student: str) -> dict[str, str]:
    folder = root / "course" / "submitted" / student / A
    return {p.name: p.read_text() for p in sorted(folder.iterdir()) if p.is_file()} if folder.is_dir() else {}


def refusals(root: Path) -> str:
    report = root / "course" / exchange.REPORT
    return report.read_text() if report.exists() else ""


def test_own_submission_is_collected(course):
    folder = submit(course, ME, files={"answer.ipynb": "mine"})
    (folder / "data").mkdir()
    (folder / "data" / "extra.txt").write_text("x")
    result = collect(course)
    assert result["success"], result
    assert collected(course, ME)["answer.ipynb"] == "mine"
    assert (course / "course" / "submitted" / ME / A / "data" / "extra.txt").read_text() == "x"
    assert "REFUSED" not in result.get("log", "") and refusals(course) == ""


def test_stock_nbgrader_collects_a_submission_under_another_name(course):
    """The attack: `nbgrader submit --student=<other>` files work under another's name, and stock collect takes it."""
    submit(course, OTHER, files={"answer.ipynb": "forged"})
    result = collect(course, app=StockCollect)
    assert result["success"] and collected(course, OTHER)["answer.ipynb"] == "forged"
    assert "cheating attempt?" in result["log"]  # stock nbgrader only warns


def test_submission_under_another_name_is_refused_and_reported(course):
    forged = submit(course, OTHER, files={"answer.ipynb": "forged"})
    result = collect(course)
    assert result["success"], result
    assert collected(course, OTHER) == {}
    expected = f"REFUSED submission {forged.name}: the submission folder belongs to {ME}, not to {OTHER}"
    assert expected in result["log"]
    assert expected in refusals(course)


def test_symbolic_link_is_refused_and_its_target_never_copied(course):
    secret = course / "solutions.ipynb"
    secret.write_text("the instructor's solution")
    earlier = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(seconds=2)
    submit(course, ME, when=earlier, files={"answer.ipynb": "honest"})
    bad = submit(course, ME, files={"answer.ipynb": "x"})
    (bad / "answer.ipynb").unlink()
    (bad / "answer.ipynb").symlink_to(secret)
    result = collect(course)
    assert f"REFUSED submission {bad.name}: {bad.name}/answer.ipynb is a symbolic link" in result["log"]
    assert collected(course, ME)["answer.ipynb"] == "honest"  # the latest acceptable one instead
    assert all("instructor's solution" not in text for text in collected(course, ME).values())


def test_linked_submission_folder_is_refused(course):
    target = course / "elsewhere"
    target.mkdir()
    (target / "answer.ipynb").write_text("not handed in")
    ts = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    (target / "timestamp.txt").write_text(ts)
    link = course / "exchange" / "course" / "inbound" / f"{ME}+{A}+{ts}+abc"
    link.symlink_to(target)
    result = collect(course)
    assert f"REFUSED submission {link.name}: it is not a folder" in result["log"]
    assert collected(course, ME) == {}


def test_backdated_submission_is_refused(course):
    """Renaming a late submission (and its timestamp.txt) to a time before the due date does not move its ctime."""
    hour_ago = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(hours=1)
    bad = submit(course, ME, when=hour_ago)
    result = collect(course)
    assert f"REFUSED submission {bad.name}: the submission folder was changed at" in result["log"]
    assert "but the submission claims" in result["log"] and collected(course, ME) == {}


def test_timestamp_file_must_agree_with_the_name(course):
    bad = submit(course, ME, stamp="2020-01-01 00:00:00.000000 UTC")
    result = collect(course)
    assert f"REFUSED submission {bad.name}: its timestamp.txt says '2020-01-01 00:00:00.000000 UTC'" in result["log"]
    assert collected(course, ME) == {}


def test_file_changed_after_submission_is_refused(course):
    earlier = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - exchange.SLACK - dt.timedelta(minutes=1)
    bad = submit(course, ME, when=earlier)
    for p in [bad, *bad.iterdir()]:  # everything as it was at `earlier` ...
        os.utime(p, (earlier.replace(tzinfo=dt.timezone.utc).timestamp(),) * 2)
    result = collect(course)  # ... but utime cannot set the status-change time back
    assert f"REFUSED submission {bad.name}" in result["log"] and collected(course, ME) == {}


def test_pipe_is_refused_without_blocking(course):
    bad = submit(course, ME)
    os.mkfifo(bad / "answer.fifo")
    result = collect(course)
    assert f"REFUSED submission {bad.name}: {bad.name}/answer.fifo is not a regular file" in result["log"]


def test_unparseable_name_is_refused_and_others_still_collected(course):
    junk = course / "exchange" / "course" / "inbound" / f"{ME}+{A}+not-a-time"
    junk.mkdir()
    submit(course, ME, files={"answer.ipynb": "good"})
    result = collect(course)
    assert result["success"], result
    assert f"REFUSED submission {junk.name}: its name is not <student>+<assignment>+<timestamp>" in result["log"]
    assert collected(course, ME)["answer.ipynb"] == "good"


def test_oversized_submission_is_refused(course, monkeypatch):
    bad = submit(course, ME, files={"answer.ipynb": "x" * 3000})
    monkeypatch.setattr(CourseDirectory, "max_dir_size", 2)  # kilobytes
    result = collect(course)
    assert f"REFUSED submission {bad.name}: the submission is larger than 2000 bytes" in result["log"]


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_file_of_another_user_inside_is_refused(course):
    bad = submit(course, ME)
    planted = bad / "planted.py"
    planted.write_text("import os")
    os.chown(planted, 65534, 65534)
    result = collect(course)
    assert f"REFUSED submission {bad.name}: {bad.name}/planted.py belongs to nobody, not to {ME}" in result["log"]
