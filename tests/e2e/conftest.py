"""Fixtures for the browser tests: a scratch course, JupyterLab on it, and headless Chromium.

These tests run with `make e2e` (E2E=1). Plain `make test` skips them, so that it needs no browser.
With E2E=1 a missing chromium or chromedriver is a failure, not a skip.
"""

import os
import shutil
from pathlib import Path

import pytest

from grading import course_dir as coursetools
import chromium_lab as lab_tools

HERE = Path(__file__).resolve().parent
ASSIGNMENT = "vae_by_hand"


def pytest_collection_modifyitems(config, items):
    if os.environ.get("E2E") == "1":
        return
    skip = pytest.mark.skip(reason="browser test: run it with `make e2e` (needs chromium and chromium-driver)")
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def course(tmp_path_factory) -> Path:
    """A scratch copy of the course: nbgrader config, solutions/ and the student release notebooks/."""
    root = coursetools.scratch_course(tmp_path_factory.mktemp("e2e") / "course", [ASSIGNMENT])
    shutil.copytree(coursetools.NOTEBOOKS / ASSIGNMENT, root / "notebooks" / ASSIGNMENT,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copy(HERE / "widgets_demo.ipynb", root / "widgets_demo.ipynb")
    # a private exchange with the assignment released, so that the student's assignment list has something to show
    exchange = root / "exchange"
    exchange.mkdir()
    with open(root / "nbgrader_config.py", "a") as f:
        f.write(f"\nc.Exchange.root = {str(exchange)!r}\n")
    coursetools.run_nbgrader(["release_assignment", ASSIGNMENT, "--force"], root)
    return root


@pytest.fixture(scope="session")
def lab(course):
    problem = lab_tools.missing_browser()
    if problem:
        pytest.fail(problem, pytrace=False)
    with lab_tools.LabServer(course) as server:
        yield server


@pytest.fixture(scope="session")
def browser(lab):
    for old in lab_tools.SCREENSHOTS.glob("*.png"):  # screenshots of an earlier run (e.g. FAILED-*) would mislead
        if not old.name.startswith("hub-"):  # test_hub.py clears and writes its own
            old.unlink()
    with lab_tools.Browser() as b:
        yield b


@pytest.fixture
def page(browser, lab):
    return lab_tools.LabPage(browser.driver, lab)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, save what the browser showed as build/screenshots/FAILED-<test>.png."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed and "page" in item.funcargs:
        try:
            path = item.funcargs["page"].screenshot(f"FAILED-{item.name}")
            report.sections.append(("screenshot", str(path)))
        except Exception:  # noqa: BLE001 - the browser may be gone
            pass
