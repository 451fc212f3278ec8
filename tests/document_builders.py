"""Documents built in code for the extraction tests: real PDFs and Word files, whole or damaged on purpose."""

from __future__ import annotations

import io
import zipfile

import docx
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject, NumberObject


def _pdf_bytes(writer: PdfWriter) -> bytes:
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _text_pdf_writer(pages: list[str]) -> PdfWriter:
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
    return writer


def pdf_with_text(pages: list[str]) -> bytes:
    """A real PDF with one text line per page, written with pypdf's own primitives."""
    return _pdf_bytes(_text_pdf_writer(pages))


def encrypted_pdf(pages: list[str], user_password: str) -> bytes:
    """A text PDF encrypted with pypdf; an empty user password restricts permissions but opens without one."""
    writer = _text_pdf_writer(pages)
    writer.encrypt(user_password=user_password, owner_password="owner-secret")
    return _pdf_bytes(writer)


def scanned_pdf(page_count: int) -> bytes:
    """Pages that only paint an image, as a scanner writes them: no text layer at all."""
    writer = PdfWriter()
    for _ in range(page_count):
        page = writer.add_blank_page(width=612, height=792)
        image = DecodedStreamObject()
        image.set_data(bytes([0x80]) * 16)
        image.update(
            {
                NameObject("/Type"): NameObject("/XObject"),
                NameObject("/Subtype"): NameObject("/Image"),
                NameObject("/Width"): NumberObject(4),
                NameObject("/Height"): NumberObject(4),
                NameObject("/ColorSpace"): NameObject("/DeviceGray"),
                NameObject("/BitsPerComponent"): NumberObject(8),
            }
        )
        content = DecodedStreamObject()
        content.set_data(b"q 612 0 0 792 0 0 cm /Scan Do Q")
        page[NameObject("/Contents")] = writer._add_object(content)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/XObject"): DictionaryObject({NameObject("/Scan"): writer._add_object(image)})}
        )
    return _pdf_bytes(writer)


def docx_bytes(document: docx.document.Document) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def handbook_docx() -> bytes:
    """A Word document with a title, nested headings, a table with a merged cell and a list."""
    document = docx.Document()
    document.add_heading("Field handbook", 0)
    document.add_paragraph("Read this before your first shift.")
    document.add_heading("Install", 1)
    document.add_heading("Linux", 2)
    document.add_paragraph("Unpack the archive into /opt/fieldkit.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Port"
    table.cell(0, 1).text = "8443"
    table.cell(1, 0).merge(table.cell(1, 1)).text = "Open the port on the firewall"
    document.add_paragraph("Then start the service.", style="List Bullet")
    document.add_heading("Radio checks", 1)
    document.add_paragraph("Call the harbour master on channel 16 every four hours.")
    return docx_bytes(document)


def docx_with_broken_xml() -> bytes:
    """A well-formed ZIP package whose main document part is cut off in the middle of its XML."""
    whole = handbook_docx()
    damaged = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(whole)) as source, zipfile.ZipFile(damaged, "w") as target:
        for item in source.infolist():
            part = source.read(item.filename)
            target.writestr(item, part[: len(part) // 2] if item.filename == "word/document.xml" else part)
    return damaged.getvalue()
