"""Text extraction from the document formats the platform accepts.

Each extractor turns the raw bytes of one object into sections of plain text; a document that cannot be read
raises a `DocumentRejected` subclass whose message says what is wrong with it.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable
from pathlib import PurePosixPath

from llmops.domain.errors import UnreadableDocument, UnsupportedFormat
from llmops.domain.models import ExtractedDocument, Section

Extractor = Callable[[bytes, str], ExtractedDocument]

_WHITESPACE_RUNS = re.compile(r"[ \t\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n\s*(\n\s*)+")
# Markup that carries no readable content, or page chrome repeated on every page of a site.
_NON_CONTENT_TAGS = ("script", "style", "noscript", "template", "svg", "nav", "header", "footer", "aside", "form")
# Elements that end a line of text; everything else (spans of highlighted code, links, emphasis) joins its line.
_BLOCK_TAGS = (
    "p",
    "div",
    "section",
    "article",
    "main",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "dt",
    "dd",
    "tr",
    "blockquote",
    "pre",
    "table",
    "ul",
    "ol",
    "dl",
    "br",
    "hr",
    "figure",
    "figcaption",
    "caption",
)
_PERMALINK_SYMBOLS = {"¶", "#", "§", "🔗"}


def _tidy(text: str) -> str:
    lines = (_WHITESPACE_RUNS.sub(" ", line).strip() for line in text.splitlines())
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _decode_text(body: bytes, key: str) -> str:
    if b"\x00" in body[:8192]:
        raise UnreadableDocument(f"{key} looks like binary data, not text (it contains NUL bytes)")
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnreadableDocument(f"{key} is not valid UTF-8 (byte {error.start}): re-save it as UTF-8") from error


def _title_from_key(key: str) -> str:
    return PurePosixPath(key).stem.replace("_", " ").replace("-", " ").strip() or key


def extract_plain_text(body: bytes, key: str) -> ExtractedDocument:
    return ExtractedDocument(title=_title_from_key(key), sections=[Section(text=_tidy(_decode_text(body, key)))])


def extract_markdown(body: bytes, key: str) -> ExtractedDocument:
    text = _decode_text(body, key)
    heading = re.search(r"^#\s+(.+)$", text, flags=re.MULTILINE)
    title = heading.group(1).strip() if heading else _title_from_key(key)
    # Markdown is kept as written: the chunker splits on its headings and paragraphs.
    return ExtractedDocument(title=title, sections=[Section(text=text.strip())])


def extract_html(body: bytes, key: str) -> ExtractedDocument:
    from bs4 import BeautifulSoup

    if b"\x00" in body[:8192]:
        raise UnreadableDocument(f"{key} looks like binary data, not HTML (it contains NUL bytes)")
    soup = BeautifulSoup(body, "html.parser")
    for tag in soup(_NON_CONTENT_TAGS):
        tag.decompose()
    for link in soup("a"):
        if link.get_text(strip=True) in _PERMALINK_SYMBOLS:  # heading permalinks, not content
            link.decompose()
    title_tag = soup.find("title")
    title = title_tag.get_text(strip=True) if title_tag else ""
    main = soup.find("main") or soup.find(role="main") or soup.body or soup
    for block in main.find_all(_BLOCK_TAGS):
        block.insert_after("\n")
    text = _tidy(main.get_text(""))
    return ExtractedDocument(title=title or _title_from_key(key), sections=[Section(text=text)])


def extract_pdf(body: bytes, key: str) -> ExtractedDocument:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    # pypdf logs recoverable damage as warnings; the platform reports outcomes per document instead.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(body))
        if reader.is_encrypted:
            raise UnreadableDocument(f"{key} is an encrypted PDF: upload it without a password")
        sections = [
            Section(text=_tidy(page.extract_text() or ""), page=number)
            for number, page in enumerate(reader.pages, start=1)
        ]
        metadata_title = (reader.metadata.title if reader.metadata else None) or ""
    except (PdfReadError, ValueError, KeyError, TypeError) as error:
        raise UnreadableDocument(f"{key} is not a readable PDF: {error}") from error
    return ExtractedDocument(
        title=str(metadata_title).strip() or _title_from_key(key),
        sections=[section for section in sections if section.text],
    )


EXTRACTORS_BY_SUFFIX: dict[str, Extractor] = {
    ".txt": extract_plain_text,
    ".text": extract_plain_text,
    ".md": extract_markdown,
    ".markdown": extract_markdown,
    ".html": extract_html,
    ".htm": extract_html,
    ".pdf": extract_pdf,
}

_SUFFIX_BY_CONTENT_TYPE = {
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/html": ".html",
    "application/pdf": ".pdf",
}


def extract(body: bytes, key: str, content_type: str | None = None) -> ExtractedDocument:
    """Extract the text of one object, chosen by its key's suffix, else by its content type."""
    suffix = PurePosixPath(key).suffix.lower()
    extractor = EXTRACTORS_BY_SUFFIX.get(suffix)
    if extractor is None and content_type:
        extractor = EXTRACTORS_BY_SUFFIX.get(_SUFFIX_BY_CONTENT_TYPE.get(content_type.split(";")[0].strip(), ""))
    if extractor is None:
        supported = ", ".join(sorted(EXTRACTORS_BY_SUFFIX))
        raise UnsupportedFormat(
            f"{key}: unsupported format {suffix or content_type or '(none)'}; supported: {supported}"
        )
    document = extractor(body, key)
    if not any(section.text.strip() for section in document.sections):
        raise UnreadableDocument(f"{key} contains no extractable text")
    return document
