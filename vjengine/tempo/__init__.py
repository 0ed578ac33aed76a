"""One tempo for the engine: who sets `tempo.bpm` (Link, a MIDI clock, the music, taps, a hand), the
beat and bar phase every frame, Ableton Link, and LFOs that run in beats."""
