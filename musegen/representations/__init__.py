"""The registry of representations.

To add a representation, write a :class:`~musegen.representations.base.Representation`
subclass and add an entry to :data:`REPRESENTATIONS`.
"""

from __future__ import annotations

from musegen.errors import UsageError
from musegen.representations.abc import AbcRepresentation
from musegen.representations.audio import AudioRepresentation
from musegen.representations.base import InputSpec, NoSettings, OutputSpec, Representation, SamplingPlan
from musegen.representations.midi import MidiRepresentation
from musegen.representations.score import ScoreRepresentation

REPRESENTATIONS: dict[str, type[Representation]] = {
    AbcRepresentation.name: AbcRepresentation,
    MidiRepresentation.name: MidiRepresentation,
    AudioRepresentation.name: AudioRepresentation,
    ScoreRepresentation.name: ScoreRepresentation,
    # add an entry here
}


def get_representation(name: str) -> type[Representation]:
    try:
        return REPRESENTATIONS[name]
    except KeyError:
        raise UsageError(f"unknown representation {name!r}; choose one of {', '.join(REPRESENTATIONS)}") from None


__all__ = ["REPRESENTATIONS", "InputSpec", "NoSettings", "OutputSpec", "Representation", "SamplingPlan",
           "get_representation"]
