"""Executing notebooks headless, as make course, make reference and make bench do (never while grading).

execute() runs one notebook in a fresh kernel and keeps the executed copy and its PNG figures;
run_parallel() runs several series of notebooks (a later notebook of a series may read what an earlier one
saved) in parallel processes, one thread each, and prints one line per notebook as it finishes.
Every kernel talks over IPC sockets in a private folder of its own: no TCP port, no
connection file in a shared folder, and none of the kernel's "running over TCP without encryption" warnings
(private_kernel).
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from .course_dir import FIXTURES_FILE


@contextlib.contextmanager
def private_kernel(**client_options):
    """NotebookClient options whose kernel talks over IPC sockets in a private (0700) folder, removed afterwards."""
    from traitlets.config import Config

    folder = Path(tempfile.mkdtemp(prefix="vae-kernel-"))
    try:
        config = Config({"KernelManager": {"transport": "ipc", "ip": str(folder / "ipc"),
                                           "connection_file": str(folder / "kernel.json")}})
        yield dict(client_options, config=config, kernel_name=client_options.get("kernel_name", "python3"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def execute(src: Path, out_dir: Path, fig_dir: Path, env: dict, allow_errors: bool = False) -> tuple[float, str | None]:
    """Execute a notebook headless in out_dir; save it and its PNG figures. Return (seconds, error).

    allow_errors=True runs every cell even after one raised (the error is still returned: the first one)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    out_dir.mkdir(parents=True, exist_ok=True)
    fig_dir.mkdir(parents=True, exist_ok=True)
    if (src.parent / FIXTURES_FILE).is_file():  # a solution notebook's hidden tests import its hidden fixtures
        env = dict(env, PYTHONPATH=str(src.parent))
    nb = nbformat.read(src, as_version=4)
    old = dict(os.environ)
    os.environ.update(env)
    error = None
    start = time.perf_counter()
    try:
        with private_kernel(timeout=600, allow_errors=allow_errors, resources={"metadata": {"path": str(out_dir)}}) as opts:
            NotebookClient(nb, **opts).execute()
    except CellExecutionError as exc:
        error = str(exc).strip().splitlines()[-1][:300]
    finally:
        seconds = time.perf_counter() - start
        os.environ.clear()
        os.environ.update(old)
    nbformat.write(nb, out_dir / src.name)
    if allow_errors and error is None:
        for cell in nb.cells:
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if errors:
                error = f"{errors[0].get('ename')}: {str(errors[0].get('evalue'))[:300]}"
                break
    n = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png") if output.get("output_type") in ("display_data", "execute_result") else None
            if png:
                n += 1
                (fig_dir / f"{src.stem}-{n:02d}.png").write_bytes(base64.b64decode(png))
    return seconds, error


def run_series(series: list[tuple]) -> list[tuple[float, str | None]]:
    """Execute notebooks one after the other (a later one may use what an earlier one trained), with a line each.
    Each item: (source, output folder, figure folder, environment[, allow_errors])."""
    results = []
    for item in series:
        src, env = item[0], item[3]
        seconds, error = execute(*item)
        seed = f" (seed {env['VAE_COURSE_SEED']})" if env.get("VAE_COURSE_SEED", "0") != "0" else ""
        print(f"  {src.parent.name}/{src.stem}{seed}: {seconds:.1f} s{'  ERROR ' + error if error else ''}", flush=True)
        results.append((seconds, error))
    return results


def run_parallel(jobs: dict, workers: int = 2) -> dict:
    """{job name: series} -> {job name: [(seconds, error)]}; series run in parallel processes, each
    kernel on one thread (OMP_NUM_THREADS=1) so that two series share the two cores."""
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {name: pool.submit(run_series, series) for name, series in jobs.items()}
        return {name: fut.result() for name, fut in futures.items()}
