"""A term on JupyterHub 5 with nbgrader's exchange, walked in the browser, then attacked by a student (make hub).

The hub (hub/run.py, hub/jupyterhub_config.py) runs as root on 127.0.0.1 with random ports and a state folder of
its own. Every person is a system account of their own (prefix vaetest-, created once and reused by every run;
each run sets fresh random passwords): one instructor and three students, who log in with their own password
and whose servers run as themselves.

test_a_term_on_the_hub, in headless Chromium: the instructor generates and releases `vae_by_hand` in the
formgrader; alice fetches it, works (her notebooks become the reference solution) and submits on time; the due
date passes; bob fetches and submits his untouched copy, late. The instructor collects, autogrades both in the
formgrader, and grades alice's discussion answers by hand with the rubric right under each answer (maths
typeset by the local MathJax); `make feedback`, run as the instructor, generates the feedback, the formgrader
releases it, and alice fetches and reads it. Screenshots: build/screenshots/hub-*.png.

test_a_student_attacks_the_hub: bob, with his own password, replays every attack of issue 20 in the browser,
through the hub's REST API and from a kernel of his own server; each must fail, each forged submission must be
refused at collect time and reported to the instructor, and every grade stays as it was.

test_the_terms_grades_equal_make_grade: the collected submissions, graded again by make grade's code, score
exactly what the hub's formgrader gave them, cell by cell.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import json
import os
import pwd
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

import chromium_lab as lab_tools
import hub_student as student_api
from grading import course_dir as ct

PREFIX = "vaetest-"  # the test's accounts: clearly the course's, reused by every run
STUDENTS = ("alice", "bob", "carol")  # carol takes no part in the term: bob submits in her name
TERM: dict = {}  # what the term leaves for the tests after it (it must run first)

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
def hub():
    if os.geteuid() != 0:
        pytest.fail("the hub test creates system accounts (vaetest-*) and starts a server as each: run make e2e as "
                    "root", pytrace=False)
    if lab_tools.missing_browser():
        pytest.fail(lab_tools.missing_browser(), pytrace=False)
    for old in lab_tools.SCREENSHOTS.glob("hub-*.png"):  # an earlier run's would mislead
        old.unlink()
    run = hub_module()
    # not under pytest's temporary folder, which is root's alone (0700): every account enters the state folder
    state = tempfile.mkdtemp(prefix="vae-hub-test-")
    passwords = {name: secrets.token_urlsafe(12) for name in ("instructor", *STUDENTS)}
    h = run.Hub(state, port=lab_tools.free_port(), api_port=lab_tools.free_port(),
                proxy_api_port=lab_tools.free_port(), students=STUDENTS, prefix=PREFIX, passwords=passwords)
    h.run = run
    try:
        h.prepare()
        h.manual = add_rubrics(h.course())
        with h:
            yield h
    finally:
        shutil.rmtree(state, ignore_errors=True)


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


def login_form(driver, hub, account, password):
    # JupyterHub's cookies are path-scoped (/hub/, /user/<name>/): log out through the hub, which clears them
    driver.get(f"{hub.base}/hub/logout")
    driver.get(f"{hub.base}/hub/login")
    lab_tools.wait_for(lambda: css(driver, "#username_input"), 180, "the hub's login form")
    css(driver, "#username_input")[0].send_keys(account)
    css(driver, "#password_input")[0].send_keys(password)
    css(driver, "#login_submit")[0].click()


def login(driver, hub, name):
    """Log in as a person of the roster, with their own account and password."""
    account = hub.account(name)
    login_form(driver, hub, account, hub.passwords[name])
    lab_tools.wait_for(lambda: f"/user/{account}/lab" in driver.current_url and css(driver, ".lm-MenuBar-item"), 600,
                       f"{account}'s JupyterLab")


def nbgrader_menu(driver, item):
    page = lab_tools.LabPage(driver, None)
    page.open_menu("Nbgrader")
    page.menu_item(item).click()


def formgrader(driver, hub, path):
    driver.get(f"{hub.base}/user/{hub.account(hub.instructor)}/formgrader/{path}")
    try:
        lab_tools.wait_for(lambda: driver.execute_script("return window.models !== undefined && window.models.loaded === true"),
                     180, f"the formgrader's {path} page")
    except TimeoutError as err:
        raise TimeoutError(f"{err}; browser console: {driver.get_log('browser')}") from None


def click_and_confirm(driver, row, column, what, timeout=180, screenshot=None) -> str:
    """Click the formgrader's action link in `column` of `row`, wait for its success dialog; the dialog's text
    (with the action's log)."""
    row.find_elements("css selector", f"td.{column} a")[0].click()
    modal = lab_tools.wait_for(lambda: css(driver, "#success-modal.in, #error-modal.in"), timeout, what)[0]
    assert modal.get_attribute("id") == "success-modal", f"{what} failed: {modal.text}"
    text = modal.get_attribute("textContent")
    if screenshot:
        time.sleep(1)  # the dialog fades in
        shot(driver, screenshot)
    modal.find_elements("css selector", "button")[-1].click()
    lab_tools.wait_for(lambda: not css(driver, ".modal.in"), 10, "the dialog to close")
    return text


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

    def closed():
        ActionChains(driver).send_keys(Keys.ESCAPE).perform()  # to the open menu, when it has the focus
        if css(driver, ".lm-Menu"):
            time.sleep(1)
        if css(driver, ".lm-Menu"):  # else a click on its title in the menu bar closes it
            [m for m in css(driver, ".lm-MenuBar-item") if m.text.strip() == "Nbgrader"][0].click()
            time.sleep(1)
        return not css(driver, ".lm-Menu")
    lab_tools.wait_for(closed, 20, "the Nbgrader menu to close", interval=1)
    return items


def student_submits(driver, hub, student, work):
    login(driver, hub, student)
    # a student gets the Assignment List and Validate, none of the instructor's tools
    items = nbgrader_menu_items(driver)
    assert "Assignment List" in items and not {"Formgrader", "Course List"} & items, items
    assert "Create Assignment" not in driver.execute_script("return document.body.innerText;")
    assignment_list(driver, "released", "fetch").click()
    home = hub.home(student) / ASSIGNMENT
    expected = len(ct.notebook_names(ASSIGNMENT))
    lab_tools.wait_for(lambda: len(list(home.glob("*.ipynb"))) == expected, 60, f"{student}'s fetched notebooks")
    work(home)
    uid, gid = hub.run.ids(hub.account(student))
    for nb in home.glob("*.ipynb"):  # the student's own work
        os.chown(nb, uid, gid)
    assignment_list(driver, "fetched", "Submit").click()
    lab_tools.wait_for(lambda: css(driver, "#submitted_assignments_list .list_item") and
                 ASSIGNMENT in css(driver, "#submitted_assignments_list")[0].text, 60, f"{student}'s submission")


def as_instructor(hub, cmd, cwd):
    """Run cmd as the instructor's account, as in a terminal of their JupyterLab."""
    proc = hub.run.as_user(hub.account(hub.instructor), cmd, cwd=cwd)
    assert proc.returncode == 0, f"{cmd} as the instructor: {proc.stdout}{proc.stderr}"
    return proc


def nbgrader(hub, *args):
    return as_instructor(hub, [sys.executable, "-m", "nbgrader", *args], hub.course())


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
    alice_id, bob_id = hub.account("alice"), hub.account("bob")  # nbgrader's student ids: the OS accounts
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
    released = course / "notebooks" / ASSIGNMENT  # the course's CourseDirectory.release_directory
    assert sorted(p.name for p in released.glob("*.ipynb")) == ct.notebook_names(ASSIGNMENT)
    assert not [p for p in released.glob("*.ipynb") if "Rubric (" in p.read_text()], "a rubric reached the release"
    assert released.stat().st_uid == hub.run.ids(hub.account(hub.instructor))[0]  # made by the instructor's server

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
    inbound = hub.state / "exchange" / "vae-course" / "inbound"
    owners = {pwd.getpwuid(p.stat().st_uid).pw_name: p.name.split("+")[0] for p in inbound.iterdir()}
    assert owners == {alice_id: alice_id, bob_id: bob_id}, owners  # named after the OS account that submitted

    # -- the instructor collects and autogrades -----------------------------------------------------
    login(driver, hub, hub.instructor)
    formgrader(driver, hub, "manage_assignments")
    log = click_and_confirm(driver, table_row(driver, "name", ASSIGNMENT), "collect", "collecting")
    assert "REFUSED" not in log, log
    formgrader(driver, hub, f"manage_submissions/{ASSIGNMENT}")
    for student in (alice_id, bob_id):
        click_and_confirm(driver, table_row(driver, "student-id", student), "autograde", f"autograding {student}", 300)
    formgrader(driver, hub, f"manage_submissions/{ASSIGNMENT}")
    statuses = {s: table_row(driver, "student-id", s).find_elements("css selector", "td.status")[0].text
                for s in (alice_id, bob_id)}
    assert statuses == {alice_id: "needs manual grading", bob_id: "graded"}
    shot(driver, "hub-05-autograded")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        alice, bob = gb.find_submission(ASSIGNMENT, alice_id), gb.find_submission(ASSIGNMENT, bob_id)
        assert alice.total_seconds_late == 0 and bob.total_seconds_late > 0
        assert alice.code_score == pytest.approx(alice.max_code_score) and bob.score == pytest.approx(0.0)
        to_grade = [(nb.id, nb.name, g.name, g.max_score) for nb in alice.notebooks for g in nb.grades if g.needs_manual_grade]
    assert sorted({name for _, name, _, _ in to_grade}) == sorted(hub.manual)

    # -- ... grades the discussions by hand, the rubric under each answer, the maths typeset ---------------
    for number, (submission_id, notebook, grade_id, max_score) in enumerate(to_grade):
        driver.get(f"{hub.base}/user/{hub.account(hub.instructor)}/formgrader/submissions/{submission_id}/")
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
        alice = gb.find_submission(ASSIGNMENT, alice_id)
        assert not [g for nb in alice.notebooks for g in nb.grades if g.needs_manual_grade]
        assert alice.score == pytest.approx(alice.max_score)

    # -- make feedback (the instructor, in a terminal), then the formgrader releases it; alice fetches and reads it
    proc = as_instructor(hub, ["make", "feedback", f"ASSIGNMENT={ASSIGNMENT}", f"COURSE={course}"], ct.ROOT)
    assert "0 leak(s)" in proc.stdout, proc.stdout + proc.stderr
    formgrader(driver, hub, f"manage_submissions/{ASSIGNMENT}")
    for student in (alice_id, bob_id):
        click_and_confirm(driver, table_row(driver, "student-id", student), "release-feedback", f"feedback for {student}")
    login(driver, hub, "alice")
    assignment_list(driver, "submitted", "Fetch Feedback").click()
    lab_tools.wait_for(lambda: "(view feedback)" in css(driver, "#submitted_assignments_list")[0].text, 60, "alice's feedback")
    shot(driver, "hub-07-feedback-fetched")
    home = hub.home("alice")
    page = sorted(home.glob(f"{ASSIGNMENT}/feedback/*/02_latent_collapse_and_beta.html"))[-1]
    driver.get(f"{hub.base}/user/{alice_id}/files/{page.relative_to(home).as_posix()}")
    lab_tools.wait_for(lambda: mathjax_done(driver), 60, "MathJax to typeset the feedback")
    text = driver.execute_script("return document.body.innerText;")
    assert "Rubric (" not in text and "$" not in rendered_markdown_text(driver) and math_errors(driver) == 0
    assert "BEGIN HIDDEN TESTS" not in text
    shot(driver, "hub-08-feedback")
    TERM.update(done=True, alice_feedback=page)


# -- a student attacks ---------------------------------------------------------------------------------------
# Run in bob's own kernel: every read, listing, write and environment he should not get, and three forged
# hand-ins made with nbgrader itself. SPEC (a JSON string) holds the targets; it prints one JSON line.
ATTACK = r"""
import json, os, sqlite3, subprocess, sys

spec = json.loads(SPEC)
out = {}


def attempt(label, action):
    try:
        result = action()
        out[label] = "ALLOWED" + (f": {str(result)[:120]}" if result is not None else "")
    except Exception as err:
        out[label] = type(err).__name__


def append(path):
    with open(path, "ab") as f:
        f.write(b"bob was here")


def plant(folder):
    with open(os.path.join(folder, "planted-by-bob.py"), "x") as f:
        f.write("print('bob')")


def set_grades(db):
    con = sqlite3.connect(f"file:{db}?mode=rw", uri=True)
    con.execute("UPDATE grade SET extra_credit = 1000")
    con.commit()


for label, path in spec["read"].items():
    attempt("read " + label, lambda: open(path, "rb").read(64))
for label, path in spec["list"].items():
    attempt("list " + label, lambda: os.listdir(path))
for label, path in spec["append"].items():
    attempt("append to " + label, lambda: append(path))
for label, path in spec["plant"].items():
    attempt("plant a file in " + label, lambda: plant(path))
attempt("write the gradebook", lambda: set_grades(spec["gradebook"]))
for label, pid in spec["environ"].items():
    attempt("environment of " + label, lambda: open(f"/proc/{pid}/environ", "rb").read(64))
me, foreign, readable = os.getuid(), 0, []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        if os.stat(f"/proc/{pid}").st_uid == me:
            continue
        foreign += 1
        open(f"/proc/{pid}/environ", "rb").read(1)
        readable.append(pid)
    except OSError:
        pass
out["processes of others"], out["their environments read"] = foreign, readable

# positive controls: his own things work
attempt("own home", lambda: plant(os.path.expanduser("~")))
attempt("import helpers", lambda: __import__("helpers").__file__)


def submit(*extra):
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "submit", spec["assignment"], *extra],
                          cwd=os.path.expanduser("~"), capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    dest = [line.split("Destination:", 1)[1].strip() for line in log.splitlines() if "Destination:" in line]
    return {"code": proc.returncode, "destination": dest[-1] if dest else None, "log": log[-400:]}


out["submit as carol"] = submit("--student=" + spec["carol"])
out["submit as alice"] = submit("--student=" + spec["alice"])
own = submit()  # his own hand-in, then one notebook becomes a link to the instructor's solution
if own["destination"]:
    notebook = os.path.join(own["destination"], spec["notebook"])
    os.unlink(notebook)
    os.symlink(spec["solution"], notebook)
out["submit a link to the solutions"] = own
print(json.dumps(out))
"""


def gradebook_state(hub) -> dict:
    """Every grade of every submission, and a digest of every collected file."""
    from nbgrader.api import Gradebook

    state = {}
    with Gradebook(f"sqlite:///{hub.course() / 'gradebook.db'}") as gb:
        for sub in gb.assignment_submissions(ASSIGNMENT):
            state[sub.student_id] = {nb.name: {g.name: (g.auto_score, g.manual_score, g.extra_credit) for g in nb.grades}
                                     for nb in sub.notebooks}
            state[sub.student_id]["late"] = sub.total_seconds_late
    for path in sorted((hub.course() / "submitted").rglob("*")):
        if path.is_file():
            state[str(path.relative_to(hub.course()))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def server_pid(account: str) -> int:
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and os.path.exists(f"/proc/{p}/cmdline")
            and os.stat(f"/proc/{p}").st_uid == pwd.getpwnam(account).pw_uid
            and b"jupyterhub-singleuser" in open(f"/proc/{p}/cmdline", "rb").read()]
    assert pids, f"no server of {account} runs"
    return pids[0]


def attack_targets(hub) -> dict:
    """The attack's targets: each exists (so that a refusal is PermissionError, never FileNotFoundError)."""
    course, instructor = hub.course(), hub.account(hub.instructor)
    exchange = hub.state / "exchange" / "vae-course"
    notebook = ct.notebook_names(ASSIGNMENT)[0]
    alice = hub.account("alice")
    git = ct.ROOT / ".git"
    read = {
        "the solutions": course / "solutions" / ASSIGNMENT / notebook,
        "the hidden fixtures": course / "solutions" / ASSIGNMENT / ct.FIXTURES_FILE,
        "the gradebook": course / "gradebook.db",
        "the course's nbgrader_config.py": course / "nbgrader_config.py",
        "alice's autograded notebook": course / "autograded" / alice / ASSIGNMENT / notebook,
        "the instructor's feedback for alice": next((course / "feedback" / alice / ASSIGNMENT).glob("*.html")),
        "alice's notebook": hub.home("alice") / ASSIGNMENT / notebook,
        "alice's fetched feedback": TERM["alice_feedback"],
        "the repository's solutions": ct.SOLUTIONS / ASSIGNMENT / ct.FIXTURES_FILE,
        "the repository's tests": ct.ROOT / "tests" / "golden_scores.json",
        "the repository's git": git / "HEAD" if git.is_dir() else git,
        "the hub's database": hub.state / "hub" / "jupyterhub.sqlite",
        "the hub's cookie secret": hub.state / "hub" / "jupyterhub_cookie_secret",
        "the hub's log": hub.log_path,
        "the instructor's server settings": hub.state / "config" / instructor / "nbgrader_config.py",
    }
    listing = {
        "the instructor's home": hub.home(hub.instructor), "alice's home": hub.home("alice"),
        "inbound": exchange / "inbound", "the released feedback": exchange / "feedback",
        "the repository's solutions": ct.SOLUTIONS, "the state folder": hub.state, "the homes": hub.state / "home",
    }
    append = {
        "the released notebook": exchange / "outbound" / ASSIGNMENT / notebook,
        "the gradebook": course / "gradebook.db",
        "alice's notebook": hub.home("alice") / ASSIGNMENT / notebook,
        "a released feedback page": next((exchange / "feedback").glob("*.html")),
        "helpers": Path(__import__("helpers").__file__),
    }
    plant = {
        "outbound": exchange / "outbound" / ASSIGNMENT, "the course folder": course,
        "the released feedback": exchange / "feedback", "alice's home": hub.home("alice"),
        "his own server settings": hub.state / "config" / hub.account("bob"),
        "the course's helpers": Path(__import__("helpers").__file__).parent,
    }
    for path in [*read.values(), *listing.values(), *append.values(), *plant.values()]:
        assert path.exists(), f"attack target {path} is missing: the attack would prove nothing"
    proxy = int((hub.state / "hub" / "jupyterhub-proxy.pid").read_text())
    environ = {"the instructor's server": server_pid(instructor), "alice's server": server_pid(alice),
               "the hub": hub.proc.pid, "the proxy": proxy}
    return {"read": read, "list": listing, "append": append, "plant": plant, "environ": environ,
            "gradebook": course / "gradebook.db", "assignment": ASSIGNMENT, "notebook": notebook,
            "solution": course / "solutions" / ASSIGNMENT / notebook,
            "carol": hub.account("carol"), "alice": alice}


def test_a_student_attacks_the_hub(hub, driver):
    if not TERM.get("done"):
        pytest.fail("the term did not complete (test_a_term_on_the_hub): there is nothing to attack", pytrace=False)
    base, bob = hub.base, hub.account("bob")
    instructor = hub.account(hub.instructor)
    before = gradebook_state(hub)
    assert set(before) >= {hub.account("alice"), bob}

    # -- the hub's REST API, with bob's password and token ------------------------------------------------
    for who in (instructor, bob):  # the attack, and bob's own name asking for the instructor's token
        status, _ = student_api.request(base, "POST", f"/hub/api/users/{instructor}/tokens",
                                        body={"auth": {"username": who, "password": hub.passwords["bob"]}})
        assert status == 403, f"a token of {instructor} with bob's password (as {who}): {status}"
    tok = student_api.token(base, bob, hub.passwords["bob"])
    assert student_api.request(base, "POST", f"/hub/api/users/{instructor}/tokens", tok, {})[0] == 403
    assert student_api.request(base, "GET", f"/hub/api/users/{instructor}", tok)[0] == 404
    assert student_api.request(base, "GET", "/hub/api/users", tok)[0] == 403
    assert student_api.request(base, "POST", f"/hub/api/users/{instructor}/server", tok)[0] == 404
    for path in (f"/user/{instructor}/api/contents/vae-course/gradebook.db",
                 f"/user/{instructor}/formgrader/api/assignments", f"/user/{instructor}/api/kernels"):
        assert student_api.status_without_redirect(base, path, tok) == 403, path

    # -- the browser: the instructor's account with bob's password, the instructor's JupyterLab -----------
    login_form(driver, hub, instructor, hub.passwords["bob"])
    lab_tools.wait_for(lambda: "Invalid username or password" in driver.page_source, 60, "the login to be refused")
    assert "/hub/login" in driver.current_url
    shot(driver, "hub-09-instructor-login-refused")
    login(driver, hub, "bob")
    driver.get(f"{base}/user/{instructor}/lab")
    lab_tools.wait_for(lambda: "403" in driver.title or "403" in driver.page_source, 120, "the instructor's lab to refuse bob")
    assert not css(driver, ".lm-MenuBar-item"), "bob sees a JupyterLab at the instructor's address"
    shot(driver, "hub-10-instructor-lab-refused")

    # -- bob's own kernel ---------------------------------------------------------------------------------
    targets = attack_targets(hub)
    student_api.ensure_server(base, bob, tok)
    stdout, stderr = student_api.run_in_kernel(base, bob, tok, f"SPEC = {json.dumps(json.dumps(targets, default=str))}\n" + ATTACK)
    assert stdout.strip(), f"the attack printed nothing: {stderr}"
    out = json.loads(stdout.strip().splitlines()[-1])
    denied = {k: v for k, v in out.items() if k.split(" ")[0] in ("read", "list", "append", "plant", "environment")}
    expected = (len(targets["read"]) + len(targets["list"]) + len(targets["append"]) + len(targets["plant"])
                + len(targets["environ"]))
    assert len(denied) == expected and all(v == "PermissionError" for v in denied.values()), \
        {k: v for k, v in denied.items() if v != "PermissionError"}
    assert out["write the gradebook"] == "OperationalError", out["write the gradebook"]  # sqlite: cannot open it
    assert out["processes of others"] > 0 and out["their environments read"] == [], out
    assert out["own home"] == "ALLOWED" and out["import helpers"].startswith("ALLOWED"), out
    forged = {}
    for label in ("submit as carol", "submit as alice", "submit a link to the solutions"):
        sub = out[label]
        assert sub["code"] == 0 and sub["destination"], f"{label}: {sub}"  # nbgrader itself lets it through
        forged[label] = os.path.basename(sub["destination"])
        assert os.path.dirname(sub["destination"]) == str(hub.state / "exchange" / "vae-course" / "inbound")

    # -- the instructor collects: every forged hand-in is refused and reported ----------------------------
    login(driver, hub, hub.instructor)
    formgrader(driver, hub, "manage_assignments")
    log = click_and_confirm(driver, table_row(driver, "name", ASSIGNMENT), "collect", "collecting after the attack",
                            screenshot="hub-11-collect-refused")
    reasons = {
        "submit as carol": f"the submission folder belongs to {bob}, not to {hub.account('carol')}",
        "submit as alice": f"the submission folder belongs to {bob}, not to {hub.account('alice')}",
        "submit a link to the solutions": f"{forged['submit a link to the solutions']}/{targets['notebook']} is a symbolic link",
    }
    report = (hub.course() / "refused_submissions.log").read_text()
    for label, why in reasons.items():
        line = f"REFUSED submission {forged[label]}: {why}"
        assert line in log, f"{label}: {line!r} not in the collect dialog:\n{log}"
        assert line in report
    formgrader(driver, hub, f"manage_submissions/{ASSIGNMENT}")
    assert hub.account("carol") not in driver.execute_script("return document.body.innerText;")
    assert gradebook_state(hub) == before, "a grade or a collected file changed"


def test_the_terms_grades_equal_make_grade(hub, tmp_path):
    """make grade's code grades the submissions the hub collected: the same score, cell by cell."""
    from nbgrader.api import Gradebook

    from grading import classroom

    if not TERM.get("done"):
        pytest.fail("the term did not complete (test_a_term_on_the_hub): nothing was graded", pytrace=False)
    rows = classroom.grade_class(ASSIGNMENT, hub.course() / "submitted", tmp_path / "grading", progress=False)
    assert all(not r["error"] for r in rows), rows

    def auto_scores(db):
        with Gradebook(f"sqlite:///{db}") as gb:
            return {sub.student_id: {nb.name: {g.name: g.auto_score for g in nb.grades} for nb in sub.notebooks}
                    for sub in gb.assignment_submissions(ASSIGNMENT)}

    hub_scores, make_grade = auto_scores(hub.course() / "gradebook.db"), auto_scores(tmp_path / "grading" / "gradebook.db")
    assert sorted(make_grade) == sorted(hub_scores) == [hub.account("alice"), hub.account("bob")]
    assert make_grade == hub_scores
    alice = next(r for r in rows if r["student"] == hub.account("alice"))
    assert alice["score"] > 0 and next(r for r in rows if r["student"] == hub.account("bob"))["score"] == 0
