"""Feedback without the hidden tests: what nbgrader renders for students, and the check before it is sent.

- HideHiddenTests (registered for `nbgrader generate_feedback` in nbgrader_config.py): autograded notebooks
  contain the hidden tests again (nbgrader restores them for grading), and generate_feedback renders them by
  default. It replaces each "### BEGIN HIDDEN TESTS ... ### END HIDDEN TESTS" region of a cell with one comment
  line, and shortens the tracebacks of those cells to "ErrorName: message", because a traceback quotes the code
  around the failing line. Scores and error messages are kept.
- check(feedback_dir): the leak check of make feedback (scripts/feedback.py): every line that only appears inside
  a hidden-test region of solutions/, and every code line of an assignment's hidden fixtures, must be absent from
  every feedback page.
- generate(assignment, course, force): make feedback itself, refused while hand grading is pending.
"""

from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from .course_dir import FIXTURES_FILE, SOLUTIONS

__all__ = ["HideHiddenTests", "check", "generate", "hidden_lines", "leaked_lines"]


class HideHiddenTests(Preprocessor):
    """Remove the hidden tests' code (and the tracebacks that quote it) from feedback."""

    enabled = Bool(True)  # nbconvert preprocessors are off unless enabled
    hidden = re.compile(r"^([ \t]*)### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*(\n|\Z)", re.S | re.M)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and self.hidden.search(cell.source):
            cell.source = self.hidden.sub(r"\1# (hidden tests: not shown in the feedback)\2", cell.source)
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources


BEGIN, END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
MIN_LENGTH = 12  # shorter lines ("_n = 1000") are too generic to prove a leak


def _cell_sources(notebook: Path) -> list[str]:
    with open(notebook) as f:
        nb = json.load(f)
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in nb["cells"] if c["cell_type"] == "code"]


def _code_lines(module: Path) -> list[str]:
    """The lines of a Python file that are code: not its docstrings, not its comments."""
    import ast

    source = module.read_text()
    prose = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(
                getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
            prose.update(range(body[0].lineno, body[0].end_lineno + 1))
    return [line for i, line in enumerate(source.splitlines(), 1) if i not in prose]


def hidden_lines(notebooks, fixtures=()) -> set[str]:
    """Lines (stripped) that appear only inside hidden-test regions of the given source notebooks, or in the code
    of the given hidden-fixtures files (solutions/<assignment>/hidden_fixtures.py)."""
    inside, outside = set(), set()
    for nb in notebooks:
        for source in _cell_sources(Path(nb)):
            hidden = False
            for line in source.splitlines():
                text = line.strip()
                if text.startswith(BEGIN):
                    hidden = True
                elif text.startswith(END):
                    hidden = False
                elif text:
                    (inside if hidden else outside).add(text)
    for module in fixtures:
        inside.update(line.strip() for line in _code_lines(Path(module)) if line.strip())
    # comments and lines that are only a string (an assertion's message, shown when it fails) are not code;
    # a line the release itself shows (a fixture line that is part of a given cell's line) is no secret
    visible = "\n".join(outside)
    return {line for line in inside - outside
            if len(line) >= MIN_LENGTH and not line.startswith("#") and not re.match(r"[rbfRBF]*[\"']", line)
            and line not in visible}


def html_text(page: str) -> str:
    """The text of an HTML page as a reader sees it: tags (syntax highlighting) removed, entities decoded."""
    page = re.sub(r"(?is)<(script|style)\b.*?</\1>", "", page)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def leaked_lines(page: str, lines: set[str]) -> list[str]:
    """The hidden-test lines that can be read in the HTML page."""
    text = html_text(page)
    return sorted(line for line in lines if line in text)


BASE64 = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
HEX = re.compile(r"(?:[0-9a-fA-F]{2}[ :]?){12,}")
CHAR_CODES = re.compile(r"(?:\d{1,3}\s*[,;]\s*){12,}\d{1,3}")
ESCAPES = re.compile(r"\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|[0-7]{3})")


def _unpacked(data: bytes) -> list[str]:
    """Bytes as text, and as text after each decompression that accepts them."""
    import bz2
    import lzma
    import zlib

    out = [data.decode("utf-8", "replace")]
    for unpack in (zlib.decompress, lambda d: zlib.decompress(d, 31), lambda d: zlib.decompress(d, -15), bz2.decompress,
                   lzma.decompress):
        try:
            out.append(unpack(data).decode("utf-8", "replace"))
        except Exception:  # noqa: BLE001  (not that format)
            pass
    return out


def decoded_views(text: str) -> list[tuple[str, str]]:
    """The text, and what it says in the encodings a student could print hidden tests in: reversed, ROT13,
    URL and backslash escapes, character codes, hex and base64 runs (every alignment; compressed or not)."""
    import base64
    import binascii
    import codecs
    import urllib.parse

    views = [("text", text), ("reversed", text[::-1]), ("rot13", codecs.decode(text, "rot13"))]
    if "%" in text:
        views.append(("url-encoded", urllib.parse.unquote_plus(text)))
    if ESCAPES.search(text):
        views.append(("escaped", ESCAPES.sub(lambda m: chr(int(m.group()[2:], 16)) if m.group()[1] in "xu"
                                             else chr(int(m.group()[1:], 8)), text)))
    for m in CHAR_CODES.finditer(text):
        views.append(("character codes", "".join(chr(int(n)) for n in re.findall(r"\d+", m.group()) if int(n) < 0x110000)))
    for m in HEX.finditer(text):
        digits = re.sub(r"[ :]", "", m.group())
        for start in (0, 1):
            try:
                views += [("hex", t) for t in _unpacked(bytes.fromhex(digits[start:len(digits) - (len(digits) - start) % 2]))]
            except ValueError:
                pass
    for m in BASE64.finditer(text):
        run = m.group().rstrip("=")
        for start in range(4):
            chunk = run[start:]
            chunk = chunk[:len(chunk) - len(chunk) % 4] if len(chunk) % 4 == 1 else chunk
            for alphabet in (None, b"-_"):
                try:
                    data = base64.b64decode(chunk + "=" * (-len(chunk) % 4), altchars=alphabet)
                except (binascii.Error, ValueError):
                    continue
                views += [("base64", t) for t in _unpacked(data)]
    return views


def leaks(page: str, lines: set[str]) -> dict[str, list[str]]:
    """{encoding: hidden-test lines readable in it} for a feedback page (its HTML and its text)."""
    found: dict[str, set[str]] = {}
    for source in {page, html_text(page)}:
        for name, view in decoded_views(source):
            hit = {line for line in lines if line in view}
            if hit:
                found.setdefault(name, set()).update(hit)
    return {name: sorted(hit) for name, hit in found.items()}


def check(feedback_dir: Path, solutions: Path = SOLUTIONS) -> list[str]:
    """One message per leaking file under feedback_dir (pages and any other file) and encoding; empty when
    nothing leaks. A file of solutions/ itself (the hidden fixtures, which nbgrader copies next to the
    autograded notebooks) is a leak whatever it holds."""
    lines = hidden_lines(sorted(solutions.glob("*/*.ipynb")), sorted(solutions.glob(f"*/{FIXTURES_FILE}")))
    if not lines:  # nothing to look for: the check would pass whatever the pages show
        return [f"no hidden-test line found in {solutions}/*/*.ipynb: the leak check cannot run (is it readable?)"]
    problems = []
    for path in sorted(p for p in feedback_dir.rglob("*") if p.is_file()):
        if path.name == FIXTURES_FILE:
            problems.append(f"{path}: the hidden fixtures themselves")
            continue
        found = leaks(path.read_bytes().decode("utf-8", "replace"), lines)
        for encoding, leaked in sorted(found.items()):
            problems.append(f"{path}: {len(leaked)} hidden-test line(s) ({encoding}), e.g. {leaked[0]!r}")
    return problems


def generate(assignment: str, course: Path, force: bool) -> int:
    """Feedback for every graded student of `assignment` in `course`, unless hand grading is pending."""
    from . import course_dir as ct
    from .gradebook import pending_hand_grades
    from .mathjax import use_local_mathjax

    gradebook = course / "gradebook.db"
    if not gradebook.is_file():
        print(f"no gradebook at {gradebook}: grade first (make grade, or nbgrader autograde)", file=sys.stderr)
        return 2
    pending = pending_hand_grades(gradebook, assignment)
    if pending and not force:
        print(f"make feedback refused: {len(pending)} answer(s) still wait for a hand grade, and their students would "
              "read 0 for them:", file=sys.stderr)
        for item in pending:
            print(f"  {item}", file=sys.stderr)
        print("Grade them in the formgrader (JupyterLab: Nbgrader > Formgrader > Manual Grading), "
              "or run again with FORCE=1 to send feedback anyway.", file=sys.stderr)
        return 3
    ct.run_nbgrader(["generate_feedback", assignment, "--force"], course, quiet=False)
    pages = sorted((course / "feedback").glob(f"*/{assignment}/*.html"))
    for page in pages:
        use_local_mathjax(page)
    # the course's own sources: what was graded (and, on a hub, all its instructor may read)
    problems = check(course / "feedback", course / "solutions" if (course / "solutions").is_dir() else SOLUTIONS)
    for p in problems:
        print("LEAK", p)
    print(f"{len(pages)} feedback page(s) in {course / 'feedback'}, {len(problems)} leak(s)"
          + (f"; sent with {len(pending)} answer(s) not graded by hand (FORCE=1)" if pending else ""))
    return 1 if problems else 0
