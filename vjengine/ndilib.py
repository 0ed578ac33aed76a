"""The NDI runtime, started once per process and shared by the NDI output and the NDI source.

ndi-python wraps the NDI SDK and its wheels carry the runtime; it is an optional dependency, so it is
imported only here, when NDI is first used.
"""

from __future__ import annotations

import threading
from typing import Any

from vjengine.errors import VJError

INSTALL_HINT = "pip install ndi-python (Python 3.11+ on Linux, Windows x64 or Apple-silicon macOS)"

# A cache that says so: the NDI runtime is loaded once per process and shared by every NDI source and output.
_runtime_lock = threading.Lock()
_runtime: Any = None


def ndi_runtime() -> Any:
    """The NDIlib module with the runtime started (once per process); VJError when it cannot start here."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            if why := ndi_missing():
                raise VJError(f"NDI is not available: {why}")
            import NDIlib

            if not NDIlib.initialize():
                raise VJError("the NDI runtime did not start: this CPU lacks the SSE4.2 it needs")
            _runtime = NDIlib
        return _runtime


def ndi_missing() -> str | None:
    """Why NDI cannot run here, in one line, or None."""
    try:
        import NDIlib  # noqa: F401
    except ImportError:
        return f"needs ndi-python: {INSTALL_HINT}"
    return None
