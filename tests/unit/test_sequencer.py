"""S3 sequencers in comparable form: AWS's rule (right-pad the shorter with zeros, compare as hex) as plain strings."""

from __future__ import annotations

import pytest

from llmops.domain.sequencer import SEQUENCER_WIDTH, is_older, normalise_sequencer


def test_a_sequencer_is_upper_case_and_right_padded_to_a_fixed_width() -> None:
    normalised = normalise_sequencer("617f08299329d189")

    assert normalised == "617F08299329D189" + "0" * (SEQUENCER_WIDTH - 16)
    assert normalise_sequencer(normalised) == normalised


def test_sequencers_of_different_lengths_order_as_if_the_shorter_were_padded_with_zeros() -> None:
    # Given S3 sequencers of 16 and 18 digits
    shorter, longer = "617F08299329D189", "617F08299329D18901"

    # Then the longer is later by its extra digits, and trailing zeros alone make no difference
    assert normalise_sequencer(shorter) < normalise_sequencer(longer)
    assert normalise_sequencer(shorter) == normalise_sequencer(shorter + "00")
    assert normalise_sequencer("1") == normalise_sequencer("10")
    assert normalise_sequencer("0FF") < normalise_sequencer("1")


def test_case_does_not_change_the_order() -> None:
    # Raw strings would order "a" after "B" (0x61 > 0x42); as hex digits A comes before B
    assert "a" > "B"
    assert normalise_sequencer("00a1") < normalise_sequencer("00B1")
    assert normalise_sequencer("00a1") == normalise_sequencer("00A1")


def test_missing_or_empty_sequencers_are_none() -> None:
    assert normalise_sequencer(None) is None
    assert normalise_sequencer("") is None
    assert normalise_sequencer("  ") is None


@pytest.mark.parametrize("bad", ["not-hex", "12 34", "0x12", "1" * (SEQUENCER_WIDTH + 1)])
def test_a_sequencer_that_cannot_be_ordered_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="sequencer"):
        normalise_sequencer(bad)


def test_a_long_sequencer_whose_extra_digits_are_zeros_is_accepted() -> None:
    assert normalise_sequencer("A" + "0" * (SEQUENCER_WIDTH + 4)) == "A" + "0" * (SEQUENCER_WIDTH - 1)


def test_only_a_known_earlier_sequencer_is_older() -> None:
    assert is_older("617f08299329d188", than="617F08299329D189")
    assert not is_older("617F08299329D189", than="617f08299329d189")
    assert not is_older("617F08299329D18A", than="617F08299329D189")
    assert not is_older(None, than="617F08299329D189")
    assert not is_older("617F08299329D189", than=None)
