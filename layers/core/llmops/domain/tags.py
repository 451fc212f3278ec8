"""Document tags: labels a document's uploader gives it, for retrieval filters (`SearchFilters.tags`).

Tags come from the S3 user metadata of the object version (`x-amz-meta-tags: hr, policy`), not from S3 object
tagging: user metadata is fixed for the life of a version, so tags change only with a new version, whose event
re-indexes the document. Object tags can be changed in place without any event that ingestion would see, which
would leave the index holding stale tags.
"""

from __future__ import annotations

import re

from llmops.domain.errors import DocumentRejected

METADATA_KEY = "tags"
MAX_TAG_CHARS = 64
_TAG = re.compile(r"[a-z0-9_.:=/-]{1,64}")


class InvalidTags(DocumentRejected):
    pass


def is_valid_tag(tag: str) -> bool:
    return _TAG.fullmatch(tag) is not None


def parse_tags(raw: str | None) -> tuple[str, ...]:
    """Comma-separated tags, trimmed, lower-cased and de-duplicated in order of first appearance.

    Raises InvalidTags naming the first tag that is not 1 to 64 characters of a-z, 0-9 and `_ . : = / -`.
    """
    if raw is None or not raw.strip():
        return ()
    tags: list[str] = []
    for piece in raw.split(","):
        tag = piece.strip().lower()
        if not is_valid_tag(tag):
            shown = repr(piece.strip()) if piece.strip() else "an empty tag"
            raise InvalidTags(
                f"metadata '{METADATA_KEY}' holds {shown}: each comma-separated tag must be 1 to {MAX_TAG_CHARS} "
                "characters of a-z, 0-9 and _ . : = / -"
            )
        if tag not in tags:
            tags.append(tag)
    return tuple(tags)
