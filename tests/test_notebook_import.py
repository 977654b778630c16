"""h.functions_from_notebook: notebook 02 and 03 take the student's notebook-01 functions from 01 itself."""

import math
import shutil

import nbformat
import pytest

import helpers as h

ROOT = h.__file__ and __import__("pathlib").Path(h.__file__).resolve().parent.parent
SOLUTION_01 = ROOT / "solutions" / "mnist_vaes" / "01_base_vae.ipynb"
RELEASE_01 = ROOT / "notebooks" / "mnist_vaes" / "01_base_vae.ipynb"
NAMES = ["reparameterize", "kl_standard_normal", "vae_loss", "target_prior"]


def _namespace():
    import torch

    return {"torch": torch, "math": math}


def _edit(tmp_path, cell_id, old, new):
    nb = nbformat.read(SOLUTION_01, as_version=4)
    cell = next(c for c in nb.cells if c.get("id") == cell_id)
    assert cell.source.count(old) == 1
    cell.source = cell.source.replace(old, new)
    nbformat.write(nb, tmp_path / SOLUTION_01.name)


def test_reference_functions_are_defined_and_correct(tmp_path, capsys):
    import torch

    shutil.copy(SOLUTION_01, tmp_path)
    ns = _namespace()
    found = h.functions_from_notebook(SOLUTION_01.name, NAMES, ns, folder=tmp_path)
    assert set(found) == set(NAMES)
    out = capsys.readouterr().out
    assert "01_base_vae.ipynb" in out and "Part 1: The reparameterization trick" in out
    # the exact values of notebook 01's check-yourself cells
    kl = ns["kl_standard_normal"](torch.full((1, 3), 2.0), torch.zeros(1, 3))
    assert math.isclose(float(kl[0]), 6.0, rel_tol=1e-6)
    loss, recon, _ = ns["vae_loss"](torch.zeros(2, 784), torch.full((2, 784), 0.5), torch.zeros(2, 4), torch.zeros(2, 4))
    assert math.isclose(float(recon), 196.0, rel_tol=1e-6) and math.isclose(float(loss), 196.0, rel_tol=1e-6)
    # vae_loss finds kl_standard_normal in the same namespace, as in the notebook
    assert ns["vae_loss"].__globals__ is ns


def test_only_definitions_run(tmp_path):
    """A statement left in an answer cell (a print, a training call) does not run in the other notebook."""
    _edit(tmp_path, "solution_kl_standard_normal", "def kl_standard_normal(", "raise SystemExit('ran')\n\n\ndef kl_standard_normal(")
    ns = _namespace()
    h.functions_from_notebook(SOLUTION_01.name, ["kl_standard_normal"], ns, folder=tmp_path, quiet=True)
    assert callable(ns["kl_standard_normal"]) and "reparameterize" not in ns


def test_default_folder_is_the_working_directory(tmp_path, monkeypatch):
    shutil.copy(SOLUTION_01, tmp_path)
    monkeypatch.chdir(tmp_path)
    ns = _namespace()
    h.functions_from_notebook(SOLUTION_01.name, "target_prior", ns, quiet=True)
    assert callable(ns["target_prior"])


def test_missing_notebook_is_named(tmp_path):
    with pytest.raises(h.NotebookImportError, match=r"01_base_vae.ipynb is not in this notebook's folder"):
        h.functions_from_notebook(SOLUTION_01.name, NAMES, _namespace(), folder=tmp_path)


def test_unfinished_release_is_named(tmp_path):
    shutil.copy(RELEASE_01, tmp_path)
    with pytest.raises(h.NotebookImportError, match=r"reparameterize in 01_base_vae.ipynb, cell \d+ .*NotImplementedError"):
        h.functions_from_notebook(RELEASE_01.name, NAMES, _namespace(), folder=tmp_path)


def test_syntax_error_is_located(tmp_path):
    _edit(tmp_path, "solution_vae_loss", "recon = torch.sum(", "recon = torch.sum((")
    with pytest.raises(h.NotebookImportError, match=r"defines vae_loss, has a syntax error on its line \d+"):
        h.functions_from_notebook(SOLUTION_01.name, NAMES, _namespace(), folder=tmp_path)


def test_renamed_function_is_reported(tmp_path):
    _edit(tmp_path, "solution_target_prior", "def target_prior(", "def my_target_prior(")
    with pytest.raises(h.NotebookImportError, match=r"no answer cell of 01_base_vae.ipynb defines target_prior"):
        h.functions_from_notebook(SOLUTION_01.name, NAMES, _namespace(), folder=tmp_path)


def test_corrupted_notebook_is_reported(tmp_path):
    (tmp_path / SOLUTION_01.name).write_text('{"cells": [')
    with pytest.raises(h.NotebookImportError, match="could not be read as a notebook"):
        h.functions_from_notebook(SOLUTION_01.name, NAMES, _namespace(), folder=tmp_path)


def test_traceback_shows_the_student_line(tmp_path):
    """An error inside an imported function points at notebook 01's cell and line."""
    import traceback

    _edit(tmp_path, "solution_kl_standard_normal", "return -0.5 * torch.sum(", "return -0.5 * undefined_name + torch.sum(")
    ns = _namespace()
    h.functions_from_notebook(SOLUTION_01.name, ["kl_standard_normal"], ns, folder=tmp_path, quiet=True)
    with pytest.raises(NameError) as info:
        ns["kl_standard_normal"](None, None)
    text = "".join(traceback.format_tb(info.value.__traceback__))
    assert "01_base_vae.ipynb, cell" in text and "undefined_name" in text
