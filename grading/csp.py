"""A Content-Security-Policy for the formgrader and the feedback pages: no script the grader did not write.

grading/sanitize.py removes what a student's notebook shows that could run. This is the wall behind it:
should anything get through, the browser refuses to run it.

- **The formgrader** (a Jupyter server extension: ``grading.csp`` is enabled for every Jupyter server of
  the course's environment by ``etc/jupyter/jupyter_server_config.d/vae-course.json``, installed with the
  package). Every page under ``<base_url>formgrader/`` gets a second Content-Security-Policy header (the
  server's own, e.g. the hub's ``frame-ancestors``, stays and both apply) whose ``script-src`` allows the
  formgrader's files (``'self'``), the inline scripts that come before the notebook by their hash (nbgrader's
  templates and the MathJax loader: the student's notebook is in ``<div id="notebook-container">``, after
  them), and nbgrader's own inline event handlers by hash (``FORMGRADER_HANDLERS``). No ``'unsafe-inline'``, no ``'unsafe-eval'``: a
  ``<script>``, an ``onerror=`` or a ``javascript:`` link in a student's output does not run. Files of a
  submission that the formgrader serves (``formgrader/submissions/<id>/<file>``) get ``sandbox``: an HTML
  or SVG file there runs in no origin at all.
- **The feedback pages** (files that students open from disk): ``with_meta_policy`` writes the same
  policy as a ``<meta http-equiv>`` at the top of ``<head>``, with ``file:`` added so that MathJax loads
  from the installed package. ``nbgrader generate_feedback`` writes pages through ``FeedbackExporter``,
  which does it (nbgrader_config.py).
"""

from __future__ import annotations

import base64
import hashlib
import re

__all__ = ["policy_for", "with_meta_policy", "FORMGRADER_HANDLERS", "FeedbackExporter", "FormgraderCSP"]

# nbgrader 0.9.6's own inline event handlers (formgrade_macros.html.j2, gradebook_notebook_submissions.tpl)
FORMGRADER_HANDLERS = ("toggle_name(true);", "toggle_name(false);", "toggleAllNames()")
INLINE_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.S | re.I)
SRC = re.compile(r"\ssrc\s*=", re.I)
HEAD_END = re.compile(r"</head\s*>|<body\b", re.I)
NOTEBOOK_START = re.compile(r"""<div\b[^>]*\bid=["']notebook-container["']""", re.I)


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def head_scripts(page: str) -> list[str]:
    """The text of every inline script the grader's template wrote: those before the notebook (nbgrader's
    pages put it in <div id="notebook-container">, after their head and navigation), or, in a page without
    a notebook, those of the <head>."""
    end = NOTEBOOK_START.search(page) or HEAD_END.search(page)
    trusted = page[:end.start()] if end else ""
    return [body for attrs, body in INLINE_SCRIPT.findall(trusted) if not SRC.search(attrs)]


def policy_for(page: str, extra_sources: str = "") -> str:
    """The policy for one page: its head's inline scripts and nbgrader's handlers by hash, files from 'self'."""
    hashes = sorted({_hash(s) for s in head_scripts(page)})
    handlers = [_hash(h) for h in FORMGRADER_HANDLERS]
    script = " ".join(["'self'", *([extra_sources] if extra_sources else []), *hashes, "'unsafe-hashes'", *handlers])
    return f"script-src {script}; object-src 'none'; base-uri 'self'; form-action 'self'"


def with_meta_policy(page: str) -> str:
    """The page with its policy as the first element of <head> (a page opened from disk has no headers).
    MathJax is loaded from the installed package's file: URL there, so `file:` is allowed for scripts."""
    policy = policy_for(page, extra_sources="file:")
    meta = f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
    head = re.search(r"<head\b[^>]*>", page, re.I)
    if head is None:
        raise ValueError("the page has no <head>: cannot give it a Content-Security-Policy")
    return page[:head.end()] + "\n" + meta + page[head.end():]


try:
    from nbconvert.exporters import HTMLExporter as _HTMLExporter

    class FeedbackExporter(_HTMLExporter):
        """nbconvert's HTMLExporter, writing the Content-Security-Policy meta tag into every page."""

        def from_notebook_node(self, nb, resources=None, **kw):
            output, resources = super().from_notebook_node(nb, resources, **kw)
            return with_meta_policy(output), resources
except ImportError:  # pragma: no cover
    pass


try:
    from tornado.web import OutputTransform as _OutputTransform

    class FormgraderCSP(_OutputTransform):
        """Adds the formgrader's policy (a second header) to every response under <base_url>formgrader/."""

        def __init__(self, request):
            super().__init__(request)
            path = request.path or ""
            self.files = re.search(r"/formgrader/submissions/[^/]+/.+", path) is not None
            self.page = "/formgrader/" in path and "/formgrader/static/" not in path and "/formgrader/api/" not in path

        def transform_first_chunk(self, status_code, headers, chunk, finishing):
            if self.files:
                headers.add("Content-Security-Policy", "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'")
            elif self.page:
                # Never cached: a browser revalidating a cached page gets a 304 without a body (so without
                # hashes), and would take the 304's policy for the cached page.
                headers["Cache-Control"] = "no-store"
                headers.pop("Etag", None)
                text = chunk.decode("utf-8", "replace") if finishing else ""  # a streamed page: no inline script runs
                headers.add("Content-Security-Policy", policy_for(text))
            return status_code, headers, chunk
except ImportError:  # pragma: no cover
    pass


def _jupyter_server_extension_points():
    return [{"module": "grading.csp"}]


def _load_jupyter_server_extension(serverapp):
    """Every formgrader page of this server gets the policy (the transform runs first, on the raw body)."""
    serverapp.web_app.transforms.insert(0, FormgraderCSP)
    serverapp.log.info("grading.csp: the formgrader's pages forbid scripts the grader did not write")
