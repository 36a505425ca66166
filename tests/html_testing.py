"""Checks of the HTML pages bnn-hw writes (``report.html``, ``bnn-hw compare --html``): they parse,
hold their plots, and fetch nothing."""

import re
from html.parser import HTMLParser
from pathlib import Path

VOID = {"meta", "br", "hr", "img", "input", "link", "wbr", "col", "area", "base", "source"}
#: The only web addresses a page may hold: the namespaces of the inline SVG (never fetched).
NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


class Page(HTMLParser):
    """The parts of a page the tests look at: text outside the plots, plots, ids, tags left open."""

    def __init__(self, text: str):
        super().__init__()
        self.stack, self.text, self.svg_text, self.ids, self.tags, self.errors = [], [], [], [], [], []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.ids += [value for name, value in attrs if name == "id"]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)
        self.ids += [value for name, value in attrs if name == "id"]

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        (self.svg_text if "svg" in self.stack else self.text).append(data)


def assert_self_contained(page_html: str) -> Page:
    """``page_html`` parses with every element closed, holds plots, and fetches nothing."""
    page = Page(page_html)
    assert not page.errors and page.stack == [], (page.errors, page.stack)
    assert page_html.startswith("<!DOCTYPE html>") and "<svg" in page_html
    assert set(re.findall(r"https?://[^\"'\s<>)]+", page_html)) <= NAMESPACES
    assert not {"script", "img", "link", "iframe", "object"} & set(page.tags)
    assert not re.search(r"\b(src|href)=\"(?!#)", page_html)    # only links within the page (SVG <use>)
    assert len(page.ids) == len(set(page.ids)), "element ids repeat across the plots"
    return page


#: Added to a copy of a page before :func:`render_in_chromium` loads it (the pages themselves hold no
#: script): once loaded, the number of ``<svg>`` elements the browser laid out with a size, on ``<body>``.
_COUNT_PLOTS = ("<script>addEventListener('load', () => document.body.dataset.drawnSvgs = [...document"
                ".querySelectorAll('svg')].filter(s => { const r = s.getBoundingClientRect();"
                " return r.width > 0 && r.height > 0; }).length);</script>")


def render_in_chromium(page_html: str, folder) -> tuple[int, list[str]]:
    """Load ``page_html`` from a file in ``folder`` in headless Chromium (Debian's ``chromium``):
    how many of its ``<svg>`` elements were drawn with a size, and every console message (the page
    has no script of its own, so each is the browser's complaint: a bad SVG attribute, a failed load).
    Fails, in one line, when chromium is missing."""
    import os
    import shutil
    import subprocess

    import pytest

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: run ./setup.sh --slow", pytrace=False)
    path = Path(folder) / "page.html"
    path.write_text(page_html.replace("</body>", _COUNT_PLOTS + "</body>"))
    command = [chromium, "--headless", "--disable-gpu", "--enable-logging=stderr", "--v=0",
               f"--user-data-dir={Path(folder) / 'chromium-profile'}", "--dump-dom", path.as_uri()]
    if os.geteuid() == 0:
        command.insert(1, "--no-sandbox")   # Chromium refuses root without it
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    drawn = re.search(r'<body[^>]* data-drawn-svgs="(\d+)"', run.stdout)
    assert drawn, f"the page did not finish loading: {run.stdout[:300]!r}"
    return int(drawn.group(1)), re.findall(r":CONSOLE[:(].*", run.stderr)
