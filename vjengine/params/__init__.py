"""Parameters: declared once (`registry.REGISTRY`), held live in a thread-safe `ParamStore`."""

from vjengine.params.param import KINDS, Param, ParamError
from vjengine.params.registry import REGISTRY
from vjengine.params.store import ParamStore, Snapshot

__all__ = ["KINDS", "Param", "ParamError", "ParamStore", "REGISTRY", "Snapshot", "default_store"]


def default_store() -> ParamStore:
    """A store with every registered parameter at its default."""
    return ParamStore(REGISTRY)
