"""Every status badge's symbol has a glyph in Debian's Chromium with its default fonts.

A symbol no installed font has is drawn as a box, the same box for every missing character (⛔, the
first error badge, was one here: Debian's fonts-dejavu has no U+26D4). In JupyterLab in Chromium, a
notebook shows one badge per status; for each, the page draws the badge's symbol in a canvas in the
badge's own computed font, and draws two characters no font has (private-use U+E000 and U+10FFFD) the
same way. The symbol must leave ink, and its pixels must differ from the missing characters' box.
"""

from __future__ import annotations

import json

from lab_driver import error_outputs, open_notebook, run_all_cells
from playwright.sync_api import expect

from meshnb.diagnostics.finding import STATUSES

TIMEOUT_MS = 60_000

CELL = (
    "from IPython.display import HTML\n"
    "from meshnb.diagnostics.finding import STATUSES, Finding\n"
    "HTML(' '.join(Finding('badge', status, 'badge').status_html() for status in STATUSES))"
)

# For each badge: its symbol, the ink it leaves, and whether its pixels equal a missing character's.
GLYPHS_JS = """badges => badges.map(badge => {
    const symbol = [...badge.textContent.trim()][0];
    const style = getComputedStyle(badge);
    const font = `${style.fontWeight} 32px ${style.fontFamily}`;
    const draw = text => {
        const canvas = new OffscreenCanvas(64, 64);
        const context = canvas.getContext('2d');
        context.font = font;
        context.fillStyle = 'black';
        context.textBaseline = 'middle';
        context.fillText(text, 8, 32);
        return context.getImageData(0, 0, 64, 64).data;
    };
    const mine = draw(symbol);
    const same = other => mine.every((value, i) => value === other[i]);
    return {
        symbol, font,
        ink: mine.filter((value, i) => i % 4 === 3 && value > 0).length,
        missing: same(draw('\\uE000')) || same(draw('\\u{10FFFD}')),
    };
})"""


def test_each_status_symbol_has_a_glyph(lab, page):
    notebook = {
        "cells": [
            {"cell_type": "code", "metadata": {}, "source": CELL, "outputs": [], "execution_count": None}
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (lab.root / "notebooks" / "badges.ipynb").write_text(json.dumps(notebook))
    open_notebook(page, lab.notebook_url("badges.ipynb"))
    run_all_cells(page)
    assert error_outputs(page) == []
    badges = page.locator(".jp-OutputArea .meshnb-status")
    expect(badges).to_have_count(len(STATUSES), timeout=TIMEOUT_MS)
    glyphs = badges.evaluate_all(GLYPHS_JS)
    assert len({g["symbol"] for g in glyphs}) == len(STATUSES), glyphs
    for glyph in glyphs:
        assert glyph["ink"] > 0 and not glyph["missing"], glyph
