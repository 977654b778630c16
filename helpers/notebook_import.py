"""Use the functions you wrote in one notebook from another, without copying them.

``h.functions_from_notebook("01_base_vae.ipynb", ["reparameterize", "vae_loss"], globals())`` reads the
*saved* notebook next to the running one (JupyterLab, nbgrader Validate and autograding all run a
notebook in its own folder), finds the answer cells (nbgrader solution cells) that define the named
functions, and runs only their import statements and their function and class definitions: no other
line of that notebook runs, so nothing trains and nothing prints. It says which notebook and cell each
function came from, or raises NotebookImportError saying why it could not (a missing file, an
unfinished answer, a syntax error, a function that no answer cell defines).
"""

from __future__ import annotations

import ast
import json
import linecache
import time
from pathlib import Path

__all__ = ["functions_from_notebook", "NotebookImportError"]

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_KEEP = (ast.Import, ast.ImportFrom) + _DEFS


class NotebookImportError(ImportError):
    """The functions could not be taken from the other notebook; the message says why and what to do."""


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _is_answer(cell) -> bool:
    return cell.get("cell_type") == "code" and bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def _heading_before(cells, index: int) -> str:
    """The last markdown heading above cells[index] ('Part 1: ...'), or ''."""
    for cell in reversed(cells[:index]):
        if cell.get("cell_type") == "markdown":
            for line in _source(cell).splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return ""


def _is_stub(node) -> bool:
    """True if the function body still raises NotImplementedError (the release's placeholder)."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Raise) and sub.exc is not None:
            exc = sub.exc.func if isinstance(sub.exc, ast.Call) else sub.exc
            if isinstance(exc, ast.Name) and exc.id == "NotImplementedError":
                return True
    return False


def _read(path: Path) -> list:
    if not path.exists():
        raise NotebookImportError(
            f"{path.name} is not in this notebook's folder ({path.parent}). Keep the assignment's notebooks "
            f"together in one folder (as they were released and as you submit them), then run this cell again.")
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = nb["cells"]
    except (ValueError, KeyError, TypeError) as exc:
        raise NotebookImportError(f"{path.name} could not be read as a notebook ({type(exc).__name__}: {exc}). "
                                  "Open it in JupyterLab, check that it loads, and save it again.") from None
    return cells


def functions_from_notebook(notebook: str, names, namespace: dict, folder=None, quiet: bool = False) -> dict:
    """Define `names` in `namespace` (pass globals()) from the answer cells of the saved `notebook`.

    notebook: file name, looked up in `folder` (default: the current directory, the running notebook's).
    Runs, for each answer cell that defines one of `names` at its top level, only that cell's imports
    and function/class definitions, in `namespace`. Returns {name: description of its cell}.
    Raises NotebookImportError (missing file, unreadable notebook, a name no answer cell defines,
    a syntax error, an unfinished answer that still raises NotImplementedError).
    """
    names = [names] if isinstance(names, str) else list(names)
    path = Path(folder if folder is not None else Path.cwd()) / notebook
    cells = _read(path)
    found, plan = {}, []
    for index, cell in enumerate(cells):
        if not _is_answer(cell):
            continue
        src = _source(cell)
        heading = _heading_before(cells, index)
        where = f"cell {index + 1}" + (f" (under '{heading}')" if heading else "")
        filename = f"<{notebook}, {where}>"
        try:
            tree = ast.parse(src, filename=filename)
        except SyntaxError as exc:
            wanted = [n for n in names if f"def {n}(" in src]
            if wanted:
                raise NotebookImportError(
                    f"{notebook}, {where}, which defines {', '.join(wanted)}, has a syntax error on its line "
                    f"{exc.lineno}: {exc.msg}. Fix it in {notebook}, save, and run this cell again.") from None
            continue
        defined = {node.name: node for node in tree.body if isinstance(node, _DEFS)}
        mine = [n for n in names if n in defined and n not in found]
        if not mine:
            continue
        unfinished = [n for n in mine if _is_stub(defined[n])]
        if unfinished:
            raise NotebookImportError(
                f"{', '.join(unfinished)} in {notebook}, {where}, is not written yet (it still raises "
                f"NotImplementedError). Finish it in {notebook}, save that notebook, and run this cell again.")
        for n in mine:
            found[n] = where
        plan.append((filename, src, ast.Module(body=[node for node in tree.body if isinstance(node, _KEEP)],
                                               type_ignores=[])))
    missing = [n for n in names if n not in found]
    if missing:
        raise NotebookImportError(
            f"no answer cell of {notebook} defines {', '.join(missing)}: write it there under this exact name "
            f"(def {missing[0]}(...)), save the notebook, and run this cell again.")
    for filename, src, module in plan:
        linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)  # tracebacks show the lines
        try:
            exec(compile(module, filename, "exec"), namespace)
        except Exception as exc:  # an import or a default argument failed while defining
            raise NotebookImportError(f"defining the functions of {filename[1:-1]} failed: "
                                      f"{type(exc).__name__}: {exc}") from exc
    if not quiet:
        saved = time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))
        print(f"from {notebook} (saved {saved}):")
        for n in names:
            print(f"  {n:<20} {found[n]}")
    return found
