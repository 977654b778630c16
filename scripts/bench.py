"""make bench: how fast the course runs and grades. Writes build/bench.json and prints a table.

- notebooks: per <assignment>/<notebook>, the median execute time of 3 headless runs, each in a
  fresh kernel, and the kernel's peak RSS (VmHWM, read by a cell appended to a copy);
- course_execute_s: the sum of those medians;
- mnist_from_scratch_s: each MNIST notebook once, in a folder of its own with no checkpoint at all
  (neither the course's converged models nor a cache), as a student whose functions differ from the
  reference's runs it: every model trains its short run (CONFIG.quick_epochs);
- autograde_s: per assignment, nbgrader autograde of one complete reference submission, median of 3;
- class_grading_submissions_per_min: `make grade` (scripts/grade.py) on 12 submissions, all cores;
- class_grading_dask: the same class by the local pool (JOBS=2) and on 1 and 2 single-threaded Dask workers
  (separate processes, through a scheduler's address like make grade SCHEDULER=...), and the cluster's start-up;
  `scripts/bench.py --only class [--rounds n]` measures these alone (build/bench-class.json);
- train_overhead_ratio: seconds per epoch of helpers' training loop over a minimal plain-PyTorch
  loop (same model, data, batch size and threads), measured alternately in one process;
- machine: CPU count, torch version and threads, and python_loop_s (the seconds a fixed pure-Python loop
  takes: the machine's speed on the day, to compare bench.json files).
Timings live here, never in the test suite.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grading import course_dir as ct
from grading.classroom import grade_class
from grading.execute import private_kernel
from grading.gradebook import scores

RUNS = 3
TARGETS = {"course_execute_s": 180.0, "autograde_s": 120.0, "train_overhead_ratio": 1.05, "peak_rss_mb": 2048.0,
           "mnist_from_scratch_s": 90.0, "mnist_cached_s": 60.0, "local_over_dask_2_workers": 1.2}
# VmHWM is the peak RSS of this address space; getrusage's ru_maxrss would also carry over the
# high-water mark of the process that forked the kernel (Linux keeps it across exec).
RSS_CELL = "print('PEAK_RSS_KB', [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"


def execute_once(path: Path, workdir: Path) -> tuple[float, float]:
    """Run a copy of the notebook in a fresh kernel; return (seconds, kernel peak RSS in MB)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(RSS_CELL))
    with private_kernel(timeout=900, resources={"metadata": {"path": str(workdir)}}) as options:
        start = time.perf_counter()
        NotebookClient(nb, **options).execute()
        seconds = time.perf_counter() - start
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    kb = int(text.split("PEAK_RSS_KB")[1].split()[0])
    return seconds, kb / 1024


def bench_notebooks(workdir: Path) -> dict:
    out = {}
    for a in ct.assignments():
        # each notebook runs next to its assignment's others, as a student's do (02 and 03 read 01's functions)
        folder = workdir / "notebooks" / a
        shutil.copytree(ct.SOLUTIONS / a, folder)
        for name in ct.notebook_names(a):
            runs = [execute_once(folder / name, folder) for _ in range(RUNS)]
            key = f"{a}/{name[:-len('.ipynb')]}"
            out[key] = {"execute_s": round(statistics.median(r[0] for r in runs), 2),
                        "runs_s": [round(r[0], 2) for r in runs],
                        "peak_rss_mb": round(max(r[1] for r in runs), 1)}
            print(f"  {key:<48} {out[key]['execute_s']:7.2f} s  {out[key]['peak_rss_mb']:7.1f} MB", flush=True)
    return out


def bench_from_scratch(workdir: Path) -> dict:
    """Execute each MNIST notebook once with no checkpoint anywhere: every model trains its quick run."""
    out = {}
    a = "mnist_vaes"
    for name in ct.notebook_names(a):
        folder = workdir / f"scratch-{name[:-len('.ipynb')]}"
        shutil.copytree(ct.SOLUTIONS / a, folder / a)
        saved = dict(os.environ)
        os.environ.update(VAE_COURSE_CHECKPOINTS=str(folder / "checkpoints"),
                          VAE_COURSE_SHIPPED_CHECKPOINTS=str(folder / "no-shipped-checkpoints"),
                          VAE_COURSE_BUDGET="quick")
        try:
            seconds, rss = execute_once(folder / a / name, folder / a)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        key = f"{a}/{name[:-len('.ipynb')]}"
        out[key] = {"execute_s": round(seconds, 2), "peak_rss_mb": round(rss, 1)}
        print(f"  from scratch {key:<35} {seconds:7.2f} s  {rss:7.1f} MB", flush=True)
    return out


def bench_autograde(workdir: Path) -> dict:
    out = {}
    for a in ct.assignments():
        root = ct.scratch_course(workdir / f"autograde-{a}", [a])
        ct.generate(root, a)
        times = []
        for k in range(RUNS):
            student = f"reference{k}"
            ct.submit(root, student, a, ct.SOLUTIONS / a)
            start = time.perf_counter()
            ct.autograde(root, student, a)
            times.append(time.perf_counter() - start)
            score = scores(root, student, a)
            assert all(abs(s["auto"] - s["auto_max"]) < 1e-9 for s in score.values()), f"reference {a} not at full marks"
        out[a] = round(statistics.median(times), 2)
        print(f"  autograde {a:<38} {out[a]:7.2f} s", flush=True)
    return out


def class_folder(workdir: Path, assignment: str = "vae_by_hand", size: int = 12) -> Path:
    """A class of `size` submissions: two thirds complete, one third untouched."""
    subs = workdir / f"class-{assignment}-{size}"
    if not subs.exists():
        for k in range(size):
            src = ct.SOLUTIONS if k % 3 else ct.NOTEBOOKS
            shutil.copytree(src / assignment, subs / f"student{k:02d}" / assignment)
    return subs


def bench_class(workdir: Path, assignment: str = "vae_by_hand", size: int = 12, sandbox: str = "bwrap",
                scheduler: str | None = None, label: str | None = None, jobs: int | None = None) -> float:
    """Submissions per minute when `make grade` grades a class of `size` (sandbox: bwrap or none; scheduler: the
    address of a Dask scheduler, or None for the local pool of `jobs` threads, every core by default)."""
    subs = class_folder(workdir, assignment, size)
    label = label or f"{sandbox}-{jobs or os.cpu_count()} local jobs"
    out = workdir / f"class-out-{label.replace(' ', '-')}"
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    rows = grade_class(assignment, subs, out, jobs=jobs, progress=False, sandbox=sandbox, scheduler=scheduler)
    rate = size / ((time.perf_counter() - start) / 60)
    assert len(rows) == size and all(r["graded_now"] == "yes" for r in rows), f"{label}: not every submission was graded"
    print(f"  class grading ({size} x {assignment}, {label}, sandbox {sandbox}): {rate:.1f} submissions/min", flush=True)
    return round(rate, 2)


def bench_class_on_dask(workdir: Path, rounds: int = 1) -> dict:
    """The same class graded by the local pool (JOBS=2) and by 1 and 2 single-threaded Dask workers (separate
    processes of a LocalCluster on 127.0.0.1, reached through SCHEDULER as a remote cluster is), in turn, `rounds`
    times; medians, and the cluster's start-up time."""
    from distributed import LocalCluster

    runs = {"local_jobs2": [], "dask_1_worker": [], "dask_2_workers": []}
    startup = []
    for _ in range(rounds):
        runs["local_jobs2"].append(bench_class(workdir, jobs=2, label="local pool, JOBS=2"))
        for n, key in ((2, "dask_2_workers"), (1, "dask_1_worker")):
            start = time.perf_counter()
            with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                              dashboard_address=None, worker_dashboard_address=None) as cluster:
                startup.append(time.perf_counter() - start)
                runs[key].append(bench_class(workdir, scheduler=cluster.scheduler_address,
                                             label=f"{n} Dask worker{'s' * (n > 1)}, 1 thread each"))
    out = {k: round(statistics.median(v), 2) for k, v in runs.items()}
    out["runs"] = runs
    out["local_over_dask_2_workers"] = round(out["local_jobs2"] / out["dask_2_workers"], 3)
    out["cluster_startup_s"] = round(statistics.median(startup), 2)
    return out


def bench_training_overhead(epochs: int = 8, rounds: int = 15) -> dict:
    """Seconds per epoch of h.train_vae over a bare loop (forward, loss, backward, step), alternated."""
    from dataclasses import replace

    import torch

    import helpers as h

    def loss_fn(x, x_hat, mu, log_var, labels):  # the reference beta-VAE loss, here only to drive both loops
        recon = torch.sum((x - x_hat) ** 2, dim=1).mean()
        kl = (-0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp(), dim=1)).mean()
        return recon + 0.35 * kl, recon, kl

    def reparameterize(mu, log_var):
        return mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)

    os.environ["NBGRADER_EXECUTION"] = "bench"  # no progress bar in either loop
    data = h.load_mnist()
    config = replace(h.CONFIG, patience=10 ** 6)  # run every epoch: no early stop
    x_tr, y_tr, _, _ = h.split_validation(data.x_train, data.y_train, config.val_fraction, config.seed)

    def helpers_loop():
        torch.manual_seed(0)
        model = h.make_vae()
        start = time.perf_counter()
        h.train_vae(model, data, loss_fn, reparameterize, max_epochs=epochs, config=config)
        return (time.perf_counter() - start) / epochs

    def bare_loop():
        torch.manual_seed(0)
        model = h.make_vae()
        optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
        order = torch.Generator().manual_seed(config.seed)
        start = time.perf_counter()
        for _ in range(epochs):
            for idx in torch.randperm(len(x_tr), generator=order).split(config.batch_size):
                xb, yb = x_tr[idx], y_tr[idx]
                mu, log_var = model.encode(xb)
                loss, _, _ = loss_fn(xb, model.decode(reparameterize(mu, log_var)), mu, log_var, yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        return (time.perf_counter() - start) / epochs

    helpers_loop(), bare_loop()  # warm-up: allocator, thread pool, first-call overheads
    h_times, b_times = [], []
    for _ in range(rounds):
        h_times.append(helpers_loop())
        b_times.append(bare_loop())
    # what the helpers loop does beyond the bare one, timed directly: the validation pass for early stopping
    x_val, y_val = h.split_validation(data.x_train, data.y_train, config.val_fraction, config.seed)[2:]
    model = h.make_vae()
    h.evaluate_vae(model, x_val, y_val, loss_fn)
    start = time.perf_counter()
    for _ in range(20):
        h.evaluate_vae(model, x_val, y_val, loss_fn)
    validation_s = (time.perf_counter() - start) / 20
    del os.environ["NBGRADER_EXECUTION"]
    h_s, b_s = statistics.median(h_times), statistics.median(b_times)
    # each round runs the two loops back to back: the median of the paired ratios cancels slow drifts
    ratio = statistics.median(a / b for a, b in zip(h_times, b_times))
    out = {"ratio": round(ratio, 3), "helpers_s_per_epoch": round(h_s, 4), "bare_s_per_epoch": round(b_s, 4),
           "validation_s_per_epoch": round(validation_s, 4), "epochs": epochs, "rounds": rounds, "batch_size": config.batch_size, "train_images": len(x_tr)}
    print(f"  helpers {h_s:.3f} s/epoch, bare loop {b_s:.3f} s/epoch: median paired ratio {out['ratio']} "
          f"(its validation pass alone: {validation_s * 1000:.1f} ms/epoch)", flush=True)
    return out


def bench_import(module: str = "nbgrader.apps.autogradeapp", rounds: int = 3) -> float:
    """Median seconds a fresh interpreter takes to import `module`: paid by every `nbgrader autograde`
    process that make grade starts (one per student)."""
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
        times.append(time.perf_counter() - t)
    return round(statistics.median(times), 2)


def python_loop_s(rounds: int = 3) -> float:
    """Median seconds of a fixed pure-Python loop (10 million additions): how fast this machine is today, so
    that two bench.json files from different days (or a virtual machine whose host is busy) can be compared."""
    code = "import time\nt = time.perf_counter()\ns = 0\nfor i in range(10_000_000):\n    s += i\nprint(time.perf_counter() - t)"
    return round(statistics.median(float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                                         check=True).stdout) for _ in range(rounds)), 2)


def machine() -> dict:
    import torch

    return {"cpu_count": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "python": sys.version.split()[0], "python_loop_s": python_loop_s()}


def print_dask(d: dict) -> None:
    print(f"{'class of 12, local pool JOBS=2 (per min)':<44} {d['local_jobs2']:>10.1f} {'':>10}")
    print(f"{'  1 Dask worker, 1 thread':<44} {d['dask_1_worker']:>10.1f} {'':>10}")
    print(f"{'  2 Dask workers, 1 thread each':<44} {d['dask_2_workers']:>10.1f} {'':>10}")
    print(f"{'  local pool / 2 Dask workers':<44} {d['local_over_dask_2_workers']:>10.3f} {'<= 1.2':>10}")
    print(f"{'  LocalCluster start-up (s)':<44} {d['cluster_startup_s']:>10.1f} {'':>10}")


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["class"], help="measure class grading only (local pool and Dask)")
    parser.add_argument("--rounds", type=int, default=1, help="with --only class: alternate the three set-ups n times")
    args = parser.parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    if args.only == "class":
        result = {"machine": machine()}
        with tempfile.TemporaryDirectory(prefix="vae-bench-") as tmp:
            result["class_grading_dask"] = bench_class_on_dask(Path(tmp), rounds=args.rounds)
        ct.BUILD.mkdir(exist_ok=True)
        (ct.BUILD / "bench-class.json").write_text(json.dumps(result, indent=2) + "\n")
        print_dask(result["class_grading_dask"])
        print(f"machine: {result['machine']}\nwrote {ct.BUILD / 'bench-class.json'}")
        return 0
    result = {"machine": machine()}
    with tempfile.TemporaryDirectory(prefix="vae-bench-") as tmp:
        tmp = Path(tmp)
        print("notebooks (median of 3 fresh kernels):", flush=True)
        result["notebooks"] = bench_notebooks(tmp)
        result["course_execute_s"] = round(sum(v["execute_s"] for v in result["notebooks"].values()), 2)
        result["mnist_cached_s"] = round(sum(v["execute_s"] for k, v in result["notebooks"].items()
                                             if k.startswith("mnist_vaes/")), 2)
        print("MNIST notebooks from scratch (no checkpoint anywhere):", flush=True)
        result["mnist_from_scratch_s"] = bench_from_scratch(tmp)
        print("autograde (median of 3):", flush=True)
        result["autograde_s"] = bench_autograde(tmp)
        result["import_s_nbgrader"] = bench_import()
        result["class_grading_submissions_per_min"] = bench_class(tmp)
        result["class_grading_submissions_per_min_unsandboxed"] = bench_class(tmp, sandbox="none")
        print("class grading on Dask, against the local pool on the same class:", flush=True)
        result["class_grading_dask"] = bench_class_on_dask(tmp)
    print("training loop overhead:", flush=True)
    overhead = bench_training_overhead()
    result["train_overhead_ratio"] = overhead["ratio"]
    result["train_overhead"] = overhead
    ct.BUILD.mkdir(exist_ok=True)
    (ct.BUILD / "bench.json").write_text(json.dumps(result, indent=2) + "\n")

    misses = []
    if result["course_execute_s"] > TARGETS["course_execute_s"]:
        misses.append(f"course_execute_s {result['course_execute_s']} > {TARGETS['course_execute_s']}")
    misses += [f"autograde_s[{a}] {s} > {TARGETS['autograde_s']}" for a, s in result["autograde_s"].items()
               if s > TARGETS["autograde_s"]]
    if result["train_overhead_ratio"] > TARGETS["train_overhead_ratio"]:
        misses.append(f"train_overhead_ratio {result['train_overhead_ratio']} > {TARGETS['train_overhead_ratio']}")
    if result["mnist_cached_s"] > TARGETS["mnist_cached_s"]:
        misses.append(f"mnist_cached_s {result['mnist_cached_s']} > {TARGETS['mnist_cached_s']}")
    misses += [f"{k} from scratch {v['execute_s']} s > {TARGETS['mnist_from_scratch_s']}"
               for k, v in result["mnist_from_scratch_s"].items() if v["execute_s"] > TARGETS["mnist_from_scratch_s"]]
    if result["class_grading_dask"]["local_over_dask_2_workers"] > TARGETS["local_over_dask_2_workers"]:
        misses.append(f"two Dask workers grade {result['class_grading_dask']['local_over_dask_2_workers']} times slower "
                      f"than the local pool (> {TARGETS['local_over_dask_2_workers']})")
    misses += [f"peak RSS of {k} {v['peak_rss_mb']} MB > {TARGETS['peak_rss_mb']}" for k, v in result["notebooks"].items()
               if v["peak_rss_mb"] > TARGETS["peak_rss_mb"]]

    print(f"\n{'metric':<44} {'value':>10} {'target':>10}")
    print(f"{'course_execute_s':<44} {result['course_execute_s']:>10.1f} {'<= 180':>10}")
    print(f"{'mnist_cached_s (the three MNIST notebooks)':<44} {result['mnist_cached_s']:>10.1f} {'<= 60':>10}")
    for k, v in result["mnist_from_scratch_s"].items():
        print(f"{'from scratch ' + k:<44} {v['execute_s']:>10.1f} {'<= 90':>10}")
    for a, s in result["autograde_s"].items():
        print(f"{'autograde_s ' + a:<44} {s:>10.1f} {'<= 120':>10}")
    print(f"{'import_s_nbgrader (one autograde process)':<44} {result['import_s_nbgrader']:>10.2f} {'':>10}")
    print(f"{'class_grading_submissions_per_min':<44} {result['class_grading_submissions_per_min']:>10.1f} {'':>10}")
    print(f"{'  the same without the sandbox':<44} {result['class_grading_submissions_per_min_unsandboxed']:>10.1f} {'':>10}")
    print_dask(result["class_grading_dask"])
    print(f"{'train_overhead_ratio':<44} {result['train_overhead_ratio']:>10.3f} {'<= 1.05':>10}")
    print(f"{'max peak RSS per notebook (MB)':<44} {max(v['peak_rss_mb'] for v in result['notebooks'].values()):>10.0f} {'<= 2048':>10}")
    print(f"machine: {result['machine']}")
    print(f"wrote {ct.BUILD / 'bench.json'}")
    for m in misses:
        print(f"TARGET MISSED: {m}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
