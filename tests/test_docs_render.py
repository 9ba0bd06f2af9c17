"""The Markdown documents render as written: every heading a heading, every code block a code block.

A closing fence with text after it (three backticks, then a sentence) is no closing fence in CommonMark:
everything up to the next fence, headings included, renders as one code block on GitHub. Each document
is read twice: line by line, as its author wrote it (a fence line opens or closes a block, a ``#`` line
outside one is a heading), and by markdown-it-py, a CommonMark renderer with GitHub's tables. The two
readings must agree, and every relative link must name a file of the repository.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = sorted(
    str(path.relative_to(ROOT))
    for path in [*ROOT.glob("*.md"), *(ROOT / "tests").rglob("*.md"), *(ROOT / "notebooks").rglob("*.md")]
    if ".pytest_cache" not in path.parts
)
_FENCE = re.compile(r"^(`{3,}|~{3,})(.*)$")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def as_written(text: str) -> tuple[list[tuple[int, str]], list[tuple[str, str]], list[str]]:
    """Headings (level, text), code blocks (info, content) and the fence lines that are neither.

    >>> as_written("# A\\n```sh\\nls\\n```\\n## B\\n")
    ([(1, 'A'), (2, 'B')], [('sh', 'ls\\n')], [])
    >>> as_written("```\\nx\\n``` then words\\n")[2]
    ['``` then words', '``` (never closed)']
    """
    headings: list[tuple[int, str]] = []
    blocks: list[tuple[str, str]] = []
    odd: list[str] = []
    fence: str | None = None
    info, body = "", []
    for line in text.splitlines():
        match = _FENCE.match(line)
        if fence is None:
            if match:
                fence, info, body = match.group(1), match.group(2).strip(), []
                if "`" in info:
                    odd.append(line)
            elif heading := _HEADING.match(line):
                headings.append((len(heading.group(1)), heading.group(2)))
        elif match and match.group(1).startswith(fence):
            if match.group(2).strip():
                odd.append(line)  # text after a closing fence: CommonMark does not close here
                body.append(line)
                continue
            blocks.append((info, "".join(f"{b}\n" for b in body)))
            fence = None
        else:
            body.append(line)
    if fence is not None:
        odd.append(f"{fence}{info} (never closed)")
    return headings, blocks, odd


def rendered(text: str) -> tuple[list[tuple[int, str]], list[tuple[str, str]], list[str]]:
    """Headings, fenced blocks and indented code blocks as a CommonMark renderer sees them."""
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    headings = [
        (int(tok.tag[1]), tokens[i + 1].content) for i, tok in enumerate(tokens) if tok.type == "heading_open"
    ]
    blocks = [(tok.info.strip(), tok.content) for tok in tokens if tok.type == "fence"]
    indented = [tok.content for tok in tokens if tok.type == "code_block"]
    return headings, blocks, indented


@pytest.mark.parametrize("name", DOCUMENTS)
def test_renders_as_written(name: str) -> None:
    text = (ROOT / name).read_text(encoding="utf-8")
    headings, blocks, odd = as_written(text)
    assert not odd, f"{name}: fence lines that close nothing as written: {odd}"
    seen_headings, seen_blocks, indented = rendered(text)
    assert seen_headings == headings, f"{name}: the rendered headings differ from the written ones"
    assert seen_blocks == blocks, f"{name}: the rendered code blocks differ from the written ones"
    assert not indented, f"{name}: text indented into a code block: {[c[:60] for c in indented]}"


@pytest.mark.parametrize("name", DOCUMENTS)
def test_relative_links_name_files_that_exist(name: str) -> None:
    text = (ROOT / name).read_text(encoding="utf-8")
    _, blocks, _ = as_written(text)
    for _, content in blocks:  # a link inside a code block is code, not a link
        text = text.replace(content, "")
    missing = [
        target
        for target in _LINK.findall(text)
        if not re.match(r"^[a-z]+:|^#", target) and not ((ROOT / name).parent / target.split("#")[0]).exists()
    ]
    assert not missing, f"{name}: links to files that do not exist: {missing}"


def test_a_fence_with_text_after_it_is_caught() -> None:
    """The README's old fault, in small: the renderer's reading and the author's differ."""
    text = "```yaml\nkind: Role\n``` It creates one namespace.\n\n## The simulated mesh\n\nSome text.\n"
    assert as_written(text)[2] == ["``` It creates one namespace.", "```yaml (never closed)"]
    assert rendered(text)[0] == []  # the heading vanished into the code block
    assert len(rendered(text)[1][0][1].splitlines()) == 6
