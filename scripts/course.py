"""make course: check the release, execute every solution, autograde reference and untouched.

Exits non-zero unless notebooks/ matches what solutions/ generates, every solution executes
without error, every reference scores full autograded marks and every untouched release scores 0.

The MNIST notebooks run once per seed of h.CONFIG.seeds (VAE_COURSE_SEED); with the course's converged
checkpoints (helpers/checkpoints/) they only load and measure. build/metrics.json gives every model's
numbers as a mean and standard error over the seeds, and must equal helpers/checkpoints/metrics.json,
the table the notebooks print (written by `make reference`, scripts/reference.py).
"""

from __future__ import annotations

import json
import shutil
import sys

from grading import course_dir as ct
from grading import sandbox as sb
from grading.classroom import NO_SANDBOX, grade_class
from grading.execute import run_parallel
from grading.gradebook import scores
from grading.seed_table import seed_table, table_differences


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

    # 2. Execute every solution headless; keep executed copies and figures under build/. The MNIST
    #    notebooks run once per seed (seed 0's copies are the executed notebooks; the others give the
    #    seed table), two series at a time.
    import helpers as h

    parts = build / "metrics_parts"
    shutil.rmtree(parts, ignore_errors=True)
    base_env = {"MPLBACKEND": "module://matplotlib_inline.backend_inline", "OMP_NUM_THREADS": "1"}
    jobs = {}
    for a in names:
        seeds = h.CONFIG.seeds if a == "mnist_vaes" else (0,)
        for seed in seeds:
            suffix = "" if seed == 0 else f"-seed{seed}"
            env = dict(base_env, VAE_COURSE_SEED=str(seed), VAE_COURSE_METRICS_DIR=str(parts / f"seed{seed}"))
            jobs[(a, seed)] = [(ct.SOLUTIONS / a / name, build / f"executed{suffix}" / a, build / f"figures{suffix}" / a, env)
                               for name in ct.notebook_names(a)]
    print(f"executing {sum(len(j) for j in jobs.values())} notebooks (the MNIST ones for seeds "
          f"{', '.join(map(str, h.CONFIG.seeds))}), two at a time ...", flush=True)
    results = run_parallel(jobs)
    exec_seconds = {}
    for (a, seed), series in jobs.items():
        for (src, *_), (secs, err) in zip(series, results[(a, seed)]):
            where = f"solutions/{a}/{src.name}" + (f" (seed {seed})" if seed else "")
            if seed == 0:
                exec_seconds[(a, src.name)] = secs
            if err:
                problems.append(f"{where} raised an error: {err}")

    # 3. Autograde the reference and the untouched release as a class of two: `make grade`'s workers,
    #    each in its own scratch course and gradebook, both at once.

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
        shutil.rmtree(out, ignore_errors=True)  # a check, not a term: no earlier run's gradebook or state
        for row in grade_class(a, subs, out, progress=False, sandbox=sandbox):
            if row["error"] and row["error"] != NO_SANDBOX:
                problems.append(f"autograde of {row['student']}/{a}: {row['error']}")
        for student in ("reference", "untouched"):
            graded[(student, a)] = scores(out, student, a)

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

    metrics = seed_table(parts)
    if metrics is not None:
        (build / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
        shipped = h.shipped_checkpoint_dir() / "metrics.json"
        if not shipped.exists():
            problems.append(f"{shipped} is missing: run `make reference`")
        else:
            diffs = table_differences(metrics, json.loads(shipped.read_text()))
            problems += [f"build/metrics.json differs from {shipped.relative_to(ct.ROOT)} (the table the notebooks "
                         f"print; run `make reference`): {d}" for d in diffs[:10]]
        for name, m in metrics["models"].items():
            if not all(m.get("stopped_early", [False])):
                problems.append(f"model {name}: early stopping did not end every seed's training "
                                f"(best epochs {m['best_epoch']['values']} of at most {m['max_epochs']})")
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
