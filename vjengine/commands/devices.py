"""`vjengine devices`: what this machine offers the engine."""

from __future__ import annotations

import torch

from vjengine.audio import describe_inputs
from vjengine.outputs import backend_status
from vjengine.sources import list_cameras


def describe_devices() -> str:
    """Cameras that open, compute devices, MIDI ports, audio inputs and output backends, as text."""
    lines = ["cameras:"]
    cameras = list_cameras()
    lines += [f"  camera:{index}  {text}" for index, text in cameras] or ["  none opened"]
    lines.append("compute:")
    lines.append("  cpu")
    for i in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
        lines.append(f"  cuda:{i}  {torch.cuda.get_device_name(i)}")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        lines.append("  mps  Apple Metal")
    lines.append("MIDI ports:")
    lines += _midi_lines()
    lines.append("audio inputs (--audio INDEX, NAME or part of it; jack:PORT):")
    lines += describe_inputs()
    lines.append("outputs:")
    lines += [f"  {kind:<11} {status}" for kind, status in backend_status().items()]
    return "\n".join(lines)


def _midi_lines() -> list[str]:
    from vjengine.control.midi import MidiError, midi_ports

    try:
        inputs, outputs = midi_ports()
    except MidiError as exc:
        return [f"  unavailable: {exc}"]
    except Exception as exc:  # rtmidi raises SystemError when the OS has no MIDI service
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [f"  unavailable: {reason}"]
    lines = [f"  in   {name}" for name in inputs] + [f"  out  {name}" for name in outputs]
    return lines or ["  none"]
