"""The README stays short and opens with its two commands; every link in it and in docs/ leads somewhere."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

DEMO = 'python3 -m venv .venv && .venv/bin/pip install -q . && PATH="$PWD/.venv/bin:$PATH" bash examples/demo.sh'
TESTS = "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest -q"


def prose(text: str) -> str:
    """The text without fenced code blocks and inline code, where a `[x](y)` is not a link."""
    text = re.sub(r"^```.*?^```[^\n]*$", "", text, flags=re.M | re.S)
    return re.sub(r"`[^`\n]*`", "", text)


def headings(text: str) -> list[str]:
    without_code = re.sub(r"^```.*?^```[^\n]*$", "", text, flags=re.M | re.S)
    return [m.group(2).strip() for m in re.finditer(r"^(#{1,6}) +(.+?) *#*$", without_code, re.M)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text lower-cased, punctuation dropped, spaces made hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows its text
    text = text.replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for heading in headings(text):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def links(text: str) -> list[str]:
    found = re.findall(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", prose(text))
    found += re.findall(r"^\s*\[[^\]]+\]:\s*(\S+)", prose(text), re.M)  # reference definitions
    return found


def broken(path: Path, text: str | None = None) -> list[str]:
    """The relative links of one page (or of ``text`` as if it were that page) that lead nowhere: no such
    file, or no such heading in it."""
    text = path.read_text() if text is None else text
    problems = []
    for link in links(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", link, re.I):  # https:, mailto:, ...
            continue
        target, _, anchor = link.partition("#")
        file = (path.parent / unquote(target)).resolve() if target else path
        if not file.is_relative_to(REPO) or not file.exists():
            problems.append(f"{link}: no such file")
        elif anchor and (file.suffix != ".md" or unquote(anchor).lower() not in anchors(text if file == path else file.read_text())):
            problems.append(f"{link}: no heading #{anchor} in {file.relative_to(REPO)}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page: Path) -> None:
    assert links(page.read_text()), "a page with no link at all: the README's links and every page's way back are missing"
    assert broken(page) == []


def test_a_broken_link_is_caught() -> None:
    # The check above can fail: a missing file, a missing heading and a link out of the repository are caught.
    page = REPO / "docs" / "start.md"
    text = page.read_text()
    assert broken(page, text) == []
    text += "\n[a](nowhere.md) [b](exec.md#no-such-heading) [c](#times-and-durations) [d](../../etc/passwd)\n"
    assert broken(page, text) == ["nowhere.md: no such file",
                                  "exec.md#no-such-heading: no heading #no-such-heading in docs/exec.md",
                                  "../../etc/passwd: no such file"]
    # A link to a heading of its own page, once that heading is renamed:
    assert "#times-and-durations: no heading #times-and-durations in docs/start.md" in broken(
        page, text.replace("## Times and durations", "## Times"))


def test_slugs_are_githubs() -> None:
    assert slug("`hhsession exec -- COMMAND`") == "hhsession-exec----command"
    assert slug("Times and durations") == "times-and-durations"
    assert slug("What the server sends back") == "what-the-server-sends-back"
    assert slug("Settings, profiles & security!") == "settings-profiles--security"


def test_the_readme_is_read_in_five_minutes() -> None:
    words = len((REPO / "README.md").read_text().split())  # as `wc -w` counts them
    assert words <= 1500


def test_the_readme_opens_with_the_two_commands() -> None:
    text = (REPO / "README.md").read_text()
    title, first = headings(text)[:2]
    assert title == "hhsession" and text.startswith("# hhsession\n")
    assert first.startswith("Try it")
    section = text.split(f"\n## {first}\n", 1)[1].split("\n## ", 1)[0]
    assert text.split(f"\n## {first}\n", 1)[0].strip() == "# hhsession"  # nothing comes before it
    assert re.findall(r"```bash\n(.*?)\n```", section, re.S) == [DEMO, TESTS]
    assert re.search(r"about \d+ s", section), "the section says how long the tests take"


def test_every_docs_page_is_linked_from_the_readme_and_links_back() -> None:
    readme_links = {link.partition("#")[0] for link in links((REPO / "README.md").read_text())}
    for page in PAGES[1:]:
        assert f"docs/{page.name}" in readme_links, page.name
        first, second = page.read_text().split("\n")[0], page.read_text().split("\n\n")[1]
        assert first.startswith("# "), page.name
        assert "](../README.md)" in second, page.name
