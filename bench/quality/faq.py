"""The Python FAQ (Debian's python3.11-doc) as question/answer pairs: every FAQ section whose heading is a question."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bs4 import BeautifulSoup, Tag

FAQ_DIR = Path("/usr/share/doc/python3.11/html/faq")
_PERMALINK = "¶"


@dataclass(frozen=True)
class FaqPair:
    page: str
    slug: str
    question: str
    answer: str

    @property
    def key(self) -> str:
        return f"faq/{self.page}/{self.slug}.txt"


def _heading(section: Tag) -> Tag | None:
    return section.find(re.compile(r"^h[1-6]$"), recursive=False)


def load_faq(folder: Path = FAQ_DIR) -> list[FaqPair]:
    if not folder.is_dir():
        raise SystemExit(f"{folder} is missing: install Debian's python3.11-doc (apt-get install -y python3.11-doc)")
    pairs: list[FaqPair] = []
    for page in sorted(folder.glob("*.html")):
        soup = BeautifulSoup(page.read_bytes(), "html.parser")
        for section in soup.find_all("section"):
            heading = _heading(section)
            if heading is None:
                continue
            question = heading.get_text(" ", strip=True).replace(_PERMALINK, "").strip()
            if not question.endswith("?"):
                continue
            parts = [
                child.get_text(" ", strip=True)
                for child in section.children
                if isinstance(child, Tag) and child is not heading and child.name != "section"
            ]
            answer = " ".join(" ".join(parts).split())
            if len(answer) >= 40:
                pairs.append(FaqPair(page.stem, str(section.get("id") or len(pairs)), question, answer))
    return pairs
