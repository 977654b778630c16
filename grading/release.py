"""The student release (make release, scripts/release.py): regenerate notebooks/ from solutions/.

A notebook in notebooks/ that differs from what the last release wrote is somebody's work
(a student's answers, an instructor's hand edit). It is never overwritten silently:
without FORCE=1 the release stops and names the files; with FORCE=1 they are first
copied to release-backups/<timestamp>/ and then replaced.

It also registers every assignment in the root gradebook (gradebook.db, git-ignored), so that
`nbgrader autograde <assignment>` works at once from the repository root, and it checks the rubrics
of solutions/ (grading/rubric.py): a malformed rubric stops the release, a manually graded answer
without one is reported.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

from . import course_dir as ct


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_manifest(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}


def modified_files(notebooks: Path, manifest: dict) -> list[str]:
    """Release files that are not byte-for-byte what the last release wrote."""
    out = []
    for p in sorted(notebooks.rglob("*")):
        if not p.is_file() or p.name.startswith(".") or ".ipynb_checkpoints" in p.parts:
            continue
        rel = p.relative_to(notebooks).as_posix()
        if manifest.get(rel) != sha256(p):
            out.append(rel)
    return out


def release(notebooks: Path, generated: dict[str, Path], force: bool, backups: Path) -> int:
    """Replace notebooks/<assignment>/ with the generated folders, guarding unreleased edits."""
    manifest_path = notebooks / ".release-manifest.json"
    manifest = load_manifest(manifest_path)
    changed = [rel for rel in modified_files(notebooks, manifest) if rel.split("/")[0] in generated]
    if changed and not force:
        print("make release refused: these files in notebooks/ differ from what the last release wrote,")
        print("so they hold someone's work (a student's answers or a hand edit):")
        for rel in changed:
            print(f"  notebooks/{rel}")
        print("Nothing was changed. Save that work elsewhere, or run `make release FORCE=1`,")
        print("which first copies those files to release-backups/<timestamp>/ and then regenerates.")
        return 2
    if changed:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for rel in changed:
            dest = backups / stamp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(notebooks / rel, dest)
        print(f"FORCE=1: backed up {len(changed)} modified file(s) to {backups / stamp}")
    new_manifest = {k: v for k, v in manifest.items() if k.split("/")[0] not in generated}
    for assignment, src in generated.items():
        dest = notebooks / assignment
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(src, dest)
        for p in sorted(dest.rglob("*")):
            if p.is_file():
                p.chmod(0o644)
                new_manifest[p.relative_to(notebooks).as_posix()] = sha256(p)
        print(f"released notebooks/{assignment}/ ({len(list(dest.glob('*.ipynb')))} notebooks)")
    notebooks.mkdir(exist_ok=True)
    manifest_path.write_text(json.dumps(dict(sorted(new_manifest.items())), indent=1) + "\n")
    return 0


def rubric_problems(assignments: list[str]) -> tuple[list[str], list[str]]:
    """(errors, warnings) about the rubrics of the source notebooks: malformed ones are errors."""
    import nbformat

    from .rubric import check_notebook

    errors, warnings = [], []
    for a in assignments:
        for path in sorted((ct.SOLUTIONS / a).glob("*.ipynb")):
            for problem in check_notebook(nbformat.read(path, as_version=4)):
                (warnings if problem.endswith("has no rubric") else errors).append(f"solutions/{a}/{path.name}: {problem}")
    return errors, warnings


def register_in_root_gradebook(assignment: str) -> None:
    """Generate the assignment at the repository root into a scratch folder: fills the root gradebook.db."""
    scratch = ct.BUILD / "scratch" / "root-release"
    ct.run_nbgrader(["generate_assignment", assignment, "--force",
                     f"--CourseDirectory.release_directory={scratch}"], ct.ROOT)
