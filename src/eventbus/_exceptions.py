"""Exceptions raised by eventbus.

The tree::

    EventBusError                      base of every error eventbus raises on purpose
    └── ValidationError(ValueError)    a bad input: AWS would answer ValidationException
        └── InvalidEventPatternError   an event pattern AWS would refuse
                                       (InvalidEventPatternException)

Where AWS has words for an error, the message is AWS's text, so that a user
can search for it; otherwise it names the construct and where it was found.
"""

from __future__ import annotations

__all__ = ["EventBusError", "InvalidEventPatternError", "ValidationError"]


class EventBusError(Exception):
    """Base class of every error eventbus raises on purpose."""


class ValidationError(EventBusError, ValueError):
    """An input failed validation (AWS: ``ValidationException``)."""


class InvalidEventPatternError(ValidationError):
    """An event pattern is not valid (AWS: ``InvalidEventPatternException``).

    ``str(error)`` is AWS's message without the parser-location suffix that
    AWS appends, e.g. ``Event pattern is not valid. Reason: Empty arrays are
    not allowed``.  ``reason`` holds the text after ``Reason:``; ``location``
    holds a parser location in AWS's style (``at [Source: ...; line: L,
    column: C]``) for malformed JSON text, else ``None``.
    """

    def __init__(self, reason: str, *, location: str | None = None) -> None:
        self.reason = reason
        self.location = location
        super().__init__(f"Event pattern is not valid. Reason: {reason}")
