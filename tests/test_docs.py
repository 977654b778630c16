"""The README and docs/: short first screen, every link resolves, every name in the architecture page exists.

- README.md stays under README_LINES: the long sections live in docs/ and are linked from it.
- Every relative markdown link in README.md and docs/*.md points at a file that exists and, with #anchor, at a
  heading of that file (GitHub's anchors: lower case, punctuation dropped, spaces as hyphens).
- Every page of docs/ is linked from the README.
- docs/architecture.md names modules, classes, functions and constants of the code: each must exist.
- Code and notebooks that send the reader to a README section by name (README, then the name) name a heading
  or a link of the README.
"""

from __future__ import annotations

import ast
import builtins
import re
import subprocess
from functools import lru_cache
from pathlib import Path

from grading import course_dir as ct

ROOT = ct.ROOT
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_LINES = 200
PACKAGES = ("grading", "helpers", "hub", "scripts", "tests")
FENCE = re.compile(r"^(```|~~~)")
LINK = re.compile(r"(?<!\\)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^()\s]+)\)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")


def pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def prose(text: str) -> str:
    """The text outside fenced code blocks (code blocks become empty lines, so line numbers stay)."""
    out, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            out.append("")
        else:
            out.append("" if fenced else line)
    return "\n".join(out)


def code_blocks(text: str) -> list[str]:
    return re.findall(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())  # a link in a heading: its text
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in prose(path.read_text()).splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            s = slug(m.group(1))
            out.add(s if s not in seen else f"{s}-{seen[s]}")
            seen[s] = seen.get(s, 0) + 1
    return out


def links(path: Path) -> list[tuple[int, str, str]]:
    """(line, text, target) of every markdown link outside code."""
    text = re.sub(r"`[^`]+`", lambda m: re.sub(r"[^\n]", " ", m.group(0)), prose(path.read_text()))  # a span may wrap
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        out += [(n, m.group(1), m.group(2)) for m in LINK.finditer(line)]
    return out


def test_readme_is_a_first_screen_per_audience():
    text = README.read_text()
    lines = text.count("\n")
    assert lines <= README_LINES, f"README.md has {lines} lines, over {README_LINES}: move the detail to docs/ and link it"
    headings = [line for line in prose(text).splitlines() if line.startswith("## ")]
    assert headings[:3] == ["## For students", "## For instructors", "## For contributors"], headings


def test_every_relative_link_resolves():
    broken = []
    for page in pages():
        for n, _, target in links(page):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
                continue
            file, _, anchor = target.partition("#")
            dest = (page.parent / file).resolve() if file else page
            where = f"{page.relative_to(ROOT)}:{n}: {target}"
            if not dest.exists():
                broken.append(f"{where}: no file {file}")
            elif anchor and (dest.suffix != ".md" or anchor not in anchors(dest)):
                broken.append(f"{where}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert not broken, "\n".join(broken)


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(ROOT / t.partition("#")[0]).resolve() for _, _, t in links(README) if t.startswith("docs/")}
    missing = [p.name for p in sorted(DOCS.glob("*.md")) if p.resolve() not in linked]
    assert not missing, f"docs pages no link in README.md reaches: {missing}"


def test_the_checks_see_a_broken_link_and_a_missing_heading(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## Grading a class: `make grade`\n\nsee [x](#grading-a-class-make-grade), "
                    "[y](#nowhere) and [z](missing.md)\n\n```\n[not a link](nowhere.md)\n```\n")
    assert anchors(page) == {"title", "grading-a-class-make-grade"}
    assert [t for _, _, t in links(page)] == ["#grading-a-class-make-grade", "#nowhere", "missing.md"]
    assert slug("The course's MNIST models: `make reference`") == "the-courses-mnist-models-make-reference"


# ---- the architecture page names what exists ------------------------------------------------------------------

@lru_cache(maxsize=1)
def code_index() -> tuple[dict, dict, set]:
    """({module: {top-level name: node}}, {class name: {member names}}, every identifier the code uses)."""
    modules, classes, identifiers = {}, {}, set()
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    files += [*ROOT.glob("solutions/*/hidden_fixtures.py"), ROOT / "nbgrader_config.py"]
    for f in files:
        tree = ast.parse(f.read_text())
        rel = f.relative_to(ROOT).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        top = modules.setdefault(name, {})
        identifiers.update(rel.parts)
        for node in tree.body:
            for n in _defined(node):
                top[n] = node
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                members = classes.setdefault(node.name, set())
                for item in node.body:
                    members.update(_defined(item))
            for field in ("id", "attr", "arg", "name"):
                value = getattr(node, field, None)
                if isinstance(value, str):
                    identifiers.add(value)
            if isinstance(node, ast.alias):
                identifiers.update((node.asname or node.name).split("."))
            if isinstance(node, ast.ImportFrom) and node.module:
                identifiers.update(node.module.split("."))
    return modules, classes, identifiers


def _defined(node) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    return []


FILE_SUFFIX = re.compile(r"\.(py|md|json|csv|db|ipynb|npz|toml|txt|png|log)$")
DOTTED = re.compile(r"(?<![\w./-])[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
CODE_LIKE = re.compile(r"^(?:_?[a-z][a-z0-9]*(?:_[a-z0-9]+)+|_[a-z][a-z0-9]*|[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)$")


def resolve(dotted: str) -> str | None:
    """None if `dotted` names something in the code, else why not."""
    modules, classes, _ = code_index()
    parts = dotted.split(".")
    if parts[0] == "h" and len(parts) == 2:  # import helpers as h: every module's names are h's
        found = any(parts[1] in names for m, names in modules.items() if m.startswith("helpers."))
        return None if found else f"{dotted}: helpers defines no {parts[1]}"
    if parts[0] not in PACKAGES:
        if f"grading.{parts[0]}" in modules:  # a module of grading by its short name (collect.scan)
            parts = ["grading", *parts]
        elif parts[0] in classes:
            return None if len(parts) == 2 and parts[1] in classes[parts[0]] else f"{dotted}: no such member"
        else:
            return f"{dotted}: no module or class {parts[0]}"
    k = max(i for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in modules or i == 1)
    module = ".".join(parts[:k])
    if module not in modules:
        return f"{dotted}: no module {module}"
    rest = parts[k:]
    if not rest:
        return None
    node = modules[module].get(rest[0])
    if node is None:
        return f"{dotted}: {module} defines no {rest[0]}"
    if len(rest) == 1:
        return None
    if isinstance(node, ast.ClassDef) and len(rest) == 2 and rest[1] in classes.get(node.name, set()):
        return None
    return f"{dotted}: {'.'.join(rest)} is not a member of {module}.{rest[0]}"


def named_things(text: str) -> tuple[set[str], set[str], set[str]]:
    """(dotted names, single code-like names, repository paths) that the page writes in code."""
    spans = CODE_SPAN.findall(prose(text))
    blocks = code_blocks(text)
    dotted, single, paths = set(), set(), set()
    for chunk in spans + blocks:
        for d in DOTTED.findall(chunk):
            if not FILE_SUFFIX.search(d):
                dotted.add(d)
    for span in spans:
        token = span.strip()
        if "/" in token and token.split("/")[0] in (*PACKAGES, "solutions", "notebooks", ".ci", "docs", "jupyter-config"):
            paths.add(token.split()[0])
        elif re.fullmatch(r"[A-Za-z_]\w*", token):
            single.add(token)
    for block in blocks:
        single.update(w for w in re.findall(r"[A-Za-z_]\w*", block) if CODE_LIKE.match(w))
    return dotted, single, paths


def test_every_name_in_the_architecture_page_exists():
    text = (DOCS / "architecture.md").read_text()
    dotted, single, paths = named_things(text)
    _, _, identifiers = code_index()
    problems = [why for d in sorted(dotted) if (why := resolve(d))]
    known = identifiers | set(dir(builtins)) | {"make", "chromium"}  # make and chromium: tools, not code
    problems += [f"{s}: used nowhere in the code" for s in sorted(single - known)]
    problems += [f"{p}: no such path" for p in sorted(paths) if not list(ROOT.glob(re.sub(r"<[^>]+>", "*", p)))]
    assert len(dotted) > 20 and len(single) > 20, "the page names too little to check: did the parsing break?"
    assert not problems, "docs/architecture.md names what the code does not have:\n" + "\n".join(problems)


def test_the_name_check_sees_a_name_that_does_not_exist():
    assert resolve("grading.relay.Relay.judge") is None and resolve("collect.scan") is None
    assert resolve("Relay.warm") is None and resolve("grading.course_dir") is None
    assert resolve("grading.relay.Relay.run") and resolve("grading.relay.judge") and resolve("collect.nothing")
    assert resolve("Probe.call") and resolve("grading.nomodule.x")
    assert resolve("h.latent_explorer") is None and resolve("h.no_such_helper")
    dotted, single, paths = named_things("`grading.relay.Relay` calls `free_names` in `grading/relay.py`.\n\n"
                                         "```mermaid\nA->>B: CellRun.run then verdict_outputs(v)\n```\n")
    assert dotted == {"grading.relay.Relay", "CellRun.run"}
    assert {"free_names", "verdict_outputs"} <= single and paths == {"grading/relay.py"}


# ---- what the code and notebooks point at in the README -------------------------------------------------------

README_POINTER = re.compile(r"README, ?\\?[\"*]?([A-Z][A-Za-z ]*[A-Za-z])")


def test_every_pointer_to_a_readme_section_lands_in_the_readme():
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    text = README.read_text()
    targets = {re.sub(r"[`*]", "", h).strip().lower() for h in re.findall(r"^#{1,6}\s+(.*)$", prose(text), re.M)}
    targets |= {t.strip().lower() for _, t, _ in links(README)}
    missing, seen = [], 0
    for rel in files:
        path = ROOT / rel
        if rel == "tests/test_docs.py":
            continue
        if path.suffix not in (".py", ".ipynb", ".toml", ".cfg") and path.name != "Makefile" or not path.is_file():
            continue
        for name in README_POINTER.findall(path.read_text(errors="replace")):
            seen += 1
            if name.lower() not in targets:
                missing.append(f"{rel}: README, {name!r}")
    assert seen >= 5, "no pointer found: did the pattern break?"
    assert not missing, "pointers to a README section that is neither a heading nor a link there:\n" + "\n".join(missing)
