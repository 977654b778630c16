"""A student's script in the instructor's browser (issue 19, finding 1), tried in headless Chromium.

A class of two is graded with make grade's code: an honest student (the reference) and an attacker whose
notebook 02 is the blank release plus one cell that displays a script in every way a notebook can
(tests/attacks.py, a20_xss_in_formgrader): run, it would give the attacker full marks and the classmate 0
through the formgrader's API, and store the reference solutions as a hand-grading comment. The instructor
opens the attacker's notebook in Formgrader > Manual Grading: nothing runs, no grade or comment changes, and
the formgrader still works (its own scripts run, a hand grade is saved, MathJax typesets). The second wall
alone: with the sanitiser switched off and a script put back into the notebook, the formgrader's
Content-Security-Policy still stops it. The feedback pages, opened from disk and through Jupyter, run
nothing either, and typeset their maths.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
import urllib.request

import nbformat
import pytest

import attacks
import catalog
import chromium_lab as e2e
from grading import classroom
from grading import course_dir as ct

ASSIGNMENT, NOTEBOOK = "vae_by_hand", "02_latent_collapse_and_beta"
ATTACKER = "a20_xss_in_formgrader"


def autograded_points(assignment: str) -> float:
    """The points of an assignment's test cells (the hand-graded answers wait for the formgrader)."""
    import nbformat

    return float(sum(c.metadata["nbgrader"].get("points", 0)
                     for path in sorted((ct.SOLUTIONS / assignment).glob("*.ipynb"))
                     for c in nbformat.read(path, as_version=4).cells
                     if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")))


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    subs = tmp_path_factory.mktemp("xss-subs")
    catalog.reference_and_untouched(subs, ASSIGNMENT)
    shutil.rmtree(subs / "untouched")
    catalog.build(next(e for e in catalog.ATTACKS if e.name == ATTACKER), subs, ATTACKER)
    out = tmp_path_factory.mktemp("xss-class") / ASSIGNMENT
    table = classroom.grade_class(ASSIGNMENT, subs, out, progress=False, timeout=300)
    assert {r["student"]: r["score"] for r in table} == {"reference": autograded_points(ASSIGNMENT), ATTACKER: 0.0}, table
    return out


@pytest.fixture(scope="module")
def driver():
    if e2e.missing_browser():
        pytest.fail(e2e.missing_browser(), pytrace=False)
    with e2e.Browser() as b:
        b.driver.set_page_load_timeout(300)
        yield b.driver


def gradebook_state(course) -> dict:
    """Every hand-entered field of the gradebook: what the script would have changed."""
    con = sqlite3.connect(course / "gradebook.db")
    try:
        return {"grades": sorted(con.execute("SELECT id, auto_score, manual_score, extra_credit, needs_manual_grade FROM grade")),
                "comments": sorted(con.execute("SELECT id, manual_comment FROM comment"))}
    finally:
        con.close()


def submission_id(course, student) -> str:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, student).id


def csp_violations(driver) -> list[str]:
    return [m["message"] for m in driver.get_log("browser") if "Content Security Policy" in m["message"]]


def script_ran(driver) -> bool:
    return bool(driver.execute_script(f"return window.{attacks.XSS_MARK} !== undefined || document.title === {attacks.XSS_TITLE!r};"))


def open_formgrader(driver, lab, sid):
    driver.get_log("browser")  # what earlier pages logged
    # log in at the server's root (a token on a formgrader URL gives a cookie for that path only)
    driver.get(f"{lab.base}/api/status?token={lab.token}")
    driver.get(f"{lab.base}/formgrader/submissions/{sid}/")
    try:
        e2e.wait_for(lambda: driver.execute_script(
            "return window.formgrader !== undefined && formgrader.grades.loaded === true && formgrader.comments.loaded === true"
            " && window.MathJax !== undefined && MathJax.loaded === true"), 180, "the formgrader's submission page (its own scripts)")
    except TimeoutError as err:
        raise TimeoutError(f"{err}; browser console: {driver.get_log('browser')}") from None
    e2e.wait_for(lambda: mathjax_done(driver), 120, "MathJax to typeset the submission")
    time.sleep(3)  # what an attacker's script would need to call the API a few times


def mathjax_done(driver):
    return driver.execute_script(
        "return !!(window.MathJax && MathJax.Hub && MathJax.Hub.queue && MathJax.Hub.queue.pending === 0"
        " && document.querySelectorAll('.MathJax, .MathJax_Display, .MathJax_CHTML').length > 0)")


def response_policies(lab, path) -> list[str]:
    req = urllib.request.Request(f"{lab.base}{path}", headers={"Authorization": f"token {lab.token}"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.headers.get_all("Content-Security-Policy") or []


def test_the_attackers_notebook_runs_nothing_in_the_formgrader(graded_class, driver):
    before = gradebook_state(graded_class)
    sid = submission_id(graded_class, ATTACKER)
    with e2e.LabServer(graded_class, startup_timeout=180) as lab:
        policies = response_policies(lab, f"/formgrader/submissions/{sid}/")
        ours = [p for p in policies if p.startswith("script-src")]
        assert ours and "'unsafe-inline'" not in ours[0] and "'unsafe-eval'" not in ours[0], policies
        open_formgrader(driver, lab, sid)
        e2e.SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(e2e.SCREENSHOTS / "10_formgrader_xss_submission.png"))
        assert not script_ran(driver), "the attacker's script ran in the formgrader"
        assert gradebook_state(graded_class) == before, "a grade or a comment changed while the page was open"
        assert csp_violations(driver) == [], "the formgrader's own scripts were refused by its policy"
        assert "$" not in driver.execute_script(
            "return Array.from(document.querySelectorAll('.text_cell_render')).map(e => e.innerText).join('\\n');")

        # the formgrader still works: a hand grade typed in is saved
        box = driver.find_elements("css selector", "input.score")[0]
        grade_id = box.get_attribute("id")
        box.clear()
        box.send_keys("1\t")

        def saved():
            con = sqlite3.connect(graded_class / "gradebook.db")
            try:
                return con.execute("SELECT g.manual_score FROM grade g JOIN base_cell c ON g.cell_id = c.id "
                                   "WHERE g.notebook_id = ? AND c.name = ?", (sid, grade_id)).fetchone() == (1.0,)
            finally:
                con.close()
        e2e.wait_for(saved, 60, "the hand grade to reach the gradebook")
        assert not script_ran(driver)


def test_without_the_sanitiser_the_policy_still_stops_the_script(graded_class, driver, tmp_path):
    """The second wall alone: the class folder copied, the sanitiser switched off in its configuration, and
    the attacker's scripts put back into the autograded notebook (a markdown cell and an HTML output)."""
    course = tmp_path / ASSIGNMENT
    shutil.copytree(graded_class, course)
    with open(course / "nbgrader_config.py", "a") as f:
        f.write("\nc.HTMLExporter.sanitize_html = False\nc.HTMLExporter.preprocessors = []\n"
                "c.HTMLExporter.filters = {}\n")
    path = course / "autograded" / ATTACKER / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    nb = nbformat.read(path, as_version=4)
    script = "<script>" + attacks.XSS_JS + "</script>"
    nb.cells.insert(1, nbformat.v4.new_markdown_cell("my answer " + script + '<img src="x" onerror="window.__vae_xss = 2">'))
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs.append(nbformat.v4.new_output("display_data", data={"text/html": script}))
    nbformat.write(nb, path)
    before = gradebook_state(course)
    sid = submission_id(course, ATTACKER)
    with e2e.LabServer(course, startup_timeout=180) as lab:
        open_formgrader(driver, lab, sid)
        html = driver.page_source
        assert attacks.XSS_JS[:40] in html, "the script is not in the page: this test would prove nothing"
        assert not script_ran(driver), "the formgrader's policy did not stop the script"
        assert csp_violations(driver), "the browser reported no refused script"
        assert gradebook_state(course) == before


def test_the_policy_is_what_stops_a_script_in_this_browser(tmp_path, driver):
    """The same page with and without the feedback's meta policy: without, the body's script runs (so the
    checks above can fail); with, only the head's script does."""
    from grading import csp

    page = ("<html><head><title>t</title><script>window.__head_ran = 1;</script></head><body>"
            f"<script>window.{attacks.XSS_MARK} = 1;</script><img src='x' onerror='window.{attacks.XSS_MARK} = 2'></body></html>")
    for name, text, expect_run in (("plain.html", page, True), ("guarded.html", csp.with_meta_policy(page), False)):
        (tmp_path / name).write_text(text)
        driver.get((tmp_path / name).as_uri())
        e2e.wait_for(lambda: driver.execute_script("return document.readyState") == "complete", 30, name)
        time.sleep(0.5)
        assert driver.execute_script("return window.__head_ran") == 1, name
        assert script_ran(driver) == expect_run, name


def test_the_attackers_feedback_runs_nothing_and_typesets(graded_class, driver):
    """make feedback for the class; the attacker's page opened from disk and through Jupyter's /files/."""
    from grading import feedback

    assert feedback.generate(ASSIGNMENT, graded_class, force=True) == 0
    page = graded_class / "feedback" / ATTACKER / ASSIGNMENT / f"{NOTEBOOK}.html"
    driver.get_log("browser")  # what earlier pages logged
    driver.get(page.as_uri())
    e2e.wait_for(lambda: mathjax_done(driver), 120, "MathJax to typeset the feedback page opened from disk")
    time.sleep(2)
    assert not script_ran(driver) and csp_violations(driver) == []
    with e2e.LabServer(graded_class, startup_timeout=180) as lab:
        driver.get(f"{lab.base}/files/feedback/{ATTACKER}/{ASSIGNMENT}/{NOTEBOOK}.html?token={lab.token}")
        e2e.wait_for(lambda: mathjax_done(driver), 120, "MathJax to typeset the feedback page served by Jupyter")
        time.sleep(2)
        assert not script_ran(driver) and csp_violations(driver) == []
        e2e.SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(e2e.SCREENSHOTS / "11_feedback_xss_submission.png"))
    assert ct.notebook_names(ASSIGNMENT)
