"""S3 event sequencers: which of two changes to the same key happened later.

S3 gives every PUT and DELETE event a `sequencer`, a hexadecimal string. For the same key, the event with the
greater sequencer is the later change. Sequencers may differ in length: the shorter is compared as if
right-padded with zeros. Sequencers of different keys cannot be compared.
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmops.domain.models import Chunk

SEQUENCER_WIDTH = 32
"""Digits of a normalised sequencer: S3's are 16 to 18 today; the margin leaves room for them to grow."""

_HEX_DIGITS = frozenset("0123456789ABCDEF")


def normalise_sequencer(sequencer: str | None) -> str | None:
    """`sequencer` as SEQUENCER_WIDTH upper-case hex digits, right-padded with zeros, so that plain string
    comparison (in Python, or in a DynamoDB condition expression) orders the changes to one key.

    None or an empty string (an event S3 did not stamp: a backfill, a hand-made message) is None. Raises
    ValueError for anything that is not hexadecimal, or has more significant digits than SEQUENCER_WIDTH.
    """
    if sequencer is None or not sequencer.strip():
        return None
    digits = sequencer.strip().upper()
    if not set(digits) <= _HEX_DIGITS:
        raise ValueError(f"S3 sequencer {sequencer!r} is not hexadecimal")
    # Trailing zeros are what padding adds anyway: dropping them changes no comparison.
    significant = digits.rstrip("0")
    if len(significant) > SEQUENCER_WIDTH:
        raise ValueError(f"S3 sequencer {sequencer!r} is longer than {SEQUENCER_WIDTH} digits")
    return significant.ljust(SEQUENCER_WIDTH, "0")


def is_older(sequencer: str | None, than: str | None) -> bool:
    """True when both sequencers are known and `sequencer` is a change to the key made before `than`.

    A change without a sequencer is never older: it is applied, as it was before changes were ordered.
    """
    mine, applied = normalise_sequencer(sequencer), normalise_sequencer(than)
    return mine is not None and applied is not None and mine < applied


REVISION_SEPARATOR = "/"
"""Between a revision's sequencer and its time: below every hex digit, so a revision of an unknown sequencer sorts
before any known one, and every revision of sequencer S sorts after S itself (see `revision`)."""


def revision(sequencer: str | None, at_ns: int) -> str:
    """The order of one index write among all writes of the same document's chunks, as a plain string.

    Chunks carry the revision of the write that stored them. Revisions order first by the change's sequencer
    (normalised; None sorts first), then by when the write started (`at_ns`, nanoseconds), which settles two writes
    of the same change: a redelivery, a redrive, a re-chunking. So removing a document's chunks "below revision R"
    never touches a newer change's chunks.

    For any sequencer S, every revision of an older sequencer sorts below S, and every revision of S or a newer one
    sorts above S.
    """
    return f"{normalise_sequencer(sequencer) or ''}{REVISION_SEPARATOR}{at_ns:020d}"


def above_revisions_of(sequencer: str | None) -> str:
    """A bound that sorts above every revision of `sequencer` (and of older ones) and below those of newer ones."""
    return f"{normalise_sequencer(sequencer) or ''}{REVISION_SEPARATOR}~"  # "~" sorts after every digit


def single_revision(chunks: Sequence[Chunk]) -> str | None:
    """The one revision that the chunks of one index write share (None for no chunks)."""
    revisions = {chunk.revision for chunk in chunks}
    if len(revisions) > 1:
        raise ValueError(f"chunks of one index write must share one revision, got {sorted(revisions)}")
    return revisions.pop() if revisions else None
