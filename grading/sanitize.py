"""Nothing a student's notebook shows runs in the instructor's browser (or anyone's).

A notebook's outputs are the student's: a cell can display any HTML, any JavaScript, any SVG, and the
saved outputs of cells the grader does not run (tag ``skip-when-grading``) are whatever the file says.
nbconvert renders them on the formgrader's origin and in the feedback pages, so a ``<script>`` there
would run with the instructor's session. Two walls:

1. ``SanitizeNotebook``, an nbconvert preprocessor, rewrites what a notebook shows:
   - outputs keep only inert types: text, LaTeX (without markup), PNG/JPEG/GIF (valid base64), HTML and Markdown cleaned by
     ``clean_html``, SVG rebuilt from an allowlist (``clean_svg``); JavaScript, widget views, PDFs and any
     other type go; an output's metadata keeps only an image's width and height;
   - the notebook's widget state (``metadata.widgets``) goes, and so does every notebook-level field but the
     kernelspec and a checked ``language_info``; cell ids, tags and nbgrader grade ids that would not be plain
     identifiers are replaced or dropped (nbconvert's templates write them into attributes unescaped);
   - markdown attachments keep only images.
   It runs in ``nbgrader autograde`` (after execution: the autograded notebook is clean, skip-tagged
   outputs included), in ``nbgrader generate_feedback`` and in every HTMLExporter the course configures
   (the formgrader's), so a notebook autograded before, or by another configuration, is cleaned too.
2. ``clean_html`` replaces nbconvert's filter of that name (``HTMLExporter.sanitize_html`` is on), and
   ``markdown2html`` (which nbgrader's formgrade and feedback templates use without cleaning) renders through
   it: markdown cells, HTML and Markdown outputs are all cleaned. It keeps formatting, tables, images from data
   URLs, links to http(s) and mailto; it drops scripts, event handlers, ``javascript:``/``data:``/``vbscript:``
   links, iframes, objects, embeds, forms, inputs, meta, base, style elements and any class name the
   formgrader's scripts look for.

The Content-Security-Policy of the formgrader (grading/formgrader_csp.py) and of the feedback pages
(grading/feedback.py) is the wall behind these two: it forbids every script the grader did not write.
"""

from __future__ import annotations

import base64
import re
from xml.etree import ElementTree

import bleach
from jinja2 import pass_context
from bleach.css_sanitizer import CSSSanitizer
from nbconvert.preprocessors import Preprocessor
from nbformat.notebooknode import NotebookNode
from traitlets import Bool

__all__ = ["SanitizeNotebook", "clean_html", "markdown2html", "clean_svg", "KEPT_MIME_TYPES"]

TAGS = {"a", "abbr", "acronym", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup", "dd", "del",
        "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
        "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strike",
        "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul", "var"}
CSS = ["color", "background-color", "text-align", "vertical-align", "font-weight", "font-style", "font-size",
       "font-family", "text-decoration", "white-space", "width", "height", "max-width", "border", "border-collapse",
       "border-color", "border-style", "border-width", "padding", "padding-left", "padding-right", "margin",
       "margin-left", "margin-right", "list-style-type"]
# Class names a student's HTML may carry: syntax highlighting (pygments' short names), tables, anchors. The
# formgrader's scripts find their controls by class (.score, .comment, li.next a, .tabbable ...): none passes.
CLASS = re.compile(r"^([a-z]{1,3}\d?|highlight|hl-[a-z0-9-]+|dataframe|anchor-link|ansi-[a-z-]+)$")
IMAGE_DATA = re.compile(r"^data:image/(png|jpeg|gif);base64,[A-Za-z0-9+/=\s]*$", re.I)
BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]*$")
KEPT_MIME_TYPES = ("text/plain", "text/html", "text/markdown", "text/latex", "image/png", "image/jpeg", "image/gif",
                   "image/svg+xml")
IDENTIFIER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TAG = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
WORD = re.compile(r"^[A-Za-z0-9 ._+/-]{0,64}$")


def _attribute(tag: str, name: str, value: str) -> bool:
    if name == "class":
        return True  # filtered token by token in clean_html
    if name in ("title", "style"):
        return True
    if tag == "a":
        return name == "href" and not value.strip().lower().startswith("data:")
    if tag == "img":
        if name == "src":
            return bool(IMAGE_DATA.match(value.strip()))
        return name in ("alt", "width", "height")
    if tag in ("td", "th"):
        return name in ("colspan", "rowspan", "align")
    if tag == "ol":
        return name == "start"
    return name == "align" and tag in ("p", "div", "table", "tr", "h1", "h2", "h3", "h4", "h5", "h6")


_CLEANER = bleach.Cleaner(tags=TAGS, attributes=_attribute, protocols={"http", "https", "mailto", "data"},
                          strip=True, strip_comments=True, css_sanitizer=CSSSanitizer(allowed_css_properties=CSS))
_CLASS_ATTR = re.compile(r'\sclass="([^"]*)"')


def clean_html(element) -> str:
    """HTML a student wrote or printed, with nothing that runs or that the formgrader's scripts look for.

    nbconvert's `clean_html` filter is replaced by this one (nbgrader_config.py): the templates apply it to
    markdown cells, HTML and Markdown outputs (with HTMLExporter.sanitize_html) and to highlighted code."""
    text = element.decode() if isinstance(element, bytes) else str(element)
    # bleach drops <script> and <style> elements but keeps their text: remove them whole first
    text = re.sub(r"(?is)<(script|style|template|iframe|object|embed|noscript|xmp|noembed|noframes)\b.*?</\1\s*>", "", text)
    cleaned = _CLEANER.clean(text)

    def classes(m):
        kept = [c for c in m.group(1).split() if CLASS.match(c)]
        return f' class="{" ".join(kept)}"' if kept else ""
    return _CLASS_ATTR.sub(classes, cleaned)


@pass_context
def markdown2html(context, source) -> str:
    """nbconvert's markdown2html (HTMLExporter's, with the cell's attachments), cleaned by clean_html.

    nbgrader's formgrade and feedback templates render markdown cells with `markdown2html` alone, whatever
    HTMLExporter.sanitize_html says: this filter replaces it (nbgrader_config.py), so that every markdown a
    page shows, a cell's or an output's, is cleaned."""
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    cell = context.get("cell", {})
    renderer = IPythonRenderer(escape=False, attachments=cell.get("attachments", {}), embed_images=False,
                               path=context.get("resources", {}).get("metadata", {}).get("path", ""),
                               anchor_link_text="¶", exclude_anchor_links=False)
    return clean_html(MarkdownWithMath(renderer=renderer).render(source))


SVG = "http://www.w3.org/2000/svg"
XLINK = "http://www.w3.org/1999/xlink"
SVG_ELEMENTS = {"svg", "g", "defs", "path", "rect", "circle", "ellipse", "line", "polyline", "polygon", "text",
                "tspan", "clipPath", "mask", "linearGradient", "radialGradient", "stop", "use", "image", "title",
                "desc", "symbol", "marker", "pattern", "metadata"}
SVG_ATTRIBUTES = {"id", "x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "rx", "ry", "width", "height", "d", "points",
                  "transform", "viewBox", "preserveAspectRatio", "fill", "fill-opacity", "fill-rule", "stroke",
                  "stroke-width", "stroke-opacity", "stroke-linecap", "stroke-linejoin", "stroke-dasharray",
                  "stroke-dashoffset", "stroke-miterlimit", "opacity", "clip-path", "clip-rule", "mask", "style",
                  "font-size", "font-family", "font-weight", "font-style", "text-anchor", "dominant-baseline",
                  "offset", "stop-color", "stop-opacity", "gradientUnits", "gradientTransform", "patternUnits",
                  "markerWidth", "markerHeight", "refX", "refY", "orient", "version", "class", "dx", "dy",
                  "clipPathUnits", "overflow", "visibility", "display", "color"}


def clean_svg(text: str) -> str | None:
    """An SVG rebuilt from SVG_ELEMENTS and SVG_ATTRIBUTES (links only within the image, embedded images
    only as PNG/JPEG data), or None when it is not parseable SVG."""
    from defusedxml.ElementTree import fromstring

    try:
        root = fromstring(text.encode() if isinstance(text, str) else text)
    except Exception:  # noqa: BLE001  (malformed, entities, DTDs: refused)
        return None
    if root.tag != f"{{{SVG}}}svg":
        return None

    def clean(el) -> None:
        for child in list(el):
            local = child.tag.split("}", 1)[-1] if isinstance(child.tag, str) else ""
            if not (isinstance(child.tag, str) and child.tag.startswith(f"{{{SVG}}}") and local in SVG_ELEMENTS):
                el.remove(child)
                continue
            clean(child)
        for name in list(el.attrib):
            value = el.attrib[name]
            if name in (f"{{{XLINK}}}href", "href"):
                ok = value.startswith("#") or bool(IMAGE_DATA.match(value.strip()))
            else:
                ok = name in SVG_ATTRIBUTES and "url(" not in value.replace("url(#", "")
                ok = ok and not (name == "style" and re.search(r"(?i)expression|javascript|@import|url\((?!#)", value))
            if not ok:
                del el.attrib[name]
    clean(root)
    ElementTree.register_namespace("", SVG)
    ElementTree.register_namespace("xlink", XLINK)
    return ElementTree.tostring(root, encoding="unicode")


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _clean_data(data: dict) -> dict:
    out = {}
    for mime in KEPT_MIME_TYPES:
        if mime not in data:
            continue
        value = _text(data[mime])
        if mime in ("text/html", "text/markdown"):
            value = clean_html(value)
        elif mime.startswith("image/") and mime != "image/svg+xml":
            if not BASE64.match(value):
                continue
            try:
                base64.b64decode(re.sub(r"\s", "", value), validate=True)
            except ValueError:
                continue
        elif mime == "image/svg+xml":
            value = clean_svg(value)
            if value is None:
                continue
        elif mime == "text/latex" and re.search(r"[<>]", value):
            continue  # LaTeX has \lt and \gt; markup in it is someone's attempt (text/plain is shown instead)
        out[mime] = value
    return out


def _clean_output_metadata(metadata) -> dict:
    out = {}
    for mime, meta in (metadata or {}).items():
        if mime.startswith("image/") and isinstance(meta, dict):
            sizes = {k: v for k, v in meta.items() if k in ("width", "height") and isinstance(v, (int, float))
                     and not isinstance(v, bool)}
            if sizes:
                out[mime] = sizes
    return out


def clean_outputs(outputs) -> list:
    """A cell's outputs with nothing active: see the module."""
    kept = []
    for out in outputs or []:
        kind = out.get("output_type")
        if kind == "stream":
            kept.append(NotebookNode(output_type="stream", name="stderr" if out.get("name") == "stderr" else "stdout",
                                     text=_text(out.get("text", ""))))
        elif kind == "error":
            kept.append(NotebookNode(output_type="error", ename=str(out.get("ename", "")), evalue=str(out.get("evalue", "")),
                                     traceback=[str(t) for t in out.get("traceback", []) if isinstance(t, str)]))
        elif kind in ("display_data", "execute_result"):
            data = _clean_data(out.get("data", {}))
            if not data:
                continue
            node = NotebookNode(output_type=kind, data=data, metadata=_clean_output_metadata(out.get("metadata")))
            if kind == "execute_result":
                count = out.get("execution_count")
                node["execution_count"] = count if isinstance(count, int) and not isinstance(count, bool) else None
            kept.append(node)
    return kept


def _clean_language_info(info) -> dict:
    if not isinstance(info, dict):
        return {"name": "python"}
    out = {k: v for k, v in info.items() if k in ("name", "version", "pygments_lexer", "file_extension", "mimetype",
                                                   "nbconvert_exporter") and isinstance(v, str) and WORD.match(v)}
    mode = info.get("codemirror_mode")
    if isinstance(mode, str) and WORD.match(mode):
        out["codemirror_mode"] = mode
    elif isinstance(mode, dict):
        out["codemirror_mode"] = {k: v for k, v in mode.items() if k in ("name", "version")
                                  and isinstance(v, (str, int)) and WORD.match(str(v))}
    out.setdefault("name", "python")
    return out


class SanitizeNotebook(Preprocessor):
    """Every output inert, no widget state, plain identifiers only: see the module."""

    enabled = Bool(True)

    def preprocess(self, nb, resources):
        kept = {k: nb.metadata[k] for k in ("kernelspec",) if isinstance(nb.metadata.get(k), dict)}
        if "kernelspec" in kept:
            kept["kernelspec"] = {k: str(v)[:64] for k, v in kept["kernelspec"].items()
                                  if k in ("name", "display_name", "language")}
        kept["language_info"] = _clean_language_info(nb.metadata.get("language_info"))
        nb.metadata = NotebookNode(kept)
        seen = set()
        for i, cell in enumerate(nb.cells):
            cid = cell.get("id")
            if cid is not None and (not isinstance(cid, str) or not IDENTIFIER.match(cid) or cid in seen):
                cell["id"] = f"cell-{i}"
            seen.add(cell.get("id"))
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        meta = cell.get("metadata", {})
        tags = meta.get("tags")
        if tags is not None:
            meta["tags"] = [t for t in tags if isinstance(t, str) and TAG.match(t)] if isinstance(tags, list) else []
        grading = meta.get("nbgrader")
        if isinstance(grading, dict) and "grade_id" in grading and not (isinstance(grading["grade_id"], str)
                                                                        and IDENTIFIER.match(grading["grade_id"])):
            del meta["nbgrader"]
        elif grading is not None and not isinstance(grading, dict):
            del meta["nbgrader"]
        for key in ("widgets", "jupyter", "collapsed", "scrolled"):
            meta.pop(key, None)
        if cell.get("cell_type") == "code":
            cell.outputs = clean_outputs(cell.get("outputs"))
        elif "attachments" in cell:
            cell["attachments"] = {name: _clean_data(data) for name, data in (cell.get("attachments") or {}).items()
                                   if isinstance(name, str) and IDENTIFIER.match(name.replace(".", "_"))
                                   and isinstance(data, dict)}
        return cell, resources
