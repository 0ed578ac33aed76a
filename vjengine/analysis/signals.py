"""Every analysis signal's name, collected from the analysers that declare them, so a binding or an OSC
signal pattern can be checked before the show rather than silently never acting."""

from __future__ import annotations

import difflib
import re

from vjengine.analysis import face, hands, measures, pose
from vjengine.audio.features import SIGNALS as AUDIO
from vjengine.errors import VJError
from vjengine.tempo.lfo import SIGNALS as LFOS
from vjengine.tempo.phase import SIGNALS as TEMPO

# One entry per name an analyser publishes; the camera's regions are numbered, so they are a pattern.
SIGNALS: tuple[str, ...] = (*measures.SIGNALS, *hands.REST, *face.REST, *pose.REST, *AUDIO, *TEMPO, *LFOS)
_REGION = re.compile(r"visual\.region\.\d+\.norm")
REGION_FORM = "visual.region.N.norm"


def is_signal(name: str) -> bool:
    """Whether some analyser publishes `name`."""
    return name in SIGNALS or _REGION.fullmatch(name) is not None


def check_signal(name: str) -> str:
    """`name` when an analyser publishes it; else a one-line VJError naming close matches."""
    if is_signal(name):
        return name
    close = difflib.get_close_matches(name, [*SIGNALS, "visual.region.0.norm"], n=3)
    hint = f"did you mean {', '.join(close)}?" if close else f"signals: {_families()}, {REGION_FORM}"
    raise VJError(f"unknown signal {name!r}; {hint} (docs/modulation.md lists them)")


def _families() -> str:
    return ", ".join(dict.fromkeys(name.split(".")[0] + ".*" for name in SIGNALS))
