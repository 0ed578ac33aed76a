"""Music in: an input (sound card, JACK, file) feeding an analysis thread that publishes the audio.* signals."""

from __future__ import annotations

from vjengine.audio.analyser import AudioAnalyser
from vjengine.audio.features import SIGNALS, Features, Settings
from vjengine.audio.inputs import AudioInput, describe_inputs, open_input

__all__ = ["SIGNALS", "AudioAnalyser", "AudioInput", "Features", "Settings", "describe_inputs", "open_input"]
