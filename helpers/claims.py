"""Claims: every number the prose states is computed, printed and range-checked in the same notebook.

A notebook backs a quantitative sentence in two places that a test ties together:

1. a code cell computes the number and calls ``h.claim``, which prints it with its stated range
   and raises if the number leaves that range::

       h.claim("collapse_loss", Loss_cc, 1.8, 2.2)      # prints: [claim collapse_loss] 2.0031 within [1.8, 2.2]: ok
       h.claim("gap_positive", Loss_c - Loss, lo=0)     # one-sided: only a lower bound

2. the markdown that states the number puts an HTML comment right after it (invisible when rendered)::

       A consistently collapsed VAE scores about 2.0<!--claim:collapse_loss-->, below Scenario 1.
       The reconstruction share is 27%<!--claim:share_pct-->.
       The gap is positive<!--claim:gap_positive-->.      (no number before it: only "it passed" is checked)

``tests/test_claims.py`` reads the executed reference notebooks (``make course`` writes them to
``build/executed/<assignment>/``) and, with ``check_notebook``, requires for every marker that

- the same notebook printed ``[claim <name>] ...: ok`` (the claim ran and stayed in its range), and
- the number written just before the marker equals the printed value rounded to as many decimals
  as the prose shows (``2.0`` matches 1.95 to 2.05; ``2`` matches 1.5 to 2.5); with a ``%`` after the
  number it is compared with 100 x value.

So a changed seed, constant or formula that moves a number out of its stated range fails the
notebook, and prose edited without the code (or the code without the prose) fails the test.
Claim names are letters, digits, ``_``, ``.`` and ``-``; one name may be cited by several markers.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

__all__ = ["claim", "ClaimError", "check_notebook", "printed_claims", "prose_claims"]

_NAME = r"[A-Za-z0-9_.\-]+"
_PRINTED = re.compile(rf"^\[claim ({_NAME})\] (\S+) within \[(\S+), (\S+)\]: (ok|FAILED)\s*$", re.M)
# a number (ASCII or Unicode minus), optionally followed by %, then closing markup ($, *, _, ) or spaces), then the marker
_MARKER = re.compile(rf"(?:([-\u2212]?\d+(?:\.\d+)?)\s*(%?)[\s$*_)]*)?<!--\s*claim:\s*({_NAME})\s*-->")


class ClaimError(AssertionError):
    """A number the notebook's prose relies on left the range the prose states."""


def claim(name: str, value, lo: float | None = None, hi: float | None = None) -> float:
    """Print ``[claim name] value within [lo, hi]: ok`` and return float(value); raise ClaimError outside.

    lo or hi may be None for a one-sided claim. The value must be a finite single number.
    """
    if not re.fullmatch(_NAME, str(name)):
        raise ValueError(f"claim name {name!r} may only use letters, digits, '_', '.' and '-'")
    if lo is None and hi is None:
        raise ValueError(f"claim {name!r} needs a range: give lo, hi or both")
    v = float(value)
    low = -math.inf if lo is None else float(lo)
    high = math.inf if hi is None else float(hi)
    ok = math.isfinite(v) and low <= v <= high
    print(f"[claim {name}] {v!r} within [{low!r}, {high!r}]: {'ok' if ok else 'FAILED'}")
    if not ok:
        raise ClaimError(f"claim {name!r}: the value {v!r} is outside the range [{low}, {high}] that the prose "
                         "relies on. Fix the computation, or rewrite the sentence and its range together.")
    return v


def _load(nb):
    if isinstance(nb, (str, Path)):
        return json.loads(Path(nb).read_text(encoding="utf-8"))
    return nb


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


def printed_claims(nb) -> dict[str, list[tuple[float, float, float, bool]]]:
    """Every ``[claim ...]`` line in the outputs of an executed notebook: name -> [(value, lo, hi, ok)]."""
    found: dict[str, list[tuple[float, float, float, bool]]] = {}
    for cell in _load(nb)["cells"]:
        for out in cell.get("outputs", []):
            text = _text(out.get("text", "")) if out.get("output_type") == "stream" else _text(
                out.get("data", {}).get("text/plain", ""))
            for m in _PRINTED.finditer(text):
                found.setdefault(m.group(1), []).append(
                    (float(m.group(2)), float(m.group(3)), float(m.group(4)), m.group(5) == "ok"))
    return found


def prose_claims(nb) -> list[tuple[int, str, str | None, bool]]:
    """Every claim marker in the markdown cells: (cell index, name, stated number or None, stated as %)."""
    found = []
    for i, cell in enumerate(_load(nb)["cells"]):
        if cell["cell_type"] == "markdown":
            for m in _MARKER.finditer(_text(cell["source"])):
                number = m.group(1).replace("\u2212", "-") if m.group(1) else None
                found.append((i, m.group(3), number, m.group(2) == "%"))
    return found


def check_notebook(nb) -> list[str]:
    """Problems with an executed notebook's claims (empty when prose and printed numbers agree)."""
    nb = _load(nb)
    printed = printed_claims(nb)
    problems = []
    for name, runs in printed.items():
        for value, lo, hi, ok in runs:
            if not ok:
                problems.append(f"claim {name!r}: printed value {value!r} is outside [{lo}, {hi}]")
    for cell, name, number, percent in prose_claims(nb):
        where = f"markdown cell {cell}, claim {name!r}"
        if name not in printed:
            problems.append(f"{where}: no code cell printed this claim (call h.claim({name!r}, value, lo, hi))")
            continue
        if number is None:
            continue
        decimals = len(number.split(".")[1]) if "." in number else 0
        stated = float(number)
        for value, *_ in printed[name]:
            shown = 100 * value if percent else value
            if abs(shown - stated) > 0.5 * 10 ** -decimals + 1e-9 * max(1.0, abs(stated)):
                problems.append(f"{where}: the prose says {number}{'%' if percent else ''} but the notebook "
                                f"computed {shown:.{decimals + 2}f}{'%' if percent else ''}")
    return problems
