"""JupyterHub 5 for a class on one machine, with nbgrader's exchange: `make hub` (hub/run.py) starts it, as root.

Every person is an OS account that hub/run.py created: <HUB_PREFIX><name>. People log in with their account
name and their own system password (JupyterHub's PAMAuthenticator); only the roster's accounts are allowed.
Each single-user server runs as its account (JupyterHub's LocalProcessSpawner, with a check of who listens on
its port: hub/spawner.py), in its own home $HUB_STATE/home/<account> (0700). The instructor's home holds the
course folder vae-course/ (its gradebook, submitted/, autograded/, feedback/), whose formgrader opens from
JupyterLab's Nbgrader menu. Students see the Assignment List only, and nbgrader names their submissions after
their OS account.

The hub's own database, cookie secret and log are in $HUB_STATE/hub (root, 0700). The settings the hub gives a
server are in $HUB_STATE/config/<account> (root-owned, readable by that account), on JUPYTER_CONFIG_PATH; the
person's own ~/.jupyter comes first, as usual (they configure their own server, nobody else's).

Settings come from the environment (hub/run.py sets them):
  HUB_STATE       the state folder (hub/run.py lays it out)
  HUB_PORT        public port on 127.0.0.1 (default 8000); HUB_API_PORT, HUB_PROXY_API_PORT internal ports
  HUB_PREFIX      prefix of the accounts (default vae-)
  HUB_INSTRUCTOR  the instructor's name (default instructor)
  HUB_STUDENTS    comma-separated student names (default alice,bob,carol)
"""

import importlib.util
import json
import os
import pwd
import sys
from pathlib import Path

c = get_config()  # noqa: F821  (provided by JupyterHub when it loads this file)

STATE = Path(os.environ["HUB_STATE"]).resolve()
PREFIX = os.environ.get("HUB_PREFIX", "vae-")
INSTRUCTOR = PREFIX + os.environ.get("HUB_INSTRUCTOR", "instructor")
NAMES = [os.environ.get("HUB_INSTRUCTOR", "instructor")] + [
    s for s in os.environ.get("HUB_STUDENTS", "alice,bob,carol").split(",") if s]
COURSE_ID = "vae-course"
EXCHANGE = STATE / "exchange"
VENV_BIN = Path(sys.executable).parent

c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = int(os.environ.get("HUB_PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ.get("HUB_API_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ.get('HUB_PROXY_API_PORT', '8001')}"
c.ConfigurableHTTPProxy.pid_file = str(STATE / "hub" / "jupyterhub-proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{STATE / 'hub' / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "hub" / "jupyterhub_cookie_secret")

# Each person's own system password (PAM): the instructor's account opens only with the instructor's.
c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_users = {PREFIX + name for name in NAMES}

# Every single-user server runs as its person's account, never as root: JupyterHub's LocalProcessSpawner,
# which here also checks that the server's port is listened on by that account alone (hub/spawner.py).
_spec = importlib.util.spec_from_file_location("vae_hub_spawner", Path(__file__).resolve().parent / "spawner.py")
_spawner = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_spawner)
c.JupyterHub.spawner_class = _spawner.OwnPortSpawner
c.Spawner.cmd = [str(VENV_BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.http_timeout = 300
c.Spawner.start_timeout = 300


def _config_dir(spawner) -> Path:
    return STATE / "config" / spawner.user.name


def _home(user: str) -> Path:
    return Path(pwd.getpwnam(user).pw_dir)


c.Spawner.environment = {
    "PATH": f"{VENV_BIN}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
    "JUPYTER_CONFIG_PATH": lambda spawner: str(_config_dir(spawner)),
    # generated files of the course's helpers (trained models, data): the person's own, never shared
    "VAE_COURSE_BUILD": lambda spawner: str(_home(spawner.user.name) / ".cache" / "vae-course"),
    # the kernels' connection folders of a person's grading (the instructor's formgrader autograde): in the 0700
    # home, never /tmp/vae-kernels-<uid>, which any other account could make first and so stop the grading
    "VAE_KERNEL_DIR": lambda spawner: str(_home(spawner.user.name) / ".vae-kernels"),
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    "PYTHONWARNINGS": "ignore",
}

# Students get nbgrader's Assignment List only; the instructor also the formgrader and Create Assignment.
STUDENT_ONLY_OFF = {
    "server": ["nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.course_list"],
    # the lab plugins' ids, as in nbgrader's labextension (@jupyter/nbgrader/static/*.js)
    "lab": ["@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment", "@jupyter/nbgrader:course-list"],
}


def server_headers() -> dict:
    """HTTP headers of every page of a user's server."""
    # JupyterHub 5 forbids framing a user's pages ("frame-ancestors 'none'"); the formgrader opens in an iframe
    # of the user's own JupyterLab, so allow framing by the same origin.
    return {"Content-Security-Policy": "frame-ancestors 'self'"}


def _write(path: Path, text: str, gid: int) -> None:
    """A root-owned file that group `gid` (the account's own group) may read."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o640)
    with open(fd, "w") as f:
        f.write(text)
    os.chown(path, 0, gid)
    os.chmod(path, 0o640)


def write_user_config(folder: Path, user: str) -> None:
    """The settings the hub gives `user`'s server: nbgrader's course and exchange, which nbgrader tools they
    see, and the server's headers. `folder` is root's (in $HUB_STATE/config), readable by the user alone."""
    gid = pwd.getpwnam(user).pw_gid
    for path in (folder, folder / "labconfig", folder / "lab-settings"):
        path.mkdir(mode=0o750, exist_ok=True)
        os.chown(path, 0, gid, follow_symlinks=False)
        os.chmod(path, 0o750)
    lines = ["c = get_config()", f"c.CourseDirectory.course_id = {COURSE_ID!r}", f"c.Exchange.root = {str(EXCHANGE)!r}"]
    if user == INSTRUCTOR:
        # The formgrader runs in the server's folder (the home), so it would not read the course's own config:
        # load it here, so that the formgrader grades (and collects) exactly as nbgrader in the course folder does.
        course = _home(user) / COURSE_ID
        lines += [f"load_subconfig({str(course / 'nbgrader_config.py')!r})", f"c.CourseDirectory.root = {str(course)!r}",
                  "c.ExchangeFactory.collect = 'grading.exchange.ExchangeCollect'"]
    # No c.CourseDirectory.student_id: nbgrader names a submission after the OS account that submits it.
    _write(folder / "nbgrader_config.py", "\n".join(lines) + "\n", gid)
    # JupyterLab's application settings (the course's environment has none of its own): no "Jupyter news"
    # question over every student's first page
    server = {"ServerApp": {"jpserver_extensions": {}, "tornado_settings": {"headers": server_headers()}},
              "LabApp": {"news_url": None, "app_settings_dir": str(folder / "lab-settings")}}
    news = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false"}}
    _write(folder / "lab-settings" / "overrides.json", json.dumps(news, indent=1), gid)
    lab = {"disabledExtensions": {}}
    if user != INSTRUCTOR:
        server["ServerApp"]["jpserver_extensions"] = {name: False for name in STUDENT_ONLY_OFF["server"]}
        lab["disabledExtensions"] = {name: True for name in STUDENT_ONLY_OFF["lab"]}
    _write(folder / "jupyter_server_config.json", json.dumps(server, indent=1), gid)
    _write(folder / "labconfig" / "page_config.json", json.dumps(lab, indent=1), gid)


def pre_spawn_hook(spawner) -> None:
    write_user_config(_config_dir(spawner), spawner.user.name)


c.Spawner.pre_spawn_hook = pre_spawn_hook
