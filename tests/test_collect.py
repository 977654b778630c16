"""Reading submissions (grading/collect.py): regular files only, never through a link, never blocking."""

import os
import socket
import threading

import pytest

from grading import collect


def test_a_regular_notebook_is_read(tmp_path):
    (tmp_path / "a.ipynb").write_bytes(b"{}")
    assert collect.read_regular(tmp_path / "a.ipynb") == b"{}"


@pytest.mark.parametrize("kind, says", [("symlink", "symbolic link"), ("fifo", "FIFO"), ("socket", "socket"),
                                        ("folder", "folder"), ("huge", "MiB")])
def test_what_is_not_a_small_regular_file_is_refused(tmp_path, kind, says):
    target = tmp_path / "01.ipynb"
    if kind == "symlink":
        (tmp_path / "other.ipynb").write_text("{}")
        os.symlink(tmp_path / "other.ipynb", target)
    elif kind == "fifo":
        os.mkfifo(target)
    elif kind == "socket":
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(target))
        s.close()
    elif kind == "folder":
        target.mkdir()
    else:
        with open(target, "wb") as f:
            f.truncate(collect.MAX_FILE_BYTES + 1)
    with pytest.raises(collect.Refused, match=says):
        collect.read_regular(target)


def test_a_fifo_never_blocks_even_when_it_replaces_a_file_after_the_check(tmp_path, monkeypatch):
    """lstat said regular, then the file became a FIFO: the non-blocking open and fstat refuse it at once."""
    target = tmp_path / "01.ipynb"
    os.mkfifo(target)
    real = os.lstat
    monkeypatch.setattr(collect.os, "lstat", lambda p: real(tmp_path / "decoy") if str(p) == str(target) else real(p))
    (tmp_path / "decoy").write_text("{}")
    done = []
    worker = threading.Thread(target=lambda: done.append(pytest.raises(collect.Refused, collect.read_regular, target)))
    worker.start()
    worker.join(10)
    assert done, "reading the FIFO blocked"


def test_student_folders_links_and_markup_names_are_refused(tmp_path):
    subs = tmp_path / "subs"
    for name in ("alice", "bob", "<img src=x onerror=1>"):
        (subs / name / "hw").mkdir(parents=True)
    os.symlink(subs / "alice", subs / "mallory")                   # a student folder that is a link
    (subs / "trudy").mkdir()
    os.symlink(subs / "alice" / "hw", subs / "trudy" / "hw")       # an assignment folder that is a link
    (subs / "carol").mkdir()                                       # no folder for this assignment: not a student
    (subs / "README.txt").write_text("names")
    found, refused = collect.find_submissions(subs, "hw")
    assert sorted(found) == ["alice", "bob"]
    assert "symbolic link" in refused["mallory"] and "symbolic link" in refused["trudy"]
    (label,) = [k for k in refused if k.startswith("refused-")]
    assert "not a plain name" in refused[label] and "<" not in label


def test_scan_reads_notebooks_and_reports_the_rest(tmp_path):
    (tmp_path / "01.ipynb").write_text("{}")
    os.mkfifo(tmp_path / "02.ipynb")
    (tmp_path / "timestamp.txt").write_text("2026-12-01 10:00:00")
    (tmp_path / "notes.py").write_text("not collected")
    sub = collect.scan(tmp_path)
    assert sorted(sub.files) == ["01.ipynb", "timestamp.txt"] and len(sub.problems) == 1 and "FIFO" in sub.problems[0]
    before = sub.digest()
    (tmp_path / "01.ipynb").write_text('{"x": 1}')
    assert collect.scan(tmp_path).digest() != before


def test_nbgrader_autograde_by_hand_refuses_a_linked_submission(tmp_path):
    from traitlets.config import Config

    folder = tmp_path / "submitted" / "alice" / "hw"
    folder.mkdir(parents=True)
    os.symlink("/etc/hostname", folder / "01.ipynb")
    config = Config()
    config.CourseDirectory.root = str(tmp_path)
    step = collect.RefuseUnsafeSubmission(config=config)
    with pytest.raises(collect.Refused, match="symbolic link"):
        step.preprocess({}, {"nbgrader": {"student": "alice", "assignment": "hw"}})
    os.unlink(folder / "01.ipynb")
    (folder / "01.ipynb").write_text("{}")
    assert step.preprocess({}, {"nbgrader": {"student": "alice", "assignment": "hw"}}) == ({}, {"nbgrader": {"student": "alice", "assignment": "hw"}})
