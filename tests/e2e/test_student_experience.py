"""The student's experience in JupyterLab, in a real (headless) browser: `make e2e`.

A scratch copy of the course is served by JupyterLab on 127.0.0.1 with a token (conftest.py).
Each test opens a notebook, runs it from the Run menu and checks what the page shows.
Screenshots go to build/screenshots/.
"""

from selenium.webdriver.common.action_chains import ActionChains

import chromium_lab as lab_tools

NOTEBOOK = "01_forward_pass_and_losses.ipynb"
SOLUTION = f"solutions/vae_by_hand/{NOTEBOOK}"
STUDENT = f"notebooks/vae_by_hand/{NOTEBOOK}"


def severe_console_errors(page):
    """Console errors (level SEVERE) other than the browser asking for a favicon."""
    return [m for m in page.collect_console() if m["level"] == "SEVERE" and "favicon" not in m["message"]]


def test_nbgrader_extension_loads_without_errors(page):
    """JupyterLab shows nbgrader's Validate button and menu, and its plugins log no error."""
    page.open(STUDENT)
    assert page.notebook().find_elements("css selector", ".validate-button"), \
        "nbgrader's Validate button is missing from the notebook toolbar: is @jupyter/nbgrader enabled?"
    menus = [m.text.strip() for m in page.find(".lm-MenuBar-item")]
    assert "Nbgrader" in menus, f"no Nbgrader menu in the menu bar {menus}"
    messages = page.collect_console()
    activated = [m["message"] for m in messages if "@jupyter/nbgrader" in m["message"] and "activated" in m["message"]]
    assert any("validate-assignment is activated" in m for m in activated), \
        f"nbgrader's validate-assignment plugin did not report activation; console: {messages}"
    assert any("assignment-list is activated" in m for m in activated), \
        f"nbgrader's assignment-list plugin did not report activation; console: {messages}"
    errors = [m for m in messages if m["level"] == "SEVERE" and "favicon" not in m["message"]]
    assert not errors, f"the browser console has errors after loading JupyterLab: {errors}"

    # the student's assignment list opens from the Nbgrader menu
    page.click([m for m in page.find(".lm-MenuBar-item") if m.text.strip() == "Nbgrader"][0])
    page.menu_item("Assignment List").click()
    released = lab_tools.wait_for(lambda: [e for e in page.find("#released_assignments_list") if "vae_by_hand" in e.text],
                            30, "the released assignment vae_by_hand in nbgrader's assignment list")[0]
    page.screenshot("00_nbgrader_assignment_list")
    assert "Fetch" in released.text, f"the released assignment has no Fetch button: {released.text}"
    assert "does not exist" not in page.find("#nbgrader-assignment-list")[0].text
    assert not severe_console_errors(page), "opening nbgrader's assignment list logged errors in the console"


def test_solution_runs_without_errors_and_draws_its_figures(page):
    """Run All on the reference solution: every cell runs, no error output, the figures render."""
    page.open(SOLUTION)
    page.run_all()
    prompts = page.prompts()
    assert all(p.strip("[]:").isdigit() for p in prompts), f"some cells of the solution did not run: {prompts}"
    errors = page.error_texts()
    assert not errors, f"the solution shows error output in JupyterLab: {errors}"
    images = page.images()
    assert len(images) >= 3, f"expected the solution's 3 figures as images in the page, found {len(images)}"
    page.scroll_to(images[-1])
    page.screenshot("01_solution_run_all_figures")
    assert not severe_console_errors(page), "running the solution logged errors in the browser console"


def test_solution_passes_nbgrader_validate(page):
    """nbgrader's Validate button reports the solution as passing."""
    page.open(SOLUTION)
    title, body = page.validate()
    outcome = page.validation_outcome()
    page.screenshot("03_validate_solution_passes")
    page.close_dialog()
    assert outcome == "passed", f"Validate did not pass the solution: {title}: {body}"
    assert "passes all the tests" in body


def test_untouched_student_notebook_shows_not_implemented(page):
    """Run All on the untouched release stops at the first exercise with NotImplementedError; the page survives."""
    page.open(STUDENT)
    page.run_all()
    errors = page.error_texts()
    assert errors, "the untouched student notebook ran without any error: are its solution cells stubbed?"
    assert "NotImplementedError" in errors[0], f"expected NotImplementedError, the page shows: {errors[0][:500]}"
    # the page is still a working JupyterLab: menu bar, notebook and an idle kernel
    assert page.find(".lm-MenuBar-item") and page.notebook().is_displayed()
    assert page.kernel_status() == "Idle"
    page.scroll_to(page.outputs("application/vnd.jupyter.stderr")[0])
    page.screenshot("02_student_not_implemented")
    assert not severe_console_errors(page), "running the student notebook logged errors in the browser console"


def test_untouched_student_notebook_fails_nbgrader_validate(page):
    """nbgrader's Validate button reports the untouched student notebook as failing, naming a test."""
    page.open(STUDENT)
    title, body = page.validate()
    outcome = page.validation_outcome()
    page.screenshot("04_validate_student_fails")
    page.close_dialog()
    assert outcome == "failed", f"Validate should fail the untouched notebook; it said {title}: {body[:500]}"
    assert "The following cell failed" in body and "X_true" in body, \
        f"the validation message should name the first failing test (on X_true): {body[:500]}"


def test_latent_explorer_follows_the_slider(page):
    """The latent explorer widget renders, and dragging a slider changes the decoded image."""
    page.open("widgets_demo.ipynb")
    page.run_all()
    assert not page.error_texts(), f"the widget notebook shows errors: {page.error_texts()}"
    explorer = lab_tools.wait_for(lambda: page.find(".vae-latent-explorer"), 30, "the latent explorer widget")[0]
    sliders = explorer.find_elements("css selector", ".widget-slider")
    assert len(sliders) == 2, f"expected 2 sliders (z_1, z_2), found {len(sliders)}"
    image = explorer.find_elements("css selector", "img")[0]
    caption = explorer.find_elements("css selector", ".widget-label")
    before_src, before_text = image.get_attribute("src"), explorer.text
    page.scroll_to(explorer)
    page.screenshot("05_latent_explorer_before")

    handle = sliders[0].find_elements("css selector", ".noUi-handle")[0]
    ActionChains(page.driver).drag_and_drop_by_offset(handle, 60, 0).perform()
    lab_tools.wait_for(lambda: image.get_attribute("src") != before_src, 30, "the decoded image to change")
    lab_tools.wait_for(lambda: explorer.text != before_text and "z = (0.00, 0.00)" not in explorer.text, 30,
                 "the caption to show the new z")
    assert caption, "the explorer has no caption"
    lab_tools.wait_for(page.kernel_idle, 30, "the kernel to go idle")
    page.screenshot("06_latent_explorer_after_drag")

    interp = lab_tools.wait_for(lambda: page.find(".vae-interpolation-explorer"), 30, "the interpolation explorer")[0]
    assert len(interp.find_elements("css selector", "img")) == 3, "the interpolation explorer shows a, the mix, and b"
    page.scroll_to(interp)
    page.screenshot("07_interpolation_explorer")
    assert not severe_console_errors(page), "the widgets logged errors in the browser console"



def test_feedback_page_is_readable_and_shows_no_hidden_tests(page, course):
    """An autograded untouched submission gets feedback HTML with its scores and no hidden-test code."""
    from grading import course_dir as coursetools
    from grading import feedback

    coursetools.run_nbgrader(["generate_assignment", "vae_by_hand", "--force"], course)
    coursetools.submit(course, "student", "vae_by_hand", coursetools.NOTEBOOKS / "vae_by_hand")
    coursetools.autograde(course, "student", "vae_by_hand")
    coursetools.run_nbgrader(["generate_feedback", "vae_by_hand", "--force"], course)
    html = course / "feedback" / "student" / "vae_by_hand" / NOTEBOOK.replace(".ipynb", ".html")
    assert html.exists(), "nbgrader generate_feedback wrote no HTML"
    page.driver.get(html.as_uri())
    lab_tools.wait_for(lambda: "01_forward_pass_and_losses (Score: 0.0 / 14.0)" in page.find("body")[0].text, 30,
                 "the notebook's score at the top of the feedback page")
    page.screenshot("08_feedback_top")
    marker = page.driver.find_elements("xpath", "//*[contains(text(), 'hidden tests: not shown')]")
    assert marker, "the feedback does not mark where the hidden tests were removed"
    page.scroll_to(marker[0])
    page.screenshot("09_feedback_hidden_tests_removed")
    text = page.driver.find_element("css selector", "body").text
    leaked = [line for line in feedback.hidden_lines([coursetools.SOLUTIONS / "vae_by_hand" / NOTEBOOK]) if line in text]
    assert not leaked, f"the feedback page shows hidden-test code: {leaked[:3]}"


def test_a_server_that_cannot_start_is_reported_with_its_log(tmp_path):
    """A port already in use stops the wait at once, with JupyterLab's own explanation."""
    import socket

    import pytest

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        server = lab_tools.LabServer(tmp_path, startup_timeout=60)
        server.port = busy.getsockname()[1]
        server.base = f"http://127.0.0.1:{server.port}"
        with pytest.raises((lab_tools.Abort, TimeoutError), match="JupyterLab"):
            server.start()
    assert server.proc is None, "the failed server was not cleaned up"
