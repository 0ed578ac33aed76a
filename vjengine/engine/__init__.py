"""The live loop and its parts: sensing, the director, the renderer and the publisher (see `loop.py`)."""

from vjengine.engine.assemble import assemble_engine
from vjengine.engine.director import Director
from vjengine.engine.frame import Blend, Fade, FrameState
from vjengine.engine.loop import STAGES, Engine, EngineStats
from vjengine.engine.publisher import Overlay, Publisher
from vjengine.engine.renderer import Renderer
from vjengine.engine.sensing import Sensing, Stage

__all__ = [
    "STAGES",
    "Blend",
    "Director",
    "Engine",
    "EngineStats",
    "Fade",
    "FrameState",
    "Overlay",
    "Publisher",
    "Renderer",
    "Sensing",
    "Stage",
    "assemble_engine",
]
