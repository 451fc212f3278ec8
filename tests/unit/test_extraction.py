from __future__ import annotations

import pytest

from llmops.adapters.embedding.onnx_minilm import OnnxMiniLmEmbedder
from llmops.domain.chunking import Chunker
from llmops.domain.errors import UnreadableDocument, UnsupportedFormat
from llmops.domain.extraction import extract
from llmops.domain.models import Section
from tests.document_builders import encrypted_pdf, handbook_docx, pdf_with_text


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
    document = extract(pdf_with_text(["First page text", "Second page text"]), "documents/report.pdf")

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


def _labelled(sections: list[Section]) -> list[tuple[str | None, str]]:
    return [(section.label, section.text) for section in sections]


def test_given_markdown_with_nested_headings_when_extracted_then_each_section_carries_its_heading_path() -> None:
    markdown = b"""# Fieldkit

Fieldkit records tide readings.

## Install

### Linux

Unpack the archive.

```sh
# a comment in a code block, not a heading
./install.sh
```

## Usage
Run `fieldkit record`.
"""

    document = extract(markdown, "documents/fieldkit.md")

    assert document.title == "Fieldkit"
    assert _labelled(document.sections) == [
        ("Fieldkit", "# Fieldkit\n\nFieldkit records tide readings."),
        (
            "Fieldkit > Install > Linux",
            "### Linux\n\nUnpack the archive.\n\n```sh\n# a comment in a code block, not a heading\n./install.sh\n```",
        ),
        ("Fieldkit > Usage", "## Usage\nRun `fieldkit record`."),
    ]


def test_given_markdown_with_setext_headings_and_text_before_them_then_both_become_sections() -> None:
    markdown = b"Written for the night shift.\n\nLamp care\n=========\n\nWind the clockwork.\n"

    document = extract(markdown, "documents/lamp.md")

    assert document.title == "Lamp care"
    assert _labelled(document.sections) == [
        (None, "Written for the night shift."),
        ("Lamp care", "Lamp care\n=========\n\nWind the clockwork."),
    ]


def test_given_a_docx_when_extracted_then_headings_start_sections_and_table_cells_are_kept_in_order() -> None:
    document = extract(handbook_docx(), "documents/handbook.docx")

    assert document.title == "Field handbook"
    assert _labelled(document.sections) == [
        ("Field handbook", "Field handbook\n\nRead this before your first shift."),
        (
            "Field handbook > Install > Linux",
            "Linux\n\nUnpack the archive into /opt/fieldkit.\n\n"
            "Port | 8443\nOpen the port on the firewall\n\nThen start the service.",
        ),
        ("Field handbook > Radio checks", "Radio checks\n\nCall the harbour master on channel 16 every four hours."),
    ]


def test_given_a_faq_csv_when_extracted_then_each_row_is_one_section_named_by_its_line() -> None:
    csv_text = (
        "Question,ANSWER\n"
        'How do I reset the beacon?,"Hold the red button, then count to ten."\n'
        "\n"
        '"Where is the\nspare lamp?",In the cellar.\n'
        "What if the radio fails?,Light the flare.\n"
    )

    document = extract(csv_text.encode(), "documents/beacon-faq.csv")

    assert _labelled(document.sections) == [
        ("row 2", "Q: How do I reset the beacon?\nA: Hold the red button, then count to ten."),
        ("row 4", "Q: Where is the\nspare lamp?\nA: In the cellar."),
        ("row 6", "Q: What if the radio fails?\nA: Light the flare."),
    ]


def test_given_a_semicolon_faq_with_short_headers_and_an_extra_column_then_the_column_follows_the_answer() -> None:
    document = extract(b"q;a;topic\nIs the lamp on?;Yes, from dusk.;lamp\n", "documents/faq.csv")

    assert _labelled(document.sections) == [("row 2", "Q: Is the lamp on?\nA: Yes, from dusk.\ntopic: lamp")]


def test_given_a_csv_without_question_columns_then_each_row_lists_its_non_empty_columns() -> None:
    document = extract(b"keeper\tstation\tyears\nMorag\tSkerryvore\t12\nEwan\t\t3\n", "documents/keepers.tsv")

    assert _labelled(document.sections) == [
        ("row 2", "keeper: Morag\nstation: Skerryvore\nyears: 12"),
        ("row 3", "keeper: Ewan\nyears: 3"),
    ]


def test_given_json_lines_when_extracted_then_each_record_is_one_section_named_by_its_line() -> None:
    lines = [
        '{"question": "When is the lamp lit?", "answer": "At sunset."}',
        '{"prompt": "Name the lighthouse.", "completion": "Skerryvore"}',
        "",
        '{"id": 7, "text": "The lens turns once every ten seconds."}',
        '{"station": "Skerryvore", "height_m": 48, "staffed": false, "built": {"year": 1844}, "notes": null}',
    ]

    document = extract("\n".join(lines).encode(), "documents/records.jsonl")

    assert _labelled(document.sections) == [
        ("line 1", "Q: When is the lamp lit?\nA: At sunset."),
        ("line 2", "Q: Name the lighthouse.\nA: Skerryvore"),
        ("line 4", "The lens turns once every ten seconds."),
        ("line 5", "station: Skerryvore\nheight_m: 48\nstaffed: false\nbuilt.year: 1844"),
    ]


@pytest.mark.parametrize(
    "encoding",
    ["utf-16", "utf-16-le", "utf-16-be", "utf-8-sig"],
)
def test_given_text_with_a_byte_order_mark_then_it_is_decoded_without_it(encoding: str) -> None:
    body = "Ünïcode keepers' log".encode(encoding)
    if encoding in {"utf-16-le", "utf-16-be"}:  # these codecs write no BOM of their own
        body = "\ufeffÜnïcode keepers' log".encode(encoding)

    document = extract(body, "documents/log.txt")

    assert document.sections[0].text == "Ünïcode keepers' log"


def test_given_a_pdf_encrypted_without_a_user_password_then_it_is_read() -> None:
    document = extract(encrypted_pdf(["Permissions only"], user_password=""), "documents/restricted.pdf")

    assert [(s.page, s.text) for s in document.sections] == [(1, "Permissions only")]


@pytest.mark.parametrize(
    ("content_type", "expected_text"),
    [
        ("text/csv; charset=utf-8", "Q: Why?\nA: Because."),
        ("application/x-ndjson", "Q: Why?\nA: Because."),
        ("application/jsonl", "Q: Why?\nA: Because."),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "Field handbook"),
    ],
)
def test_given_no_suffix_then_the_new_content_types_pick_their_extractor(content_type: str, expected_text: str) -> None:
    body = {
        "text/csv; charset=utf-8": b"question,answer\nWhy?,Because.\n",
        "application/x-ndjson": b'{"question": "Why?", "answer": "Because."}\n',
        "application/jsonl": b'{"question": "Why?", "answer": "Because."}\n',
    }.get(content_type) or handbook_docx()

    document = extract(body, "documents/upload", content_type=content_type)

    assert document.sections[0].text.startswith(expected_text)


def test_given_a_faq_csv_when_chunked_then_there_is_one_chunk_per_row_named_by_its_row(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    rows = "\n".join(f"How many steps to gallery {n}?,There are {n * 37} steps to gallery {n}." for n in range(1, 6))
    document = extract(f"question,answer\n{rows}\n".encode(), "documents/steps.csv")

    chunks = Chunker(embedder.tokenizer, 250, 32, embedder.model_id).chunk(
        document, document_id="d", source_key="documents/steps.csv", version="v1"
    )

    assert [(chunk.section, chunk.text) for chunk in chunks] == [
        (f"row {n + 1}", f"Q: How many steps to gallery {n}?\nA: There are {n * 37} steps to gallery {n}.")
        for n in range(1, 6)
    ]


def test_given_html_declaring_its_charset_when_extracted_then_it_is_decoded_by_that_charset() -> None:
    html = '<html><head><meta charset="iso-8859-1"><title>Café</title></head><body><p>Crème brûlée</p></body></html>'

    document = extract(html.encode("latin-1"), "documents/menu.html")

    assert document.title == "Café"
    assert document.sections[0].text == "Crème brûlée"


def test_given_xhtml_with_an_xml_declaration_and_a_role_main_then_only_the_main_content_is_kept() -> None:
    html = (
        b'<?xml version="1.0" encoding="utf-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><body>'
        b'<div class="sidebar">Related pages</div><div role="main"><h1>Tides<a href="#t">\xc2\xb6</a></h1>'
        b"<p>High water at 06:12.</p><!-- draft: remove --></div></body></html>"
    )

    document = extract(html, "documents/tides.xhtml.html")

    assert document.sections[0].text == "Tides\nHigh water at 06:12."


def test_given_an_html_file_with_nothing_but_a_comment_then_it_is_rejected_as_having_no_text() -> None:
    with pytest.raises(UnreadableDocument, match=r"documents/empty\.html contains no extractable text"):
        extract(b"  <!-- nothing -->  ", "documents/empty.html")
