"""make course: check the release, execute every solution, autograde reference and untouched.

Exits non-zero unless notebooks/ matches what solutions/ generates, every solution executes
without error, every reference scores full autograded marks and every untouched release scores 0.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
import time
from pathlib import Path

import coursetools as ct


def execute(src: Path, out_dir: Path, fig_dir: Path, env: dict) -> tuple[float, str | None]:
    """Execute a notebook headless in out_dir; save it and its PNG figures. Return (seconds, error)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    out_dir.mkdir(parents=True, exist_ok=True)
    fig_dir.mkdir(parents=True, exist_ok=True)
    nb = nbformat.read(src, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(out_dir)}})
    old = dict(os.environ)
    os.environ.update(env)
    error = None
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as exc:
        error = str(exc).strip().splitlines()[-1][:300]
    finally:
        seconds = time.perf_counter() - start
        os.environ.clear()
        os.environ.update(old)
    nbformat.write(nb, out_dir / src.name)
    n = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png") if output.get("output_type") in ("display_data", "execute_result") else None
            if png:
                n += 1
                (fig_dir / f"{src.stem}-{n:02d}.png").write_bytes(base64.b64decode(png))
    return seconds, error


def merge_metrics(parts: Path, dest: Path) -> dict | None:
    """Merge the per-model JSON files the MNIST notebooks wrote into build/metrics.json."""
    files = sorted(parts.glob("*.json")) if parts.exists() else []
    if not files:
        return None
    merged = {"classifier_accuracy": None, "models": {}}
    for f in files:
        data = json.loads(f.read_text())
        if f.stem == "classifier":
            merged["classifier_accuracy"] = data["accuracy"]
        else:
            merged["models"][f.stem] = data
    dest.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
    return merged


def main() -> int:
    build = ct.BUILD
    build.mkdir(exist_ok=True)
    names = ct.assignments()  # fixed once, so a folder appearing mid-run cannot confuse the report
    problems: list[str] = []
    rows = []

    # 1. The committed student release is exactly what nbgrader generates from solutions/.
    release_root = ct.scratch_course(build / "scratch" / "release")
    for a in names:
        diffs = ct.release_differences(ct.generate(release_root, a), ct.NOTEBOOKS / a)
        problems += [f"notebooks/{a}/{d} (run `make release`)" for d in diffs]

    # 2. Execute every solution headless; keep executed copies and figures under build/.
    parts = build / "metrics_parts"
    shutil.rmtree(parts, ignore_errors=True)
    env = {"VAE_COURSE_METRICS_DIR": str(parts), "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    exec_seconds, exec_errors = {}, {}
    for a in names:
        for name in ct.notebook_names(a):
            print(f"executing solutions/{a}/{name} ...", flush=True)
            secs, err = execute(ct.SOLUTIONS / a / name, build / "executed" / a, build / "figures" / a, env)
            exec_seconds[(a, name)] = secs
            if err:
                exec_errors[(a, name)] = err
                problems.append(f"solutions/{a}/{name} raised an error: {err}")

    # 3. Autograde the reference and the untouched release as a class of two: `make grade`'s workers,
    #    each in its own scratch course and gradebook, both at once.
    import grade
    from grading import sandbox as sb

    # The reference and the untouched release are the course's own code: grading them needs no sandbox,
    # but uses it where it can run, so that `make course` also checks the sandbox works.
    sandbox = "none" if sb.sandbox_mode() == "none" or sb.sandbox_problem() else "bwrap"
    if sandbox == "none":
        print(f"note: grading without the sandbox here ({sb.sandbox_problem() or 'VAE_SANDBOX=none'})", flush=True)
    graded = {}
    for a in names:
        subs = build / "scratch" / f"class-{a}"
        shutil.rmtree(subs, ignore_errors=True)
        shutil.copytree(ct.SOLUTIONS / a, subs / "reference" / a)
        shutil.copytree(release_root / "notebooks" / a, subs / "untouched" / a)
        print(f"autograding reference and untouched {a} ...", flush=True)
        out = build / "scratch" / f"grading-{a}"
        for row in grade.grade_class(a, subs, out, progress=False, sandbox=sandbox):
            if row["error"] and row["error"] != grade.NO_SANDBOX:
                problems.append(f"autograde of {row['student']}/{a}: {row['error']}")
        for student in ("reference", "untouched"):
            graded[(student, a)] = ct.scores(out, student, a)

    for a in names:
        for name in ct.notebook_names(a):
            stem = name[:-len(".ipynb")]
            ref = graded[("reference", a)].get(stem)
            unt = graded[("untouched", a)].get(stem)
            row = {"assignment": a, "notebook": stem, "execute_s": round(exec_seconds[(a, name)], 1),
                   "reference": ref, "untouched": unt}
            rows.append(row)
            if ref is None or unt is None:
                problems.append(f"{a}/{stem}: not graded")
                continue
            if ref["auto_max"] <= 0:
                problems.append(f"{a}/{stem}: has no autograded points")
            if abs(ref["auto"] - ref["auto_max"]) > 1e-9:
                problems.append(f"{a}/{stem}: reference scored {ref['auto']:g}/{ref['auto_max']:g}, expected full marks")
            if abs(unt["auto"]) > 1e-9:
                problems.append(f"{a}/{stem}: untouched release scored {unt['auto']:g}, expected exactly 0")

    metrics = merge_metrics(parts, build / "metrics.json")
    (build / "course.json").write_text(json.dumps({"rows": rows, "problems": problems}, indent=2) + "\n")

    print()
    header = f"{'notebook':<46} {'execute s':>9} {'reference':>12} {'untouched':>9} {'manual pts':>10}"
    print(header)
    print("-" * len(header))
    for r in rows:
        ref, unt = r["reference"] or {}, r["untouched"] or {}
        ref_s = f"{ref.get('auto', 0):g}/{ref.get('auto_max', 0):g}" if ref else "n/a"
        unt_s = f"{unt.get('auto', 0):g}" if unt else "n/a"
        print(f"{r['assignment'] + '/' + r['notebook']:<46} {r['execute_s']:>9.1f} {ref_s:>12} {unt_s:>9} "
              f"{ref.get('manual_max', 0):>10g}")
    print(f"\ntotal execute time: {sum(r['execute_s'] for r in rows):.1f} s; "
          "manual points are graded by hand and not counted above.")
    print(f"executed notebooks: {build / 'executed'}   figures: {build / 'figures'}")
    if metrics:
        print(f"metrics: {build / 'metrics.json'}")
    if problems:
        print("\nmake course FAILED:")
        for p in problems:
            print(f"  - {p}")
        return 1
    print("\nmake course OK: every reference at full marks, every untouched release at 0.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
