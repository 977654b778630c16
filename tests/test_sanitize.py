"""What a notebook shows is inert (grading/sanitize.py), and the pages forbid other scripts (grading/csp.py)."""

import json
import re

import nbformat
import pytest

from grading import csp
from grading.sanitize import KEPT_MIME_TYPES, SanitizeNotebook, clean_html, clean_svg

ACTIVE = re.compile(r"(?i)<script|\son\w+\s*=|javascript:|vbscript:|data:text/html|<iframe|<object|<embed|<form|<meta|<base\b|<style")

PAYLOADS = ['<script>alert(1)</script>', '<img src=x onerror=alert(1)>', '<a href="javascript:alert(1)">x</a>',
            '<a href="&#106;avascript:alert(1)">x</a>', '<a href="JaVaScRiPt:alert(1)">x</a>', '<a href="vbscript:x">v</a>',
            '<iframe srcdoc="<script>alert(1)</script>"></iframe>', '<svg onload=alert(1)></svg>',
            '<object data=x></object><embed src=x>', '<form action=x><input></form>', '<meta http-equiv=refresh content="0;url=x">',
            '<base href="http://evil/">', '<a href="data:text/html;base64,PHNjcmlwdD4=">d</a>', '<details ontoggle=alert(1) open>',
            '<scr<script>x</script>ipt>alert(1)</script>', '<style>body{display:none}</style>', '<math><mi xlink:href="javascript:1">x</mi></math>',
            '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>', '<div style="background:url(javascript:1)">']


@pytest.mark.parametrize("payload", PAYLOADS)
def test_clean_html_leaves_nothing_that_runs(payload):
    assert not ACTIVE.search(clean_html(payload)), clean_html(payload)


def test_clean_html_keeps_formatting_tables_images_and_links():
    html = ('<h2>Results</h2><p><b>bold</b> <i>it</i> <code>x</code> a<sub>1</sub></p><table class="dataframe"><thead><tr>'
            '<th>a</th></tr></thead><tbody><tr><td colspan="2">1</td></tr></tbody></table>'
            '<img src="data:image/png;base64,iVBORw0KGgo=" alt="fig" width="30"><a href="https://example.org/">ref</a>'
            '<div class="highlight"><pre><span class="kn">import</span></pre></div>')
    assert clean_html(html) == html


def test_formgrader_control_classes_and_ids_are_dropped():
    assert clean_html('<span class="score next k" id="base_url">x</span><ul><li class="next"><a href="https://e/">n</a></li></ul>') == \
        '<span class="k">x</span><ul><li><a href="https://e/">n</a></li></ul>'


def test_clean_svg_keeps_the_drawing_and_drops_the_rest():
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" onload="alert(1)">'
           '<script>alert(1)</script><foreignObject><div/></foreignObject><a xlink:href="javascript:1"><circle r="2"/></a>'
           '<path d="M0 0L1 1" style="fill:red"/><use xlink:href="#p"/><image xlink:href="http://evil/x.png"/></svg>')
    out = clean_svg(svg)
    assert not ACTIVE.search(out) and "http://evil" not in out
    assert '<path d="M0 0L1 1" style="fill:red" />' in out and 'href="#p"' in out
    assert clean_svg('<!DOCTYPE svg [<!ENTITY x "y">]><svg xmlns="http://www.w3.org/2000/svg">&x;</svg>') is None
    assert clean_svg("<html/>") is None


def test_sanitize_notebook_keeps_inert_outputs_only():
    cell = nbformat.v4.new_code_cell("x", metadata={"tags": ["skip-when-grading", 'x"><script>'],
                                                     "nbgrader": {"grade_id": 'a" onclick="x', "grade": True}})
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": "<b>ok</b><script>x</script>", "text/plain": "t",
                                                     "application/javascript": "alert(1)",
                                                     "application/vnd.jupyter.widget-view+json": {"model_id": "m"}}),
        nbformat.v4.new_output("display_data", data={"image/png": 'x" onerror="alert(1)'},
                               metadata={"image/png": {"width": "1 onerror=x", "height": 20}, "filenames": {"image/png": "x"}}),
        nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="}, metadata={"image/png": {"width": 12}}),
        nbformat.v4.new_output("display_data", data={"text/latex": "<img src=x onerror=1>", "text/plain": "p"},
                               metadata={"text/html": {"isolated": True}}),
        nbformat.v4.new_output("stream", name="stdout", text="<script>shown as text</script>"),
    ]
    note = nbformat.v4.new_markdown_cell("![f](attachment:f.png)", attachments={"f.png": {"image/png": "iVBORw0KGgo="},
                                                                                "f.html": {"text/html": "<script>x</script>"}})
    nb = nbformat.v4.new_notebook(cells=[cell, note], metadata={"widgets": {"application/vnd.jupyter.widget-state+json": {}},
                                                                 "language_info": {"name": "python", "pygments_lexer": '"><script>'}})
    nb.cells[0]["id"] = 'bad id"'
    nb, _ = SanitizeNotebook().preprocess(nb, {})
    out = nb.cells[0].outputs
    assert [set(o.get("data", {})) for o in out] == [{"text/html", "text/plain"}, {"image/png"}, {"text/plain"}, set()]
    assert out[0]["data"]["text/html"] == "<b>ok</b>" and out[1]["metadata"] == {"image/png": {"width": 12}}
    assert out[3]["text"] == "<script>shown as text</script>"  # a stream is text: escaped by every renderer
    assert all(set(o.get("data", {})) <= set(KEPT_MIME_TYPES) for o in out)
    assert nb.cells[0].metadata.get("tags") == ["skip-when-grading"] and "nbgrader" not in nb.cells[0].metadata
    assert nb.cells[0]["id"] == "cell-0" and set(nb.metadata) == {"language_info"}
    assert nb.metadata["language_info"] == {"name": "python"}
    assert not ACTIVE.search(json.dumps(nb.cells[1]["attachments"]))


def test_the_policy_allows_the_templates_scripts_and_nothing_after_the_notebook_starts():
    page = ('<html><head><script>var a = 1;</script><script src="/x.js"></script></head><body>'
            '<nav><script>nav();</script></nav><div class="container" id="notebook-container">'
            '<script>evil();</script><img src=x onerror="evil()"></div></body></html>')
    policy = csp.policy_for(page)
    assert csp._hash("var a = 1;") in policy and csp._hash("nav();") in policy and csp._hash("evil();") not in policy
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy and "object-src 'none'" in policy
    feedback = csp.with_meta_policy(page)
    assert feedback.startswith('<html><head>\n<meta http-equiv="Content-Security-Policy" content="script-src \'self\' file: ')
