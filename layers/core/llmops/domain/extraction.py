"""Text extraction from the document formats the platform accepts.

Each extractor turns the raw bytes of one object into sections of plain text; a document that cannot be read
raises a `DocumentRejected` subclass whose message says what is wrong with it.

A section is the unit a chunk never crosses: a PDF page, the part of a Markdown or Word document under one
heading (labelled with its heading path, "Install > Linux"), one CSV row ("row 12", its line in the file) or one
JSON Lines record ("line 3").
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from llmops.domain.errors import UnreadableDocument, UnsupportedFormat
from llmops.domain.models import ExtractedDocument, Section

if TYPE_CHECKING:
    from docx.table import Table, _Cell
    from docx.text.paragraph import Paragraph
    from lxml.html import HtmlElement

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
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_PERMALINK_SYMBOLS = {"¶", "#", "§", "🔗"}
# A page whose markup is mostly script and whose visible text is this short is an application shell, not content.
_SCRIPT_SHARE_OF_A_SHELL = 0.9
_SHELL_TEXT_CHARS = 200
# How far into a document NUL bytes are looked for, and the sample the CSV dialect is guessed from.
_SNIFF_BYTES = 8192
_CSV_SNIFF_CHARS = 64 * 1024
_CSV_DELIMITERS = ",;\t|"
# The first bytes of formats that are often uploaded under a text suffix by mistake.
_BINARY_SIGNATURES = (
    (b"%PDF-", "a PDF document: upload it with a .pdf suffix"),
    (b"PK\x03\x04", "a ZIP archive (a .docx, .xlsx or .zip file?): upload it with its own suffix"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Microsoft Office (97-2003) file: save it as .docx or PDF"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive: decompress it first"),
    (b"\x7fELF", "an executable (ELF)"),
)
_UTF32_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _tidy(text: str) -> str:
    lines = (_WHITESPACE_RUNS.sub(" ", line).strip() for line in text.splitlines())
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _binary_kind(body: bytes) -> str | None:
    return next((kind for signature, kind in _BINARY_SIGNATURES if body.startswith(signature)), None)


def _looks_like_utf16_without_bom(sample: bytes) -> bool:
    """ASCII-range text in UTF-16 has a NUL in every other byte, all on the same side; binary data does not."""
    if len(sample) < 4:
        return False
    even, odd = sample[0::2], sample[1::2]
    even_nuls, odd_nuls = even.count(0) / len(even), odd.count(0) / len(odd)
    return max(even_nuls, odd_nuls) >= 0.5 and min(even_nuls, odd_nuls) <= 0.02


def _decode_text(body: bytes, key: str) -> str:
    """UTF-8 (with or without a BOM), or UTF-16/UTF-32 when the file starts with their BOM."""
    for boms, encoding in ((_UTF32_BOMS, "utf-32"), (_UTF16_BOMS, "utf-16")):
        if body.startswith(boms):
            try:
                text = body.decode(encoding)
            except UnicodeDecodeError as error:
                raise UnreadableDocument(
                    f"{key} starts with a {encoding.upper()} byte order mark but is not valid {encoding.upper()} "
                    f"(byte {error.start}): re-save it as UTF-8"
                ) from error
            if "\x00" in text[:_SNIFF_BYTES]:
                raise UnreadableDocument(f"{key} looks like binary data, not text (it contains NUL characters)")
            return text
    sample = body[:_SNIFF_BYTES]
    if b"\x00" in sample:
        if kind := _binary_kind(body):
            raise UnreadableDocument(f"{key} looks like binary data, not text: it is {kind}")
        if _looks_like_utf16_without_bom(sample):
            raise UnreadableDocument(
                f"{key} looks like UTF-16 text without a byte order mark: re-save it as UTF-8 (or UTF-16 with a BOM)"
            )
        raise UnreadableDocument(f"{key} looks like binary data, not text (it contains NUL bytes)")
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        if kind := _binary_kind(body):
            raise UnreadableDocument(f"{key} looks like binary data, not text: it is {kind}") from error
        raise UnreadableDocument(f"{key} is not valid UTF-8 (byte {error.start}): re-save it as UTF-8") from error


def _title_from_key(key: str) -> str:
    return PurePosixPath(key).stem.replace("_", " ").replace("-", " ").strip() or key


def _heading_path(stack: list[tuple[int, str]]) -> str | None:
    return " > ".join(text for _, text in stack) or None


def _enter_heading(stack: list[tuple[int, str]], level: int, text: str) -> None:
    while stack and stack[-1][0] >= level:
        stack.pop()
    stack.append((level, text))


def extract_plain_text(body: bytes, key: str) -> ExtractedDocument:
    return ExtractedDocument(title=_title_from_key(key), sections=[Section(text=_tidy(_decode_text(body, key)))])


# --- Markdown ---------------------------------------------------------------------------------------------------

_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
# Lines that cannot be the text of a setext heading: list items, quotes, table rows, indented code, headings.
_NOT_SETEXT_TEXT = re.compile(r"^(?: {4}|\t| {0,3}(?:[-*+>|#]|\d+[.)])(?:\s|$))")
_MARKDOWN_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")


def _heading_label(raw: str) -> str:
    return _MARKDOWN_LINK.sub(r"\1", raw).replace("`", "").strip()


def _front_matter_end(lines: list[str]) -> int:
    """The number of lines a YAML front matter block (--- ... ---) takes at the top, 0 without one."""
    if not lines or lines[0].strip() != "---":
        return 0
    for number, line in enumerate(lines[1:], start=1):
        if line.strip() in {"---", "..."}:
            return number + 1
    return 0


def _markdown_sections(text: str) -> tuple[str | None, list[Section]]:
    """Split Markdown at its ATX (#) and setext (===, ---) headings, outside code fences.

    Each section starts with its heading line and is labelled with its heading path; a heading with no text of
    its own only adds to the path of the sections under it. Returns the first level-1 heading and the sections.
    """
    lines = text.splitlines()
    preamble = _front_matter_end(lines)
    sections: list[Section] = []
    current, heading_lines = lines[:preamble], 0
    stack: list[tuple[int, str]] = []
    title: str | None = None
    fence: str | None = None

    def close(current: list[str], heading_lines: int) -> None:
        if any(line.strip() for line in current[heading_lines:]):
            sections.append(Section(text="\n".join(current).strip(), label=_heading_path(stack)))

    for line in lines[preamble:]:
        fence_match = _FENCE.match(line)
        if fence is None and fence_match:  # a code block opens: nothing in it is a heading
            fence = fence_match.group(1)
            current.append(line)
            continue
        if fence is not None:
            if fence_match and fence_match.group(1)[0] == fence[0] and len(fence_match.group(1)) >= len(fence):
                fence = None
            current.append(line)
            continue
        heading: tuple[int, str, list[str]] | None = None
        if atx := _ATX_HEADING.match(line):
            heading = (len(atx.group(1)), atx.group(2), [line])
        elif (underline := _SETEXT_UNDERLINE.match(line)) and len(current) > heading_lines and current[-1].strip():
            previous = current[-1]
            if not _NOT_SETEXT_TEXT.match(previous):
                current = current[:-1]
                heading = (1 if underline.group(1).startswith("=") else 2, previous.strip(), [previous, line])
        if heading is None:
            current.append(line)
            continue
        level, raw_text, heading_text = heading
        close(current, heading_lines)
        label = _heading_label(raw_text)
        if level == 1 and title is None:
            title = label
        _enter_heading(stack, level, label)
        current, heading_lines = heading_text, len(heading_text)
    close(current, heading_lines)

    if not sections and text.strip():  # headings and nothing else: keep them as they are
        sections = [Section(text=text.strip())]
    return title, sections


def extract_markdown(body: bytes, key: str) -> ExtractedDocument:
    title, sections = _markdown_sections(_decode_text(body, key))
    # Each section is kept as written: the chunker splits it further on its paragraphs and lists.
    return ExtractedDocument(title=title or _title_from_key(key), sections=sections)


# --- HTML -------------------------------------------------------------------------------------------------------


def extract_html(body: bytes, key: str) -> ExtractedDocument:
    # lxml builds the tree in C: BeautifulSoup's Python tree took 15 times as long on the Python docs. bs4's
    # UnicodeDammit still decides the encoding (the declared charset, else UTF-8, else Windows-1252, as browsers do).
    import lxml.html
    from bs4.dammit import UnicodeDammit
    from lxml.etree import ParserError

    if body.startswith(_UTF32_BOMS + _UTF16_BOMS):
        markup = _decode_text(body, key)
    elif b"\x00" in body[:_SNIFF_BYTES]:
        raise UnreadableDocument(f"{key} looks like binary data, not HTML (it contains NUL bytes)")
    else:
        markup = UnicodeDammit(body, is_html=True).unicode_markup or ""
    markup = _XML_DECLARATION.sub("", markup, count=1)  # lxml refuses decoded text that declares an encoding
    try:
        page = lxml.html.document_fromstring(markup)
    except ParserError:  # empty, or nothing but comments and whitespace
        return ExtractedDocument(title=_title_from_key(key), sections=[Section(text="")])
    script_chars = sum(len(script.text or "") for script in page.iter("script"))
    title = _tidy(page.findtext(".//title") or "")
    # Elements are listed before any is dropped: lxml's iterators do not survive changes to the tree.
    for element in list(page.iter(*_NON_CONTENT_TAGS)):
        element.drop_tree()  # drop_tree keeps the text that follows the element
    for link in list(page.iter("a")):
        if link.text_content().strip() in _PERMALINK_SYMBOLS:  # heading permalinks, not content
            link.drop_tree()
    main = _main_content(page)
    for block in main.iter(*_BLOCK_TAGS):
        block.tail = "\n" + (block.tail or "")
    text = _tidy(main.text_content())
    script_share = script_chars / max(len(markup), 1)
    if script_share >= _SCRIPT_SHARE_OF_A_SHELL and len(text) < _SHELL_TEXT_CHARS:
        raise UnreadableDocument(
            f"{key} contains no extractable text: {int(script_share * 100)}% of the page is script and it has "
            f"{len(text)} characters of readable text (a page rendered by JavaScript? save the rendered page "
            "or print it to PDF)"
        )
    return ExtractedDocument(title=title or _title_from_key(key), sections=[Section(text=text)])


def _main_content(page: HtmlElement) -> HtmlElement:
    for candidates in (page.iter("main"), page.iterfind(".//*[@role='main']"), page.iter("body")):
        found = next(candidates, None)
        if found is not None:
            return found
    return page


# --- PDF --------------------------------------------------------------------------------------------------------


def extract_pdf(body: bytes, key: str) -> ExtractedDocument:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    # pypdf logs recoverable damage as warnings; the platform reports outcomes per document instead.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    if b"%PDF-" not in body[:1024]:
        raise UnreadableDocument(f"{key} is not a PDF: it does not start with a %PDF- header")
    try:
        reader = PdfReader(io.BytesIO(body))
        if reader.is_encrypted:
            try:
                # Encrypted with an empty user password (permissions only), it opens without one.
                decrypted = bool(reader.decrypt(""))
            except DependencyError as error:
                raise UnreadableDocument(f"{key} is an encrypted PDF ({error}): upload it unencrypted") from error
            if not decrypted:
                raise UnreadableDocument(f"{key} is a password-protected PDF: upload it without a password")
        pages = list(reader.pages)
        sections = [
            Section(text=_tidy(page.extract_text() or ""), page=number) for number, page in enumerate(pages, start=1)
        ]
        metadata_title = (reader.metadata.title if reader.metadata else None) or ""
    except UnreadableDocument:
        raise
    except MemoryError:
        raise
    except Exception as error:  # pypdf raises many kinds of error on damaged files; all mean the same here
        if b"%%EOF" not in body[-1024:]:
            raise UnreadableDocument(
                f"{key} is not a readable PDF: it is truncated (no %%EOF marker at its end); upload it again"
            ) from error
        raise UnreadableDocument(f"{key} is not a readable PDF: {error or type(error).__name__}") from error
    if not pages:
        raise UnreadableDocument(f"{key} is a PDF with no pages")
    if not any(section.text for section in sections):
        raise UnreadableDocument(f"{key} contains no extractable text (scanned PDF without a text layer?)")
    return ExtractedDocument(
        title=str(metadata_title).strip() or _title_from_key(key),
        sections=[section for section in sections if section.text],
    )


# --- DOCX -------------------------------------------------------------------------------------------------------

_DOCX_HEADING_STYLE = re.compile(r"^heading (\d)$", flags=re.IGNORECASE)


def _docx_heading_level(paragraph: Paragraph) -> int | None:
    """0 for the Title style, n for "Heading n" or an outline level n-1 (how Word marks headings of any language)."""
    from docx.oxml.ns import qn

    style = paragraph.style
    if style is not None and style.name:
        if style.name.lower() == "title":
            return 0
        if match := _DOCX_HEADING_STYLE.match(style.name):
            return int(match.group(1))
    elements = [paragraph._p.pPr]
    while style is not None:
        elements.append(style.element.pPr)
        style = style.base_style
    for element in elements:
        outline = element.find(qn("w:outlineLvl")) if element is not None else None
        if outline is not None:
            level = int(outline.get(qn("w:val"), "9"))
            return level + 1 if level < 9 else None  # 9 is body text
    return None


def _docx_cell_text(cell: _Cell) -> str:
    from docx.table import Table

    parts = [_docx_table_text(item) if isinstance(item, Table) else item.text for item in cell.iter_inner_content()]
    return " ".join(" ".join(part.split()) for part in parts if part.strip())


def _docx_table_text(table: Table) -> str:
    rows = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            if previous is not None and cell._tc is previous:  # a merged cell repeats across the columns it spans
                continue
            previous = cell._tc
            cells.append(_docx_cell_text(cell))
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def _docx_package_problem(body: bytes) -> str | None:
    import zipfile
    import zlib

    if body.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return (
            "is a Word 97-2003 (.doc) or password-protected document, not a DOCX: save it as .docx without a password"
        )
    if not zipfile.is_zipfile(io.BytesIO(body)):
        if body.startswith(b"PK\x03\x04"):
            return "is a truncated or damaged DOCX (its ZIP directory is missing): upload it again"
        return "is not a DOCX file (a DOCX is a ZIP package and this is not one)"
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as package:
            names = set(package.namelist())
            if "word/document.xml" not in names:
                return "is a ZIP file but not a Word document (it has no word/document.xml)"
            damaged = package.testzip()
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as error:
        return f"is a damaged DOCX ({error}): upload it again"
    if damaged is not None:
        return f"is a damaged DOCX (its part {damaged} is corrupt): upload it again"
    return None


def extract_docx(body: bytes, key: str) -> ExtractedDocument:
    import docx
    from docx.table import Table
    from lxml.etree import XMLSyntaxError

    if problem := _docx_package_problem(body):
        raise UnreadableDocument(f"{key} {problem}")
    try:
        document = docx.Document(io.BytesIO(body))
        blocks = list(document.iter_inner_content())
        metadata_title = document.core_properties.title or ""
    except XMLSyntaxError as error:
        raise UnreadableDocument(f"{key} is a damaged DOCX: its XML is not well-formed ({error})") from error
    except MemoryError:
        raise
    except Exception as error:  # missing parts, a macro-enabled or template content type
        raise UnreadableDocument(f"{key} is not a readable DOCX: {error or type(error).__name__}") from error

    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    parts: list[str] = []
    has_body = False
    title = ""

    def close(parts: list[str], has_body: bool) -> None:
        if has_body:
            sections.append(Section(text="\n\n".join(parts), label=_heading_path(stack)))

    for block in blocks:
        if isinstance(block, Table):
            text = _docx_table_text(block)
            level = None
        else:
            text = block.text.strip()
            level = _docx_heading_level(block) if text else None
        if not text:
            continue
        if level is None:
            parts.append(text)
            has_body = True
            continue
        close(parts, has_body)
        if level <= 1 and not title:
            title = text
        _enter_heading(stack, level, " ".join(text.split()))
        parts, has_body = [text], False
    close(parts, has_body)
    return ExtractedDocument(
        title=str(metadata_title).strip() or title or _title_from_key(key),
        sections=sections,
    )


# --- CSV --------------------------------------------------------------------------------------------------------

_QUESTION_COLUMNS = {"question", "questions", "q"}
_ANSWER_COLUMNS = {"answer", "answers", "a"}


def _csv_delimiter(text: str, header_line: str) -> str:
    sample = text[:_CSV_SNIFF_CHARS]
    if len(text) > _CSV_SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n")]  # a cut line would mislead the sniffer
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=_CSV_DELIMITERS).delimiter
    except csv.Error:
        delimiter = ""
    if delimiter and delimiter in header_line:
        return delimiter
    return next((candidate for candidate in _CSV_DELIMITERS if candidate in header_line), ",")


def _csv_records(text: str, key: str) -> Iterator[tuple[int, list[str]]]:
    """Each non-empty record with the line it starts on."""
    header_line = next((line for line in text.splitlines() if line.strip()), "")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_csv_delimiter(text, header_line), strict=True)
    line = 1
    try:
        for record in reader:
            start, line = line, reader.line_num + 1
            if any(cell.strip() for cell in record):
                yield start, record
    except csv.Error as error:
        raise UnreadableDocument(f"{key} is not a readable CSV (line {line}): {error}") from error


def extract_csv(body: bytes, key: str) -> ExtractedDocument:
    """One section per row: `Q: …` / `A: …` for a question-and-answer file, else `column: value` lines."""
    records = _csv_records(_decode_text(body, key), key)
    header_record = next(records, None)
    if header_record is None:
        return ExtractedDocument(title=_title_from_key(key), sections=[])
    header = [" ".join(name.split()) for name in header_record[1]]
    lowered = [name.lower() for name in header]
    question = next((i for i, name in enumerate(lowered) if name in _QUESTION_COLUMNS), None)
    answer = next((i for i, name in enumerate(lowered) if name in _ANSWER_COLUMNS), None)
    pair = (question, answer) if question is not None and answer is not None else None

    def column(index: int) -> str:
        return header[index] if index < len(header) and header[index] else f"column {index + 1}"

    sections = []
    rows = 0
    for line, record in records:
        rows += 1
        cells = [_tidy(cell) for cell in record] + [""] * (len(header) - len(record))
        lines = []
        if pair is not None:
            if not (cells[pair[0]] or cells[pair[1]]):
                continue  # a row of other columns only, in a question-and-answer file
            lines = [f"Q: {cells[pair[0]]}".strip(), f"A: {cells[pair[1]]}".strip()]
        lines += [f"{column(i)}: {value}" for i, value in enumerate(cells) if value and i not in (pair or ())]
        sections.append(Section(text="\n".join(lines), label=f"row {line}"))
    if not rows:
        raise UnreadableDocument(f"{key} has a header row but no data rows")
    if not sections:
        raise UnreadableDocument(f"{key} has no row with a question or an answer")
    return ExtractedDocument(title=_title_from_key(key), sections=sections)


# --- JSON Lines -------------------------------------------------------------------------------------------------

# Fields that hold a record's content, by kind; the first pair found in a record wins.
_JSON_PAIRS = (("question", "answer"), ("prompt", "completion"))
_JSON_TEXT_FIELDS = ("text", "content")


def _json_scalar(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return " ".join(str(value).split()) if isinstance(value, str) and "\n" not in value else str(value).strip()
    return None


def _json_fields(record: dict[str, Any], prefix: str = "") -> Iterator[str]:
    """`key: value` lines of a record's scalar fields; nested objects flattened as `parent.child`."""
    for name, value in record.items():
        if isinstance(value, dict):
            yield from _json_fields(value, f"{prefix}{name}.")
        elif isinstance(value, list):
            items = [item for item in map(_json_scalar, value) if item]
            if items:
                yield f"{prefix}{name}: {', '.join(items)}"
        elif (scalar := _json_scalar(value)) is not None and scalar != "":
            yield f"{prefix}{name}: {scalar}"


def _json_value_text(value: Any) -> str:
    if isinstance(value, dict):
        return "\n".join(_json_fields(value))
    if isinstance(value, list):
        return "\n".join(text for text in map(_json_value_text, value) if text)
    return _json_scalar(value) or ""


def _json_record_text(record: Any) -> str:
    if not isinstance(record, dict):
        return _json_value_text(record)
    fields = {name.lower(): value for name, value in record.items()}
    for question, answer in _JSON_PAIRS:
        if question in fields and answer in fields:
            return f"Q: {_json_value_text(fields[question])}\nA: {_json_value_text(fields[answer])}"
    for name in _JSON_TEXT_FIELDS:
        if name in fields and (text := _json_value_text(fields[name])):
            return text
    messages = fields.get("messages")
    if isinstance(messages, list) and all(isinstance(m, dict) and "content" in m for m in messages):
        return "\n".join(f"{m.get('role', 'message')}: {_json_value_text(m['content'])}" for m in messages)
    return "\n".join(_json_fields(record))


def extract_jsonl(body: bytes, key: str) -> ExtractedDocument:
    text = _decode_text(body, key)
    sections = []
    # Split on newlines only: JSON strings may hold other line separators (U+2028) unescaped.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise UnreadableDocument(
                f"{key} line {number} is not valid JSON ({error.msg} at column {error.colno}): every line of a "
                "JSON Lines file must be one JSON value"
            ) from error
        if record_text := _json_record_text(record).strip():
            sections.append(Section(text=record_text, label=f"line {number}"))
    return ExtractedDocument(title=_title_from_key(key), sections=sections)


EXTRACTORS_BY_SUFFIX: dict[str, Extractor] = {
    ".txt": extract_plain_text,
    ".text": extract_plain_text,
    ".md": extract_markdown,
    ".markdown": extract_markdown,
    ".html": extract_html,
    ".htm": extract_html,
    ".pdf": extract_pdf,
    ".docx": extract_docx,
    ".csv": extract_csv,
    ".tsv": extract_csv,
    ".jsonl": extract_jsonl,
    ".ndjson": extract_jsonl,
}

_SUFFIX_BY_CONTENT_TYPE = {
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/html": ".html",
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "text/csv": ".csv",
    "text/tab-separated-values": ".tsv",
    "application/x-ndjson": ".jsonl",
    "application/jsonl": ".jsonl",
}


def extract(body: bytes, key: str, content_type: str | None = None) -> ExtractedDocument:
    """Extract the text of one object, chosen by its key's suffix, else by its content type."""
    suffix = PurePosixPath(key).suffix.lower()
    extractor = EXTRACTORS_BY_SUFFIX.get(suffix)
    if extractor is None and content_type:
        media_type = content_type.split(";")[0].strip().lower()
        extractor = EXTRACTORS_BY_SUFFIX.get(_SUFFIX_BY_CONTENT_TYPE.get(media_type, ""))
    if extractor is None:
        supported = ", ".join(sorted(EXTRACTORS_BY_SUFFIX))
        raise UnsupportedFormat(
            f"{key}: unsupported format {suffix or content_type or '(none)'}; supported: {supported}"
        )
    if not body:
        raise UnreadableDocument(f"{key} is empty (0 bytes)")
    document = extractor(body, key)
    if not any(section.text.strip() for section in document.sections):
        raise UnreadableDocument(f"{key} contains no extractable text")
    return document
