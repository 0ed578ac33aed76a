"""vjengine: a headless, OSC/MIDI-controllable StyleGAN render engine for VJ rigs."""

__version__ = "0.1.0"
