"""MathJax without the internet: the copy that the `jupyter-server-mathjax` package installs.

nbconvert's templates (and so nbgrader's formgrader and feedback pages) load MathJax from a CDN; offline, every
formula stays raw ``$...$`` and the formgrader's script fails with "MathJax is not defined".
jupyter-server-mathjax ships MathJax 2 in a Python package and every Jupyter server serves it at
``<base_url>static/jupyter_server_mathjax/MathJax.js``.

nbgrader_config.py adds ``TEMPLATES`` to ``HTMLExporter.extra_template_basedirs``: its ``base/mathjax.html.j2``
replaces nbconvert's macro, so the formgrader and ``nbgrader generate_feedback`` load MathJax from the server
the page is viewed through. ``use_local_mathjax(page)`` (run by ``make feedback``) fills in the installed
package's file URL, used when a feedback page is opened from disk.
"""

from __future__ import annotations

from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "templates"
PLACEHOLDER = "__LOCAL_MATHJAX__"
CDN = ("cdnjs.cloudflare.com", "cdn.jsdelivr.net", "cdn.mathjax.org")


def installed() -> Path:
    """MathJax.js of the installed jupyter-server-mathjax package."""
    import jupyter_server_mathjax

    path = Path(jupyter_server_mathjax.__file__).resolve().parent / "static" / "MathJax.js"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall jupyter-server-mathjax (make install)")
    return path


def use_local_mathjax(page: Path) -> None:
    """Give a feedback page the installed MathJax's file URL; fail if it still loads MathJax from a CDN."""
    text = page.read_text()
    if any(host in text for host in CDN) or PLACEHOLDER not in text:
        raise RuntimeError(f"{page} does not use the local MathJax: is {TEMPLATES} in HTMLExporter.extra_template_basedirs?")
    page.write_text(text.replace(PLACEHOLDER, installed().as_uri()))
