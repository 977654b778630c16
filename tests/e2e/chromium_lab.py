"""Drive JupyterLab in headless Chromium, the way a student uses it (tests/e2e uses this).

Everything runs in a scratch course folder: a JupyterLab server bound to 127.0.0.1 with a
random token, and Debian's chromium + chromium-driver through Selenium. No browser is downloaded.

    with LabServer(course_root) as lab, Browser() as browser:
        page = LabPage(browser.driver, lab)
        page.open("notebooks/vae_by_hand/01_forward_pass_and_losses.ipynb")
        page.run_all()

Run `.venv/bin/python tests/e2e/chromium_lab.py` to check that the browser and JupyterLab start here.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--window-size=1400,1000"]
INSTALL_HINT = "install them with: sudo apt-get install chromium chromium-driver"

# JupyterLab user settings for the scratch server: no "Jupyter news" toast over the notebook,
# and every cell kept in the page so that outputs far down a notebook can be found.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None when chromium and chromedriver are present."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        return f"{' and '.join(missing)} not found: {INSTALL_HINT}"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Abort(RuntimeError):
    """Raised by a wait_for condition to stop waiting at once (e.g. the server died)."""


def wait_for(condition, timeout: float, what: str, interval: float = 0.25):
    """Call condition() until it returns something truthy; raise TimeoutError naming `what`.

    Other exceptions from condition() count as "not yet" (the page may be between two states), except Abort.
    """
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Abort:
            raise
        except Exception as e:  # noqa: BLE001 - the page may be between two states
            last_error = e
        time.sleep(interval)
    raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what}"
                       + (f" (last error: {last_error!r})" if last_error else ""))


class LabServer:
    """JupyterLab on 127.0.0.1 with a random token, serving `root` (a scratch course folder).

    The server runs in `root`, so nbgrader's validate button reads root/nbgrader_config.py.
    Its settings and workspaces live in a temporary folder, never in the user's ~/.jupyter.
    """

    def __init__(self, root: Path, startup_timeout: float = 60):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"course folder {self.root} does not exist")
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self.token = secrets.token_hex(24)
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self._state = Path(tempfile.mkdtemp(prefix="e2e-lab-"))
        self.log_path = self._state / "server.log"

    def __enter__(self) -> "LabServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        settings = self._state / "settings"
        for name, values in LAB_SETTINGS.items():
            path = settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = dict(os.environ,
                   JUPYTERLAB_SETTINGS_DIR=str(settings),
                   JUPYTERLAB_WORKSPACES_DIR=str(self._state / "workspaces"),
                   JUPYTER_RUNTIME_DIR=str(self._state / "runtime"),
                   MPLBACKEND="module://matplotlib_inline.backend_inline",
                   PYTHONWARNINGS="ignore")
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
               "--ServerApp.allow_root=True", "--LabApp.news_url=None",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            wait_for(self._ready, self.startup_timeout, f"JupyterLab to answer on {self.base}")
        except TimeoutError:
            log = self.log()
            self.stop()
            raise TimeoutError(f"JupyterLab did not start within {self.startup_timeout:.0f} s; its log:\n{log}") from None
        except Abort:
            self.stop()
            raise

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise Abort(f"JupyterLab exited with code {self.proc.returncode}:\n{self.log()}")
        try:
            self.api("GET", "/api/status", timeout=2)
            return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def log(self) -> str:
        """The server's log so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def api(self, method: str, path: str, body: dict | None = None, timeout: float = 30):
        """Call the server's REST API with the token; return the decoded JSON (or None)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Authorization": f"token {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            text = r.read().decode()
        return json.loads(text) if text else None

    def url(self, path: str = "") -> str:
        """URL of `path` (relative to the course folder) in JupyterLab, with a fresh workspace."""
        return f"{self.base}/lab/tree/{path}?reset&token={self.token}"

    def kernels(self) -> list[dict]:
        """The running kernels, as the REST API lists them."""
        return self.api("GET", "/api/kernels")

    def stop(self) -> None:
        """Shut down the kernels, then the server (killed if it does not stop within 15 s)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                for k in self.kernels():
                    self.api("DELETE", f"/api/kernels/{k['id']}", timeout=10)
            except Exception:  # noqa: BLE001 - we are shutting down anyway
                pass
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()
        self.proc = None
        shutil.rmtree(self._state, ignore_errors=True)


class Browser:
    """Headless Debian chromium driven by Debian's chromedriver, with a fresh profile."""

    def __init__(self):
        problem = missing_browser()
        if problem:
            raise RuntimeError(problem)
        self.profile = Path(tempfile.mkdtemp(prefix="e2e-chromium-"))
        self.driver = None

    def __enter__(self) -> "Browser":
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in CHROMIUM_FLAGS + [f"--user-data-dir={self.profile}"]:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        try:
            self.driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        except Exception:
            shutil.rmtree(self.profile, ignore_errors=True)
            raise
        self.driver.set_page_load_timeout(60)
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self.driver is not None:
                self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)


class LabPage:
    """The JupyterLab page, seen and used through the DOM as a student would."""

    def __init__(self, driver, lab: LabServer):
        self.driver = driver
        self.lab = lab
        self.console: list[dict] = []

    # -- low level ------------------------------------------------------------------------
    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def find(self, css: str):
        from selenium.webdriver.common.by import By
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def click(self, element) -> None:
        self.js("arguments[0].scrollIntoView({block: 'center'});", element)
        element.click()

    def collect_console(self) -> list[dict]:
        """Browser console messages since the last call (also kept in self.console)."""
        new = self.driver.get_log("browser")
        self.console.extend(new)
        return new

    def screenshot(self, name: str) -> Path:
        """Save the page as build/screenshots/<name>.png."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    # -- notebooks ------------------------------------------------------------------------
    def open(self, path: str, timeout: float = 60) -> None:
        """Open the notebook at `path` (relative to the course folder) and wait for its kernel."""
        self.driver.get(self.lab.url(path))
        name = Path(path).name
        wait_for(lambda: any(t.text.strip() == name for t in self.find(".lm-DockPanel-tabBar .lm-TabBar-tabLabel")),
                 timeout, f"the tab of {name}")
        wait_for(lambda: self.find(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell"), timeout, f"the cells of {name}")
        wait_for(self.kernel_idle, timeout, f"the kernel of {name} to start and go idle")

    def notebook(self):
        """The visible notebook panel."""
        panels = self.find(".jp-NotebookPanel:not(.lm-mod-hidden)")
        if not panels:
            raise RuntimeError("no notebook is open")
        return panels[0]

    def kernel_status(self) -> str:
        """The kernel status as the status bar shows it ('Idle', 'Busy', 'Starting', ...)."""
        for widget in self.find(".jp-StatusBar-Widget"):
            for line in widget.text.splitlines():  # e.g. "Python 3 (ipykernel) | Idle"
                if "|" in line:
                    return line.split("|")[-1].strip()
        return ""

    def kernel_idle(self) -> bool:
        """The status bar says Idle and the server agrees that every kernel is idle."""
        kernels = self.lab.kernels()
        return (self.kernel_status() == "Idle" and bool(kernels)
                and all(k["execution_state"] == "idle" for k in kernels))

    def prompts(self) -> list[str]:
        """The input prompts of the code cells, e.g. ['[1]:', '[*]:', '[ ]:']."""
        return [p.get_attribute("textContent").strip()
                for p in self.notebook().find_elements("css selector", ".jp-CodeCell .jp-InputPrompt")]

    def open_menu(self, label: str) -> None:
        """Click `label` ('File', 'Edit', 'Run', ...) in JupyterLab's menu bar."""
        menu = [m for m in self.find(".lm-MenuBar-item") if m.text.strip() == label]
        if not menu:
            raise RuntimeError(f"the {label} menu is missing from JupyterLab's menu bar")
        self.click(menu[0])

    def run_all(self, timeout: float = 120) -> None:
        """Edit > Clear Outputs of All Cells, Run > Run All Cells, then wait until nothing runs or is queued.

        Clearing first makes every prompt '[ ]:', so that a notebook saved with outputs cannot look finished
        before it ran.
        """
        self.open_menu("Edit")
        self.menu_item("Clear Outputs of All Cells").click()
        wait_for(lambda: all(p in ("[ ]:", "") for p in self.prompts()), 10, "the outputs to be cleared")
        self.open_menu("Run")
        self.menu_item("Run All Cells").click()
        # the first code cell gets a number once it ran; then wait for the queue to drain
        wait_for(lambda: self.prompts() and self.prompts()[0] not in ("[ ]:", ""), timeout,
                 "the first cell to run")
        wait_for(lambda: not any("*" in p for p in self.prompts()) and self.kernel_idle(), timeout,
                 "all cells to finish and the kernel to go idle")

    def menu_item(self, label: str, timeout: float = 10):
        """The item of the open menu whose label is `label`."""
        def find():
            return [i for i in self.find(".lm-Menu-item")
                    if i.find_elements("css selector", ".lm-Menu-itemLabel")
                    and i.find_elements("css selector", ".lm-Menu-itemLabel")[0].text.strip() == label]
        return wait_for(find, timeout, f"the menu item {label!r}")[0]

    def outputs(self, mime: str) -> list:
        """Output elements of the visible notebook with the given MIME type."""
        return self.notebook().find_elements("css selector", f'.jp-OutputArea-output[data-mime-type="{mime}"]')

    def error_texts(self) -> list[str]:
        """Text of every error (and stderr) output in the visible notebook."""
        return [e.get_attribute("textContent") for e in self.outputs("application/vnd.jupyter.stderr")]

    def images(self) -> list:
        """Rendered image outputs (matplotlib figures) in the visible notebook."""
        return [img for img in self.notebook().find_elements("css selector", ".jp-RenderedImage img")
                if self.js("return arguments[0].complete && arguments[0].naturalWidth > 0;", img)]

    def scroll_to(self, element) -> None:
        self.js("arguments[0].scrollIntoView({block: 'center'});", element)
        time.sleep(0.3)  # let the scroll settle before a screenshot

    # -- nbgrader -------------------------------------------------------------------------
    def validate(self, timeout: float = 150) -> tuple[str, str]:
        """Click nbgrader's Validate toolbar button; wait for its dialog and return (title, body text)."""
        buttons = self.notebook().find_elements("css selector", ".validate-button")
        if not buttons:
            raise RuntimeError("nbgrader's Validate button is missing from the notebook toolbar")
        buttons[0].click()
        dialog = wait_for(lambda: self.find(".jp-Dialog"), timeout, "nbgrader's validation dialog")[0]
        wait_for(lambda: dialog.find_elements("css selector", ".jp-Dialog-header"), 10, "the dialog's title")
        title = dialog.find_elements("css selector", ".jp-Dialog-header")[0].text
        body = dialog.find_elements("css selector", ".jp-Dialog-body")
        return title, body[0].text if body else ""

    def validation_outcome(self) -> str:
        """'passed', 'failed' or 'error' from the open nbgrader dialog (its #validation-message classes)."""
        message = self.find(".jp-Dialog #validation-message")
        if not message:
            return "error"  # e.g. "Validation failed: Cannot check version", the JupyterLab 4.3 breakage
        classes = message[0].get_attribute("class").split()
        return "passed" if "validation-success" in classes else "failed" if "validation-failed" in classes else "error"

    def close_dialog(self) -> None:
        for button in self.find(".jp-Dialog .jp-Dialog-button.jp-mod-accept"):
            button.click()
        wait_for(lambda: not self.find(".jp-Dialog"), 10, "the dialog to close")


def main() -> int:
    """Smoke check: start JupyterLab on a scratch folder and load it in chromium."""
    problem = missing_browser()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp, LabServer(Path(tmp)) as lab, Browser() as browser:
        browser.driver.get(lab.url())
        wait_for(lambda: browser.driver.find_elements("css selector", ".lm-MenuBar-item"), 60, "JupyterLab's menu bar")
        page = LabPage(browser.driver, lab)
        print("JupyterLab loaded; screenshot:", page.screenshot("smoke"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
