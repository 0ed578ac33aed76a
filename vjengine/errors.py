"""Errors that reach the user as one line, never as a traceback."""


class VJError(Exception):
    """A user-facing problem: the message says what was wrong and what to do."""


class ModelError(VJError):
    """A model spec or model file that cannot be loaded."""
