"""environment.yml (conda) and pyproject.toml (pip) pin the same packages at the same versions."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONDA_NAMES = {"pytorch": "torch"}  # conda-forge name -> PyPI name


def pip_pins():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {}
    for dep in deps:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([0-9][A-Za-z0-9.+]*)", dep.strip())
        assert m, f"pyproject dependency {dep!r} is not pinned with =="
        pins[m.group(1).lower()] = m.group(2)
    return pins


def conda_pins():
    pins = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        m = re.fullmatch(r"\s*-\s*([A-Za-z0-9_.-]+)=([0-9][A-Za-z0-9.+]*)\s*", line)
        if m and m.group(1) != "python":
            pins[CONDA_NAMES.get(m.group(1), m.group(1)).lower()] = m.group(2)
    return pins


def test_environment_yml_matches_pyproject():
    assert conda_pins() == pip_pins()


def test_required_packages_are_pinned():
    required = {"numpy", "matplotlib", "jupyterlab", "nbgrader", "torch", "torchvision", "nbval",
                "mlxtend", "tqdm", "ipywidgets", "pytest"}
    assert required <= set(pip_pins())
    assert pip_pins()["torch"] == "2.14.1" and pip_pins()["torchvision"] == "0.29.1"


def test_installed_versions_are_the_pinned_ones():
    from importlib.metadata import version

    for name, pinned in pip_pins().items():
        assert version(name).split("+")[0] == pinned, f"{name} {version(name)} installed, {pinned} pinned: run make install"
