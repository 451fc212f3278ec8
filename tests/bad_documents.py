"""A catalogue of documents the platform must refuse, each with the exact reason it must give.

Every document is built here, in code: damaged and encrypted PDFs with pypdf, damaged Word files with python-docx
and zipfile, text in the wrong encoding. The unit suite extracts them; the integration suite uploads them.
"""

from __future__ import annotations

import gzip
import io
import re
import zipfile
from dataclasses import dataclass

from llmops.domain.errors import DocumentRejected, UnreadableDocument, UnsupportedFormat
from tests.document_builders import docx_with_broken_xml, encrypted_pdf, handbook_docx, pdf_with_text, scanned_pdf

PREFIX = "documents/bad/"
SCRIPT_SHELL_HTML = (
    b"<!doctype html><html><head><title>Dashboard</title><script>"
    + b"window.__STATE__ = {'tiles': []};" * 3000
    + b"</script></head><body><div id='root'>Loading...</div>"
    + b"<noscript>You need to enable JavaScript to run this app.</noscript></body></html>"
)


def _zip_without_word_document() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        package.writestr("[Content_Types].xml", "<Types/>")
        package.writestr("xl/workbook.xml", "<workbook/>")
    return buffer.getvalue()


@dataclass(frozen=True)
class BadInput:
    name: str
    body: bytes
    error: type[DocumentRejected]
    reason: str  # the message after the key; a regular expression when it starts with "re:"

    @property
    def key(self) -> str:
        return PREFIX + self.name

    def matches(self, message: str) -> bool:
        separator = "" if self.reason.startswith(":") else " "
        if self.reason.startswith("re:"):
            return re.fullmatch(re.escape(self.key + separator) + self.reason[3:], message) is not None
        return message == self.key + separator + self.reason


def _half(body: bytes) -> bytes:
    return body[: len(body) // 2]


BAD_INPUTS = [
    BadInput(
        "corrupt.pdf",
        b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R",
        UnreadableDocument,
        "is not a readable PDF: it is truncated (no %%EOF marker at its end); upload it again",
    ),
    BadInput(
        "truncated.pdf",
        _half(pdf_with_text(["The harbour closes at dusk."] * 3)),
        UnreadableDocument,
        "is not a readable PDF: it is truncated (no %%EOF marker at its end); upload it again",
    ),
    BadInput(
        "damaged.pdf",
        b"%PDF-1.4\nthis was a cross-reference table once\n%%EOF\n",
        UnreadableDocument,
        "re:is not a readable PDF: .+",
    ),
    BadInput(
        "page.pdf",
        b"<html><body>Saved from the browser with the wrong suffix</body></html>",
        UnreadableDocument,
        "is not a PDF: it does not start with a %PDF- header",
    ),
    BadInput(
        "encrypted.pdf",
        encrypted_pdf(["Salaries 2026"], user_password="hunter2"),
        UnreadableDocument,
        "is a password-protected PDF: upload it without a password",
    ),
    BadInput(
        "scanned.pdf",
        scanned_pdf(page_count=2),
        UnreadableDocument,
        "contains no extractable text (scanned PDF without a text layer?)",
    ),
    BadInput("empty.txt", b"", UnreadableDocument, "is empty (0 bytes)"),
    BadInput("empty.pdf", b"", UnreadableDocument, "is empty (0 bytes)"),
    BadInput("empty.docx", b"", UnreadableDocument, "is empty (0 bytes)"),
    BadInput("empty.csv", b"", UnreadableDocument, "is empty (0 bytes)"),
    BadInput("blank.md", b" \n\t\n", UnreadableDocument, "contains no extractable text"),
    BadInput(
        "binary.txt",
        bytes(range(256)) * 8,
        UnreadableDocument,
        "looks like binary data, not text (it contains NUL bytes)",
    ),
    BadInput(
        "diagram.md",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10",
        UnreadableDocument,
        "looks like binary data, not text: it is a PNG image",
    ),
    BadInput(
        "export.csv",
        gzip.compress(b"question,answer\nWhy?,Because.\n", mtime=0),
        UnreadableDocument,
        "looks like binary data, not text: it is a gzip archive: decompress it first",
    ),
    BadInput(
        "report.txt",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
        UnreadableDocument,
        "looks like binary data, not text: it is a PDF document: upload it with a .pdf suffix",
    ),
    BadInput(
        "latin1.txt",
        "Café crème at the harbour".encode("latin-1"),
        UnreadableDocument,
        "is not valid UTF-8 (byte 3): re-save it as UTF-8",
    ),
    BadInput(
        "latin1.csv",
        "question,answer\nOù est le phare ?,Au port.\n".encode("latin-1"),
        UnreadableDocument,
        "is not valid UTF-8 (byte 17): re-save it as UTF-8",
    ),
    BadInput(
        "utf16-no-bom.md",
        "# Tide tables\n\nHigh water at 06:12.\n".encode("utf-16-le"),
        UnreadableDocument,
        "looks like UTF-16 text without a byte order mark: re-save it as UTF-8 (or UTF-16 with a BOM)",
    ),
    BadInput(
        "dashboard.html",
        SCRIPT_SHELL_HTML,
        UnreadableDocument,
        "contains no extractable text: 99% of the page is script and it has 10 characters of readable text "
        "(a page rendered by JavaScript? save the rendered page or print it to PDF)",
    ),
    BadInput(
        "truncated.docx",
        _half(handbook_docx()),
        UnreadableDocument,
        "is a truncated or damaged DOCX (its ZIP directory is missing): upload it again",
    ),
    BadInput(
        "legacy.docx",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504),
        UnreadableDocument,
        "is a Word 97-2003 (.doc) or password-protected document, not a DOCX: save it as .docx without a password",
    ),
    BadInput(
        "notes.docx",
        b"These notes were saved as plain text.",
        UnreadableDocument,
        "is not a DOCX file (a DOCX is a ZIP package and this is not one)",
    ),
    BadInput(
        "workbook.docx",
        _zip_without_word_document(),
        UnreadableDocument,
        "is a ZIP file but not a Word document (it has no word/document.xml)",
    ),
    BadInput(
        "broken-xml.docx",
        docx_with_broken_xml(),
        UnreadableDocument,
        r"re:is a damaged DOCX: its XML is not well-formed \(.+\)",
    ),
    BadInput(
        "records.jsonl",
        b'{"question": "a", "answer": "b"}\n{"question": "c", "answer": "d"}\n{\'question\': "e"}\n{"text": "f"}\n',
        UnreadableDocument,
        "line 3 is not valid JSON (Expecting property name enclosed in double quotes at column 2): every line "
        "of a JSON Lines file must be one JSON value",
    ),
    BadInput(
        "unterminated.csv",
        b'question,answer\nWhere?,"Behind the lamp room\nWhen?,At noon.\n',
        UnreadableDocument,
        "is not a readable CSV (line 2): unexpected end of data",
    ),
    BadInput(
        "long-field.csv",
        b"question,answer\nWhy?," + b"x" * 200_000 + b"\n",
        UnreadableDocument,
        "is not a readable CSV (line 2): field larger than field limit (131072)",
    ),
    BadInput("header-only.csv", b"question,answer\n", UnreadableDocument, "has a header row but no data rows"),
    BadInput(
        "sheet.xlsx",
        b"PK\x03\x04",
        UnsupportedFormat,
        ": unsupported format .xlsx; supported: .csv, .docx, .htm, .html, .jsonl, .markdown, .md, .ndjson, "
        ".pdf, .text, .tsv, .txt",
    ),
]
