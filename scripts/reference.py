"""make reference: train the course's MNIST models to convergence for every seed, and ship them.

Runs the three solution notebooks of mnist_vaes once per seed of h.CONFIG.seeds with
VAE_COURSE_BUDGET=converge (every model trains until early stopping ends it), two seeds at a time,
into build/reference/checkpoints/ (kept between runs, so an interrupted run resumes; --fresh starts
over). The course's own checkpoints are hidden meanwhile, so nothing old is reused. At the end it
replaces helpers/checkpoints/ with what the run used and writes helpers/checkpoints/metrics.json,
the seed table that the notebooks print and that `make course` recomputes and compares.

Developers run it after changing anything a checkpoint's key depends on (h.CONFIG, the networks,
a loss in a notebook, the data); `make course` says when that is needed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time

from grading import course_dir as ct
from grading.execute import run_parallel
from grading.seed_table import seed_table


def main() -> int:
    import helpers as h

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", action="store_true", help="forget the checkpoints of an earlier run")
    args = parser.parse_args()

    work = ct.BUILD / "reference"
    ckpt, parts, empty = work / "checkpoints", work / "metrics_parts", work / "no-shipped-checkpoints"
    if args.fresh:
        shutil.rmtree(ckpt, ignore_errors=True)
    shutil.rmtree(parts, ignore_errors=True)
    for folder in (ckpt, empty):
        folder.mkdir(parents=True, exist_ok=True)
    a = "mnist_vaes"
    jobs = {}
    for seed in h.CONFIG.seeds:
        env = {"MPLBACKEND": "module://matplotlib_inline.backend_inline", "OMP_NUM_THREADS": "1",
               "VAE_COURSE_SEED": str(seed), "VAE_COURSE_BUDGET": "converge",
               "VAE_COURSE_CHECKPOINTS": str(ckpt), "VAE_COURSE_SHIPPED_CHECKPOINTS": str(empty),
               "VAE_COURSE_METRICS_DIR": str(parts / f"seed{seed}")}
        # allow_errors: a claim that the new models no longer meet must not stop the training after it
        # (make course checks every claim against the new table)
        jobs[seed] = [(ct.SOLUTIONS / a / name, work / f"executed-seed{seed}" / a, work / f"figures-seed{seed}" / a, env,
                       True) for name in ct.notebook_names(a)]
    start = time.perf_counter()
    print(f"training every MNIST model to convergence for seeds {h.CONFIG.seeds}, two seeds at a time ...", flush=True)
    results = run_parallel(jobs)
    for seed, series in jobs.items():
        for (src, *_), (secs, err) in zip(series, results[seed]):
            print(f"  seed {seed} {src.name}: {secs:.0f} s" + (f" (first error, see {work}: {err})" if err else ""))
    table = seed_table(parts)
    expected = {"base", "base2d", "classifier"}
    missing = [f"seed {s}: {m}" for s in h.CONFIG.seeds for m in sorted(expected)
               if not (parts / f"seed{s}" / f"{m}.json").exists()]
    unconverged = [n for n, m in (table or {}).get("models", {}).items() if not all(m["stopped_early"])]
    if table is None or missing or unconverged:
        print("make reference FAILED (helpers/checkpoints/ left as it was): "
              f"missing metrics {missing}, not stopped early {unconverged}")
        return 1
    shipped = ct.ROOT / "helpers" / "checkpoints"
    shipped.mkdir(exist_ok=True)
    for old in shipped.glob("*.pt"):
        old.unlink()
    for new in sorted(ckpt.glob("mnist-*.pt")):
        shutil.copyfile(new, shipped / new.name)
        (shipped / new.name).chmod(0o644)   # readable by every user of a shared machine (a hub)
    (shipped / "metrics.json").write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")
    size = sum(f.stat().st_size for f in shipped.glob("*.pt"))
    print(f"\nmake reference OK in {time.perf_counter() - start:.0f} s: {len(list(shipped.glob('*.pt')))} checkpoints "
          f"({size / 1e6:.1f} MB) and metrics.json in {shipped.relative_to(ct.ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
