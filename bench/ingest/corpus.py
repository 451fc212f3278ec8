"""The benchmark corpus: real public text read from disk at run time, and an object store that serves it.

The default corpus is the Python 3.11 library reference as HTML from Debian's `python3.11-doc` package (PSF
licence): the pages of `library/` in sorted file-name order, as many as it takes to reach `--max-mb` of HTML.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path

from llmops.domain.errors import DocumentNotFound
from llmops.domain.models import DocumentRef
from llmops.ports import CurrentVersion, StoredObject

DEFAULT_CORPUS_DIR = Path("/usr/share/doc/python3.11/html/library")
BUCKET = "bench-corpus"
INSTALL_HINT = (
    "The benchmark corpus is the Python 3.11 documentation as HTML from Debian's python3.11-doc package.\n"
    "Install it with:  sudo apt-get install -y python3.11-doc   (or run `make bench-ingest`, which does),\n"
    "or point --corpus-dir at another folder of .html, .md or .txt files."
)
SUFFIXES = (".html", ".htm", ".md", ".txt")


class CorpusMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class CorpusDocument:
    key: str  # the object key the pipelines see, e.g. "library/json.html"
    path: Path
    size: int


def select_corpus(directory: Path, max_mb: float) -> list[CorpusDocument]:
    """The files of `directory` in sorted name order, up to the first that brings the total to `max_mb` MB."""
    if not directory.is_dir():
        raise CorpusMissing(f"corpus folder {directory} does not exist.\n{INSTALL_HINT}")
    paths = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not paths:
        raise CorpusMissing(f"corpus folder {directory} holds no {', '.join(SUFFIXES)} files.\n{INSTALL_HINT}")
    budget = max_mb * 1_000_000
    selected: list[CorpusDocument] = []
    total = 0
    for path in paths:
        if total >= budget:
            break
        size = path.stat().st_size
        selected.append(CorpusDocument(key=f"{directory.name}/{path.name}", path=path, size=size))
        total += size
    return selected


class DiskObjectStore:
    """The ObjectStore port over files on disk: what S3 is to the deployed ingest function."""

    def __init__(self, documents: list[CorpusDocument]) -> None:
        self._paths = {document.key: document.path for document in documents}

    def _path(self, ref: DocumentRef) -> Path:
        path = self._paths.get(ref.key)
        if path is None or not path.is_file():
            raise DocumentNotFound(ref.key)
        return path

    def head_size(self, ref: DocumentRef) -> int:
        return self._path(ref).stat().st_size

    def current_version(self, bucket: str, key: str) -> CurrentVersion | None:
        path = self._paths.get(key)
        return CurrentVersion(version_id=None, etag=None, size=path.stat().st_size) if path and path.is_file() else None

    def get(self, ref: DocumentRef) -> StoredObject:
        path = self._path(ref)
        content_type, _ = mimetypes.guess_type(path.name)
        return StoredObject(body=path.read_bytes(), content_type=content_type, version_id=None, etag=None, tags=())


def document_ref(document: CorpusDocument) -> DocumentRef:
    # The size comes with the event in the deployed function, so the service does not ask the store for it.
    return DocumentRef(bucket=BUCKET, key=document.key, version_id="bench", size=document.size)
