"""Analysers turn camera frames into named signals (`motion.energy`, `hand.angle`, ...)."""

from vjengine.analysis.base import Analyser, AsyncAnalyser, Signals

__all__ = ["Analyser", "AsyncAnalyser", "Signals"]
