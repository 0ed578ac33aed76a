"""One tempo for the engine (`service.Tempo`): who sets `tempo.bpm` (Link, a MIDI clock, the music, taps,
a hand), the beat and bar phase every frame, quantised actions, Ableton Link, and LFOs in beats.

Nothing is imported here: the parameter registry reads the signal names of `phase` and `lfo`, and the
service itself needs the registry."""
