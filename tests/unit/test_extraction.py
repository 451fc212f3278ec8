from __future__ import annotations

import io

import pytest
from pypdf import PdfWriter

from llmops.domain.errors import UnreadableDocument, UnsupportedFormat
from llmops.domain.extraction import extract


def _pdf_with_text(pages: list[str]) -> bytes:
    """A real PDF with one text line per page, written with pypdf's own primitives."""
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    font_ref = writer._add_object(font)
    for text in pages:
        page = writer.add_blank_page(width=612, height=792)
        stream = DecodedStreamObject()
        stream.set_data(f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode())
        page[NameObject("/Contents")] = writer._add_object(stream)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font_ref})}
        )
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_given_html_when_extracted_then_scripts_navigation_and_styles_are_gone() -> None:
    html = b"""<html><head><title>Guide</title><style>p{color:red}</style></head>
    <body><nav>Home | About</nav><main><h1>Install</h1><p>Run the installer.</p>
    <script>alert('x')</script></main><footer>(c) corp</footer></body></html>"""

    document = extract(html, "documents/guide.html")

    text = document.sections[0].text
    assert document.title == "Guide"
    assert "Run the installer." in text
    assert "alert" not in text and "Home | About" not in text and "color:red" not in text and "(c) corp" not in text


def test_given_markdown_when_extracted_then_title_is_its_first_heading() -> None:
    document = extract(b"# Release notes\n\nVersion 2 adds caching.\n", "documents/notes.md")

    assert document.title == "Release notes"
    assert "Version 2 adds caching." in document.sections[0].text


def test_given_pdf_when_extracted_then_each_page_keeps_its_number() -> None:
    document = extract(_pdf_with_text(["First page text", "Second page text"]), "documents/report.pdf")

    assert [(s.page, s.text) for s in document.sections] == [(1, "First page text"), (2, "Second page text")]


def test_given_corrupt_pdf_when_extracted_then_it_is_rejected_with_a_reason() -> None:
    with pytest.raises(UnreadableDocument, match="not a readable PDF"):
        extract(b"%PDF-1.7 this is not really a pdf", "documents/broken.pdf")


def test_given_binary_bytes_with_a_text_suffix_then_rejected_as_binary() -> None:
    with pytest.raises(UnreadableDocument, match="binary"):
        extract(b"\x00\x01\x02\x03 ELF", "documents/data.txt")


def test_given_latin1_text_then_rejected_with_the_offending_byte() -> None:
    with pytest.raises(UnreadableDocument, match="not valid UTF-8"):
        extract("café".encode("latin-1"), "documents/menu.txt")


def test_given_empty_file_then_rejected_as_having_no_text() -> None:
    with pytest.raises(UnreadableDocument, match="no extractable text"):
        extract(b"   \n", "documents/empty.txt")


def test_given_unknown_suffix_then_rejected_listing_supported_formats() -> None:
    with pytest.raises(UnsupportedFormat, match=r"\.xlsx.*supported: .*\.pdf"):
        extract(b"PK\x03\x04", "documents/sheet.xlsx")


def test_given_no_suffix_then_content_type_decides() -> None:
    document = extract(b"plain words", "documents/README", content_type="text/plain; charset=utf-8")

    assert document.sections[0].text == "plain words"
