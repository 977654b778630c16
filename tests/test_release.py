"""The student release: generated from solutions/, committed without outputs, never overwriting work."""

import json
import shutil

import nbformat
import pytest

from grading import course_dir as ct
from grading import release


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = ct.scratch_course(tmp_path_factory.mktemp("release") / "course")
    return {a: ct.generate(root, a) for a in ct.assignments()}


def test_notebooks_are_what_solutions_generate(generated):
    for assignment, folder in generated.items():
        assert ct.release_differences(folder, ct.NOTEBOOKS / assignment) == [], "run `make release`"


def test_manifest_describes_the_committed_release():
    manifest = json.loads(ct.MANIFEST.read_text())
    files = {p.relative_to(ct.NOTEBOOKS).as_posix() for p in ct.NOTEBOOKS.rglob("*.ipynb")}
    assert set(manifest) == files
    assert release.modified_files(ct.NOTEBOOKS, manifest) == []


@pytest.mark.parametrize("folder", [ct.SOLUTIONS, ct.NOTEBOOKS], ids=["solutions", "notebooks"])
def test_no_notebook_is_committed_with_outputs(folder):
    for path in folder.rglob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{path} has outputs: clear them"


def test_release_strips_solutions_and_hidden_tests():
    for path in ct.NOTEBOOKS.rglob("*.ipynb"):
        text = path.read_text()
        for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "Reference answer"):
            assert marker not in text, f"{path} leaks {marker!r}"
        assert "raise NotImplementedError()" in text


def fake_release(tmp_path, generated):
    """A notebooks/ folder as the last release left it, plus that release's generated folders."""
    notebooks = tmp_path / "notebooks"
    assert release.release(notebooks, generated, force=False, backups=tmp_path / "backups") == 0
    return notebooks


def test_release_refuses_to_overwrite_a_students_work(tmp_path, generated, capsys):
    notebooks = fake_release(tmp_path, generated)
    target = sorted(notebooks.rglob("*.ipynb"))[0]
    target.write_text(target.read_text().replace("YOUR CODE HERE", "my answer", 1))
    work = target.read_bytes()
    assert release.release(notebooks, generated, force=False, backups=tmp_path / "backups") == 2
    assert target.read_bytes() == work
    out = capsys.readouterr().out
    assert "refused" in out and target.relative_to(notebooks).as_posix() in out and "FORCE=1" in out
    assert not (tmp_path / "backups").exists()


def test_forced_release_backs_up_the_work_first(tmp_path, generated):
    notebooks = fake_release(tmp_path, generated)
    target = sorted(notebooks.rglob("*.ipynb"))[0]
    rel = target.relative_to(notebooks)
    target.write_text(target.read_text().replace("YOUR CODE HERE", "my answer", 1))
    work = target.read_bytes()
    assert release.release(notebooks, generated, force=True, backups=tmp_path / "backups") == 0
    backups = list((tmp_path / "backups").glob(f"*/{rel.as_posix()}"))
    assert len(backups) == 1 and backups[0].read_bytes() == work
    assert target.read_bytes() == (generated[rel.parts[0]] / rel.name).read_bytes()
    assert release.release(notebooks, generated, force=False, backups=tmp_path / "backups") == 0


def test_an_unreleased_extra_file_counts_as_work(tmp_path, generated):
    notebooks = fake_release(tmp_path, generated)
    assignment = next(iter(generated))
    extra = notebooks / assignment / "my_notes.ipynb"
    shutil.copy(next((notebooks / assignment).glob("*.ipynb")), extra)
    assert release.release(notebooks, generated, force=False, backups=tmp_path / "backups") == 2
    assert extra.exists()
