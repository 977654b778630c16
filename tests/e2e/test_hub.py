"""A term on JupyterHub 5 with nbgrader's exchange, walked in the browser (make hub's configuration).

The hub (hub/jupyterhub_config.py) runs on 127.0.0.1 with random ports and a state folder of its own: one
instructor, two students. In headless Chromium: the instructor generates and releases `vae_by_hand` in the
formgrader; alice fetches it, works (her notebooks become the reference solution) and submits on time; the
due date passes; bob fetches and submits his untouched copy, late. The instructor collects, autogrades both
in the formgrader, and grades alice's discussion answers by hand with the rubric right under each answer
(maths typeset by the local MathJax); `make feedback` generates the feedback, the formgrader releases it,
and alice fetches and reads it. Screenshots: build/screenshots/hub-*.png.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import shutil
import subprocess
import sys
import time

import nbformat
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from grading import course_dir as ct
import chromium_lab as lab_tools

ASSIGNMENT = "vae_by_hand"
RUBRIC = ("**Rubric ({points:g} points)**\n- ({half:g} pt) names what the measured numbers show\n"
          "- ({half:g} pt) explains it with the loss: $\\beta$ times the KL term")


def hub_module():
    spec = importlib.util.spec_from_file_location("hub_run", ct.ROOT / "hub" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def add_rubrics(course) -> dict[str, list[str]]:
    """Every manually graded answer of the course's sources, {notebook: [grade_id]}; one without a rubric
    gets one, as authors do."""
    from grading import rubric

    manual = {}
    for path in sorted((course / "solutions" / ASSIGNMENT).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        cells, ids = [], []
        for i, cell in enumerate(nb.cells):
            cells.append(cell)
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and meta.get("solution"):
                ids.append(meta["grade_id"])
                if not (i + 1 < len(nb.cells) and rubric.is_rubric(nb.cells[i + 1])):  # the course's own, else ours
                    points = float(meta["points"])
                    cells.append(nbformat.v4.new_markdown_cell(RUBRIC.format(points=points, half=points / 2),
                                                               metadata={"tags": ["rubric"]}))
        nb.cells = cells
        nbformat.write(nb, path)
        if ids:
            manual[path.stem] = ids
    return manual


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    if lab_tools.missing_browser():
        pytest.fail(lab_tools.missing_browser(), pytrace=False)
    for old in lab_tools.SCREENSHOTS.glob("hub-*.png"):  # an earlier run's would mislead
        old.unlink()
    run = hub_module()
    state = tmp_path_factory.mktemp("hub")
    h = run.Hub(state, port=lab_tools.free_port(), api_port=lab_tools.free_port(), proxy_api_port=lab_tools.free_port(),
                students=("alice", "bob"), password="class-test-password")
    run.prepare(h.state, h.instructor)
    h.manual = add_rubrics(h.course())
    with h:
        yield h


@pytest.fixture(scope="module")
def driver(hub):
    with lab_tools.Browser() as b:
        b.driver.set_page_load_timeout(300)  # the formgrader's pages are slow on a busy machine
        yield b.driver


def css(driver, selector):
    return driver.find_elements("css selector", selector)


def shot(driver, name):
    lab_tools.SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(lab_tools.SCREENSHOTS / f"{name}.png"))


def login(driver, hub, user):
    # JupyterHub's cookies are path-scoped (/hub/, /user/<name>/): log out through the hub, which clears them
    driver.get(f"{hub.base}/hub/logout")
    driver.get(f"{hub.base}/hub/login")
    lab_tools.wait_for(lambda: css(driver, "#username_input"), 180, "the hub's login form")
    css(driver, "#username_input")[0].send_keys(user)
    css(driver, "#password_input")[0].send_keys(hub.password)
    css(driver, "#login_submit")[0].click()
    lab_tools.wait_for(lambda: f"/user/{user}/lab" in driver.current_url and css(driver, ".lm-MenuBar-item"), 600,
                 f"{user}'s JupyterLab")


def nbgrader_menu(driver, item):
    page = lab_tools.LabPage(driver, None)
    page.open_menu("Nbgrader")
    page.menu_item(item).click()


def formgrader(driver, hub, path):
    driver.get(f"{hub.base}/user/{hub.instructor}/formgrader/{path}")
    try:
        lab_tools.wait_for(lambda: driver.execute_script("return window.models !== undefined && window.models.loaded === true"),
                     180, f"the formgrader's {path} page")
    except TimeoutError as err:
        raise TimeoutError(f"{err}; browser console: {driver.get_log('browser')}") from None


def click_and_confirm(driver, row, column, what, timeout=180):
    """Click the formgrader's action link in `column` of `row` and wait for its success dialog."""
    row.find_elements("css selector", f"td.{column} a")[0].click()
    modal = lab_tools.wait_for(lambda: css(driver, "#success-modal.in, #error-modal.in"), timeout, what)[0]
    assert modal.get_attribute("id") == "success-modal", f"{what} failed: {modal.text}"
    modal.find_elements("css selector", "button")[-1].click()
    lab_tools.wait_for(lambda: not css(driver, ".modal.in"), 10, "the dialog to close")


def table_row(driver, column, text):
    rows = [r for r in css(driver, "#main-table tr") if r.find_elements("css selector", f"td.{column}")
            and r.find_elements("css selector", f"td.{column}")[0].text.strip() == text]
    assert rows, f"no row with {column} {text!r}"
    return rows[0]


def assignment_list(driver, section, label):
    """Open Nbgrader > Assignment List; the button `label` of vae_by_hand in `section` (released, fetched, submitted)."""
    nbgrader_menu(driver, "Assignment List")

    def button():
        for item in css(driver, f"#{section}_assignments_list .list_item"):
            if ASSIGNMENT in item.text:
                return [b for b in item.find_elements("css selector", "button") if b.text.strip().lower() == label.lower()]
        return []
    return lab_tools.wait_for(button, 60, f"the {label!r} button of {ASSIGNMENT} ({section})")[0]


def nbgrader_menu_items(driver) -> set[str]:
    page = lab_tools.LabPage(driver, None)
    page.open_menu("Nbgrader")
    page.menu_item("Assignment List")
    items = {e.text.strip() for e in css(driver, ".lm-Menu-item .lm-Menu-itemLabel") if e.text.strip()}
    ActionChains(driver).send_keys(Keys.ESCAPE).perform()  # to the open menu, which has the focus
    lab_tools.wait_for(lambda: not css(driver, ".lm-Menu"), 10, "the Nbgrader menu to close")
    return items


def student_submits(driver, hub, student, work):
    login(driver, hub, student)
    # a student gets the Assignment List and Validate, none of the instructor's tools
    items = nbgrader_menu_items(driver)
    assert "Assignment List" in items and not {"Formgrader", "Course List"} & items, items
    assert "Create Assignment" not in driver.execute_script("return document.body.innerText;")
    assignment_list(driver, "released", "fetch").click()
    home = hub.state / "home" / student / ASSIGNMENT
    expected = len(ct.notebook_names(ASSIGNMENT))
    lab_tools.wait_for(lambda: len(list(home.glob("*.ipynb"))) == expected, 60, f"{student}'s fetched notebooks")
    work(home)
    assignment_list(driver, "fetched", "Submit").click()
    lab_tools.wait_for(lambda: css(driver, "#submitted_assignments_list .list_item") and
                 ASSIGNMENT in css(driver, "#submitted_assignments_list")[0].text, 60, f"{student}'s submission")


def nbgrader(hub, *args):
    env = dict(hub.env(), HOME=str(hub.state / "home" / hub.instructor),
               JUPYTER_CONFIG_DIR=str(hub.state / "home" / hub.instructor / ".jupyter"))
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=hub.course(), env=env,
                          capture_output=True, text=True, check=True)


def rendered_markdown_text(driver):
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('.text_cell_render')).map(e => e.innerText).join('\\n');")


def math_errors(driver) -> int:
    """Formulas MathJax could not typeset (it shows "[Math Processing Error]" in their place)."""
    return driver.execute_script("return document.body.innerText.split('Math Processing Error').length - 1;")


def mathjax_done(driver):
    return driver.execute_script(
        "return !!(window.MathJax && MathJax.Hub && MathJax.Hub.queue && MathJax.Hub.queue.pending === 0"
        " && document.querySelectorAll('.MathJax, .MathJax_Display, .MathJax_CHTML').length > 0)")


def test_a_term_on_the_hub(hub, driver):
    try:
        walk_the_term(hub, driver)
    except Exception:
        shot(driver, "hub-FAILED")
        raise


def walk_the_term(hub, driver):
    from nbgrader.api import Gradebook

    course = hub.course()
    # -- the instructor releases ------------------------------------------------------------------
    login(driver, hub, hub.instructor)
    assert {"Formgrader", "Course List", "Assignment List"} <= nbgrader_menu_items(driver)
    assert "Create Assignment" in driver.execute_script("return document.body.innerText;")
    nbgrader_menu(driver, "Formgrader")
    lab_tools.wait_for(lambda: css(driver, "#formgrader-iframe iframe"), 30, "the formgrader in JupyterLab")
    time.sleep(2)
    shot(driver, "hub-01-instructor-formgrader")
    formgrader(driver, hub, "manage_assignments")
    click_and_confirm(driver, table_row(driver, "name", ASSIGNMENT), "assign", "generating the student version")
    click_and_confirm(driver, table_row(driver, "name", ASSIGNMENT), "release", "releasing")
    assert table_row(driver, "name", ASSIGNMENT).find_elements("css selector", "td.status")[0].text == "released"
    shot(driver, "hub-02-released")
    released = (course / "release" / ASSIGNMENT)
    assert not [p for p in released.glob("*.ipynb") if "Rubric (" in p.read_text()], "a rubric reached the release"

    # -- alice works and submits on time; then the due date passes; bob submits late --------------------
    def reference(home):
        for nb in (course / "solutions" / ASSIGNMENT).glob("*.ipynb"):
            source = nbformat.read(nb, as_version=4)
            source.cells = [c for c in source.cells if "rubric" not in c.metadata.get("tags", [])]
            nbformat.write(source, home / nb.name)

    student_submits(driver, hub, "alice", reference)
    shot(driver, "hub-03-alice-submitted")
    time.sleep(1.5)
    due = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    nbgrader(hub, "db", "assignment", "add", ASSIGNMENT, f"--duedate={due}")
    time.sleep(1.5)
    student_submits(driver, hub, "bob", lambda home: None)
    shot(driver, "hub-04-bob-submitted-late")

    # -- the instructor collects and autogrades -----------------------------------------------------
    login(driver, hub, hub.instructor)
    formgrader(driver, hub, "manage_assignments")
    click_and_confirm(driver, table_row(driver, "name", ASSIGNMENT), "collect", "collecting")
    formgrader(driver, hub, f"manage_submissions/{ASSIGNMENT}")
    for student in ("alice", "bob"):
        click_and_confirm(driver, table_row(driver, "student-id", student), "autograde", f"autograding {student}", 300)
    formgrader(driver, hub, f"manage_submissions/{ASSIGNMENT}")
    statuses = {s: table_row(driver, "student-id", s).find_elements("css selector", "td.status")[0].text
                for s in ("alice", "bob")}
    assert statuses == {"alice": "needs manual grading", "bob": "graded"}
    shot(driver, "hub-05-autograded")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        alice, bob = gb.find_submission(ASSIGNMENT, "alice"), gb.find_submission(ASSIGNMENT, "bob")
        assert alice.total_seconds_late == 0 and bob.total_seconds_late > 0
        assert alice.code_score == pytest.approx(alice.max_code_score) and bob.score == pytest.approx(0.0)
        to_grade = [(nb.id, nb.name, g.name, g.max_score) for nb in alice.notebooks for g in nb.grades if g.needs_manual_grade]
    assert sorted({name for _, name, _, _ in to_grade}) == sorted(hub.manual)

    # -- ... grades the discussions by hand, the rubric under each answer, the maths typeset ---------------
    for number, (submission_id, notebook, grade_id, max_score) in enumerate(to_grade):
        driver.get(f"{hub.base}/user/{hub.instructor}/formgrader/submissions/{submission_id}/")
        lab_tools.wait_for(lambda: mathjax_done(driver), 60, f"MathJax to typeset {notebook}")
        answer = css(driver, f"input.score#{grade_id}")[0]
        panel = driver.execute_script("return arguments[0].closest('.cell');", answer)
        below = driver.execute_script("return arguments[0].nextElementSibling.innerText;", panel)
        assert below.startswith(f"Rubric ({max_score:g} points)"), f"no rubric below {grade_id}: {below[:80]!r}"
        assert "$" not in rendered_markdown_text(driver), "raw $ left in the formgrader"
        assert math_errors(driver) == 0, f"MathJax failed on {math_errors(driver)} formula(s) of {notebook}"
        answer.clear()
        answer.send_keys(f"{max_score:g}")
        answer.send_keys("\t")
        lab_tools.wait_for(lambda: driver.execute_script(
            "return arguments[0].closest('.cell').querySelector('.score-saved').style.display !== 'none'", answer),
            20, "the hand grade to be saved")
        driver.execute_script("arguments[0].scrollIntoView({block: 'start'}); window.scrollBy(0, -80);", panel)
        time.sleep(0.5)
        shot(driver, f"hub-06-grading-{number + 1}-{notebook}")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        alice = gb.find_submission(ASSIGNMENT, "alice")
        assert not [g for nb in alice.notebooks for g in nb.grades if g.needs_manual_grade]
        assert alice.score == pytest.approx(alice.max_score)

    # -- make feedback, then the formgrader releases it; alice fetches and reads it -------------------------
    proc = subprocess.run(["make", "feedback", f"ASSIGNMENT={ASSIGNMENT}", f"COURSE={course}"], cwd=ct.ROOT,
                          env=hub.env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 leak(s)" in proc.stdout
    formgrader(driver, hub, f"manage_submissions/{ASSIGNMENT}")
    for student in ("alice", "bob"):
        click_and_confirm(driver, table_row(driver, "student-id", student), "release-feedback", f"feedback for {student}")
    login(driver, hub, "alice")
    assignment_list(driver, "submitted", "Fetch Feedback").click()
    lab_tools.wait_for(lambda: "(view feedback)" in css(driver, "#submitted_assignments_list")[0].text, 60, "alice's feedback")
    shot(driver, "hub-07-feedback-fetched")
    home = hub.state / "home" / "alice"
    page = sorted(home.glob(f"{ASSIGNMENT}/feedback/*/02_latent_collapse_and_beta.html"))[-1]
    driver.get(f"{hub.base}/user/alice/files/{page.relative_to(home).as_posix()}")
    lab_tools.wait_for(lambda: mathjax_done(driver), 60, "MathJax to typeset the feedback")
    text = driver.execute_script("return document.body.innerText;")
    assert "Rubric (" not in text and "$" not in rendered_markdown_text(driver) and math_errors(driver) == 0
    assert "BEGIN HIDDEN TESTS" not in text
    shot(driver, "hub-08-feedback")
