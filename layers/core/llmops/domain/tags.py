"""Document tags: labels a document's uploader gives it, for retrieval filters (`SearchFilters.tags`).

Tags come from the S3 user metadata of the object version (`x-amz-meta-tags: hr, policy`), not from S3 object
tagging: user metadata is fixed for the life of a version, so tags change only with a new version, whose event
re-indexes the document. Object tags can be changed in place without any event that ingestion would see, which
would leave the index holding stale tags.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from llmops.domain.errors import DocumentRejected

METADATA_KEY = "tags"
MAX_TAG_CHARS = 64
TAG_RULE = f"1 to {MAX_TAG_CHARS} characters of a-z, 0-9 and _ . : = / -"
_TAG = re.compile(rf"[a-z0-9_.:=/-]{{1,{MAX_TAG_CHARS}}}")


class InvalidTags(DocumentRejected):
    pass


def normalise_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Trimmed, lower-cased and de-duplicated in order of first appearance, the one form tags are stored and
    filtered in. Raises InvalidTags naming the first tag that is not TAG_RULE."""
    normalised: list[str] = []
    for given in tags:
        tag = given.strip().lower()
        if _TAG.fullmatch(tag) is None:
            shown = repr(given.strip()) if given.strip() else "an empty tag"
            raise InvalidTags(f"{shown} is not a valid tag: each must be {TAG_RULE}")
        if tag not in normalised:
            normalised.append(tag)
    return tuple(normalised)


def parse_tags(raw: str | None) -> tuple[str, ...]:
    """The comma-separated tags of an object's user metadata, normalised (see normalise_tags).

    Empty items ("hr, policy," or "hr,,policy") are left out: they are how a list written by hand or joined by a
    script ends up, and no one means them as a tag. A filter's tags are a list the client built and get no such
    leniency (SearchFilters)."""
    if raw is None:
        return ()
    try:
        return normalise_tags(item for item in raw.split(",") if item.strip())
    except InvalidTags as invalid:
        raise InvalidTags(f"metadata '{METADATA_KEY}' (comma-separated tags): {invalid}") from None
