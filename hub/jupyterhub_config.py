"""JupyterHub 5 for a class on one machine, with nbgrader's exchange: `make hub` (hub/run.py) starts it.

One instructor and a few students log in at http://127.0.0.1:8000 with one shared password (JupyterHub's
SharedPasswordAuthenticator: for a workshop on a trusted machine or a test; see README, Running a class, for
real accounts). Every user gets a home under $HUB_STATE/home/<user>; the instructor's holds the course folder
vae-course/ (its gradebook, submitted/, autograded/, feedback/), whose formgrader opens from JupyterLab's
Nbgrader menu. Students see the Assignment List only.

Settings come from the environment (hub/run.py sets them):
  HUB_STATE       folder for the hub's database, the homes and the exchange (default build/hub)
  HUB_PORT        public port on 127.0.0.1 (default 8000); HUB_API_PORT, HUB_PROXY_API_PORT internal ports
  HUB_PASSWORD    the shared password (required)
  HUB_INSTRUCTOR  the instructor's user name (default instructor)
  HUB_STUDENTS    comma-separated student user names (default alice,bob,carol)
"""

import json
import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821  (provided by JupyterHub when it loads this file)

STATE = Path(os.environ.get("HUB_STATE", Path(__file__).resolve().parent.parent / "build" / "hub")).resolve()
INSTRUCTOR = os.environ.get("HUB_INSTRUCTOR", "instructor")
STUDENTS = [s for s in os.environ.get("HUB_STUDENTS", "alice,bob,carol").split(",") if s]
COURSE_ID = "vae-course"
EXCHANGE = STATE / "exchange"
VENV_BIN = Path(sys.executable).parent

c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = int(os.environ.get("HUB_PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ.get("HUB_API_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ.get('HUB_PROXY_API_PORT', '8001')}"
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")

# JupyterHub's SharedPasswordAuthenticator: the listed users log in with one password (at least 8 characters).
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = os.environ["HUB_PASSWORD"]
c.Authenticator.allowed_users = {INSTRUCTOR, *STUDENTS}

# Every single-user server runs as the hub's own OS user, in its own home: no system accounts are needed.
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = str(STATE / "home" / "{username}")
c.Spawner.cmd = [str(VENV_BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.http_timeout = 300
c.Spawner.start_timeout = 300
if os.getuid() == 0:
    c.Spawner.args = ["--allow-root"]


def _home(spawner) -> Path:
    return STATE / "home" / spawner.user.name


c.Spawner.environment = {
    "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    "HOME": lambda spawner: str(_home(spawner)),
    "JUPYTER_CONFIG_DIR": lambda spawner: str(_home(spawner) / ".jupyter"),
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    "PYTHONWARNINGS": "ignore",
}

# Students get nbgrader's Assignment List only; the instructor also the formgrader and Create Assignment.
STUDENT_ONLY_OFF = {
    "server": ["nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.course_list"],
    # the lab plugins' ids, as in nbgrader's labextension (@jupyter/nbgrader/static/*.js)
    "lab": ["@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment", "@jupyter/nbgrader:course-list"],
}


def write_user_config(home: Path, user: str) -> None:
    """~/.jupyter of one user: nbgrader's course and exchange, and which nbgrader tools they see."""
    jupyter = home / ".jupyter"
    jupyter.mkdir(parents=True, exist_ok=True)
    lines = ["c = get_config()", f"c.CourseDirectory.course_id = {COURSE_ID!r}", f"c.Exchange.root = {str(EXCHANGE)!r}"]
    if user == INSTRUCTOR:
        # The formgrader runs in the server's folder (the home), so it would not read the course's own config:
        # load it here, so that the formgrader grades exactly as `nbgrader autograde` in the course folder does.
        course = home / COURSE_ID
        lines += [f"load_subconfig({str(course / 'nbgrader_config.py')!r})", f"c.CourseDirectory.root = {str(course)!r}"]
    else:
        # nbgrader's exchange names a submission after the Unix user (or JUPYTERHUB_USER when that user is
        # "jovyan", as on a Kubernetes hub). Here every single-user server runs as the hub's own Unix user,
        # so tell nbgrader who the student is; otherwise every submission would be filed under that one name.
        lines.append(f"c.CourseDirectory.student_id = {user!r}")
    (jupyter / "nbgrader_config.py").write_text("\n".join(lines) + "\n")
    # JupyterHub 5 forbids framing a user's pages ("frame-ancestors 'none'"); the formgrader opens in an iframe
    # of the user's own JupyterLab, so allow framing by the same origin.
    server = {"ServerApp": {"jpserver_extensions": {},
                            "tornado_settings": {"headers": {"Content-Security-Policy": "frame-ancestors 'self'"}}}}
    lab = {"disabledExtensions": {}}
    if user != INSTRUCTOR:
        server["ServerApp"]["jpserver_extensions"] = {name: False for name in STUDENT_ONLY_OFF["server"]}
        lab["disabledExtensions"] = {name: True for name in STUDENT_ONLY_OFF["lab"]}
    (jupyter / "jupyter_server_config.json").write_text(json.dumps(server, indent=1))
    (jupyter / "labconfig").mkdir(exist_ok=True)
    (jupyter / "labconfig" / "page_config.json").write_text(json.dumps(lab, indent=1))
    news = jupyter / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True, exist_ok=True)
    news.write_text(json.dumps({"fetchNews": "false"}))


def pre_spawn_hook(spawner) -> None:
    write_user_config(_home(spawner), spawner.user.name)


c.Spawner.pre_spawn_hook = pre_spawn_hook
