"""The course's folders, and nbgrader run in scratch course folders (make course, release, grade, test).

Every nbgrader run here happens in a scratch course root with its own gradebook,
so nothing touches the instructor's gradebook or a student's notebooks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
NOTEBOOKS = ROOT / "notebooks"
# Where generated files go: $VAE_COURSE_BUILD, else build/ (as helpers.utils.build_dir says for the notebooks).
BUILD = Path(os.environ.get("VAE_COURSE_BUILD") or ROOT / "build")
MANIFEST = NOTEBOOKS / ".release-manifest.json"
NBGRADER = [sys.executable, "-m", "nbgrader"]
# Each assignment's hidden fixtures: solutions/<assignment>/hidden_fixtures.py holds the exercise's constants and
# exact expectations that its hidden tests import. Only the checker process and the instructor's own kernels
# import it; nbgrader_config.py keeps it out of every release (CourseDirectory.ignore).
FIXTURES_FILE = "hidden_fixtures.py"


def assignments() -> list[str]:
    """Names of the assignments: the folders of solutions/, or those named in $ASSIGNMENT (comma-separated)."""
    found = sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir() and not p.name.startswith("."))
    wanted = [a for a in os.environ.get("ASSIGNMENT", "").split(",") if a]
    unknown = sorted(set(wanted) - set(found))
    if unknown:
        raise SystemExit(f"unknown assignment(s) {unknown}: choose from {found} (ASSIGNMENT=name[,name])")
    return [a for a in found if a in wanted] if wanted else found


def source_folder(config) -> Path:
    """{CourseDirectory.root}/{CourseDirectory.source_directory} of an nbgrader configuration (root: the working
    directory, where nbgrader runs, when unset)."""
    course = config.get("CourseDirectory", {})
    return Path(course.get("root") or os.getcwd()) / (course.get("source_directory") or "source")


def notebook_names(assignment: str) -> list[str]:
    """File names of an assignment's notebooks, in order."""
    return sorted(p.name for p in (SOLUTIONS / assignment).glob("*.ipynb"))


def nbgrader_env() -> dict:
    """The environment nbgrader runs in: this interpreter's bin/ first on PATH, quiet warnings, agg figures."""
    env = dict(os.environ)
    # nbgrader runs helper programs (alembic) by name: put this interpreter's bin/ first on PATH.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("PYTHONWARNINGS", "ignore")
    env.setdefault("MPLBACKEND", "agg")
    return env


def run_nbgrader(args: list[str], course_root: Path, check: bool = True, quiet: bool = True) -> subprocess.CompletedProcess:
    """Run `nbgrader <args>` in course_root (its own config and gradebook)."""
    proc = subprocess.run(NBGRADER + args, cwd=course_root, env=nbgrader_env(), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed in {course_root}:\n{proc.stdout}\n{proc.stderr}")
    if not quiet:
        sys.stdout.write(proc.stdout + proc.stderr)
    return proc


def scratch_course(root: Path, assignments_: list[str] | None = None) -> Path:
    """Make a fresh course folder at root with the config and solutions/ copied in."""
    if root.exists():
        shutil.rmtree(root)
    (root / "solutions").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    for a in assignments_ or assignments():
        shutil.copytree(SOLUTIONS / a, root / "solutions" / a,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return root


def generate(root: Path, assignment: str) -> Path:
    """nbgrader generate_assignment into root/notebooks/<assignment>; return that folder."""
    run_nbgrader(["generate_assignment", assignment, "--force"], root)
    return root / "notebooks" / assignment


def normalized(path: Path) -> str:
    """A notebook's JSON with sorted keys, for comparing two releases."""
    with open(path) as f:
        return json.dumps(json.load(f), sort_keys=True, indent=1)


def release_differences(generated: Path, released: Path) -> list[str]:
    """Names of notebooks that differ between a fresh generation and notebooks/<assignment>."""
    diffs = []
    names = {p.name for p in generated.glob("*.ipynb")} | {p.name for p in released.glob("*.ipynb")}
    for name in sorted(names):
        g, r = generated / name, released / name
        if not g.exists():
            diffs.append(f"{name}: in notebooks/ but not generated from solutions/")
        elif not r.exists():
            diffs.append(f"{name}: generated from solutions/ but missing from notebooks/")
        elif normalized(g) != normalized(r):
            diffs.append(f"{name}: differs from what solutions/ generates")
    return diffs


def submit(root: Path, student: str, assignment: str, source_dir: Path) -> None:
    """Place a student's notebooks in root/submitted/<student>/<assignment>/."""
    dest = root / "submitted" / student / assignment
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for nb in sorted(Path(source_dir).glob("*.ipynb")):
        shutil.copy(nb, dest / nb.name)


def autograde(root: Path, student: str, assignment: str) -> subprocess.CompletedProcess:
    """nbgrader autograde one student's submission (does not raise on a failing notebook)."""
    return run_nbgrader(["autograde", assignment, "--student", student, "--force"], root, check=False)
