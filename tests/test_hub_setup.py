"""hub/run.py's setup, without starting a hub: names and accounts, and the class's view of the repository.

The whole hub (accounts, servers, attacks) is tested in the browser by tests/e2e/test_hub.py (make e2e).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from grading.course_dir import ROOT

spec = importlib.util.spec_from_file_location("hub_run", ROOT / "hub" / "run.py")
run = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run)


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_roster_names_become_prefixed_accounts(tmp_path):
    roster = tmp_path / "roster.txt"
    roster.write_text("# spring term\nalice\n\n  bob   # late joiner\n")
    assert run.read_roster(roster) == ["alice", "bob"]
    everyone = run.people("instructor", run.read_roster(roster), "vae-")
    assert [(p.name, p.account, p.role) for p in everyone] == [
        ("instructor", "vae-instructor", "instructor"), ("alice", "vae-alice", "student"), ("bob", "vae-bob", "student")]


@pytest.mark.parametrize("students, problem", [
    (["Alice"], "cannot name an account"), (["al ice"], "cannot name an account"), (["bob;rm"], "cannot name an account"),
    (["x" * 29], "at most 32 characters"), (["alice", "alice"], "appears twice"), (["instructor"], "appears twice")])
def test_names_that_cannot_be_accounts_are_refused(students, problem):
    with pytest.raises(run.HubError, match=problem):
        run.people("instructor", students, "vae-")


def test_an_account_the_hub_did_not_create_is_refused(tmp_path):
    """A roster name that meets a system user (here `nobody`) never borrows it."""
    with pytest.raises(run.HubError, match="'nobody' exists and was not created by the hub"):
        run.ensure_account("nobody", tmp_path / "home")


def test_the_repository_is_closed_but_for_what_the_class_runs(tmp_path):
    repo = tmp_path / "repo"
    for name in (*run.SHARED, "solutions", "tests", ".git", "build"):
        (repo / name).mkdir(parents=True)
        (repo / name).chmod(0o755)
    (repo / "README.md").write_text("x")
    (repo / "README.md").chmod(0o644)
    (repo / "link").symlink_to(repo / "solutions")
    repo.chmod(0o755)
    changed = run.close_repository(repo)
    assert sorted(changed) == sorted([f"{repo / n} o-rwx" for n in ("solutions", "tests", ".git", "build", "README.md")])
    assert {n: mode(repo / n) for n in ("solutions", "tests", ".git", "build", "README.md")} == {
        "solutions": 0o750, "tests": 0o750, ".git": 0o750, "build": 0o750, "README.md": 0o640}
    assert all(mode(repo / n) == 0o755 for n in run.SHARED) and mode(repo) == 0o755
    assert run.close_repository(repo) == []  # once is enough


def test_the_way_is_opened_for_traversal_only():
    top = Path(tempfile.mkdtemp(prefix="vae-open-way-"))  # in /tmp, not in pytest's folder (whose way is closed)
    try:
        (top / "a" / "b").mkdir(parents=True)
        (top / "a").chmod(0o700)
        top.chmod(0o750)
        assert run.open_way(top / "a" / "b" / "c") == [f"{top} o+x", f"{top / 'a'} o+x"]
        assert (mode(top), mode(top / "a")) == (0o751, 0o701)  # entered, never listed
    finally:
        shutil.rmtree(top)


def test_files_any_user_may_change_are_found(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "ok.py").write_text("")
    (tmp_path / "pkg" / "open.py").write_text("")
    (tmp_path / "pkg" / "open.py").chmod(0o666)
    (tmp_path / "pkg" / "tmp").mkdir()
    (tmp_path / "pkg" / "tmp").chmod(0o1777)  # sticky, like /tmp: nobody replaces another's files
    (tmp_path / "pkg" / "link").symlink_to("/etc/hostname")
    assert run.writable_by_others(tmp_path / "pkg") == [str(tmp_path / "pkg" / "open.py")]
