"""Checks for settings and arguments, worded as AWS words them.

A wrong *type* gets botocore's client-side wording (``Invalid type for
parameter ...``), which is what a boto3 user sees; a value out of range gets
the service's wording (``1 validation error detected: Value '186' at
'retryPolicy.maximumRetryAttempts' failed to satisfy constraint: ...``).
Every check names the parameter.  Booleans are never taken for numbers.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

from ._exceptions import ValidationError

__all__ = ["ACCOUNT", "MAX_DELAY_SECONDS", "REGION", "Sealed", "check_bool", "check_callable", "check_datetime",
           "check_description", "check_instance", "check_int", "check_name", "check_seconds", "check_str",
           "out_of_range", "short", "wrong_type"]

REGION = r"[a-z]{2}(-[a-z]+)+-\d"  # an AWS region name, e.g. us-east-1
ACCOUNT = r"\d{12}"  # an AWS account id

# The longest delay a clock accepts (100 years): far beyond any AWS timer
# (24 h of retries, a year of schedules), well inside ``datetime``'s range.
MAX_DELAY_SECONDS = 100 * 366 * 86400


def short(value: object, limit: int = 80) -> str:
    """``str(value)``, cut to ``limit`` characters for messages (never raising:
    a huge ``int`` or an object whose ``__str__`` fails still gets a name)."""
    try:
        text = str(value)
    except ValueError:  # an int beyond Python's digit limit for str()
        text = f"<{type(value).__name__} of more than {sys.get_int_max_str_digits()} digits>"
    except Exception:
        text = f"<unprintable {type(value).__name__}>"
    text = text.encode("utf-8", "replace").decode("utf-8")  # no lone surrogates in messages
    return text if len(text) <= limit else text[: limit - 3] + "..."


STORE_OBJECT: Final = "a store object (such as SqliteStore(path))"


def check_not_class(name: str, value: object, wanted: str) -> None:
    """Refuse a class where an object is wanted (a ``runtime_checkable`` protocol check
    passes a class: its methods are attributes too)."""
    if isinstance(value, type):
        raise ValidationError(f"{name} must be {wanted}, not the class {value.__name__}")


def wrong_type(name: str, value: object, valid: str) -> ValidationError:
    """botocore's wording for a parameter of the wrong type."""
    return ValidationError(f"Invalid type for parameter {name}, value: {short(value)}, type: {type(value)}, "
                           f"valid types: {valid}")


def out_of_range(name: str, value: object, constraint: str) -> ValidationError:
    """The service's wording for a value that breaks a constraint."""
    return ValidationError(f"1 validation error detected: Value '{short(value)}' at '{name}' failed to satisfy "
                           f"constraint: {constraint}")


def check_description(name: str, value: object, max_length: int) -> str | None:
    """An optional description: ``None``, or text of at most ``max_length`` characters."""
    if value is None:
        return None
    text = check_str(name, value)
    if len(text) > max_length:
        raise out_of_range(name, text, f"Member must have length less than or equal to {max_length}")
    return text


def check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    """An ``int`` (not a ``bool``) in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise wrong_type(name, value, "<class 'int'>")
    if value < low:
        raise out_of_range(name, value, f"Member must have value greater than or equal to {low}")
    if high is not None and value > high:
        raise out_of_range(name, value, f"Member must have value less than or equal to {high}")
    return value


def _number(x: float) -> str:
    return str(int(x)) if x == int(x) else f"{x:g}"


def check_seconds(name: str, value: object, low: float = 0.0, high: float = MAX_DELAY_SECONDS) -> float:
    """A finite number of seconds (``int``, ``float`` or ``timedelta``) in ``[low, high]``."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise wrong_type(name, value, "<class 'int'>, <class 'float'>, <class 'datetime.timedelta'>")
    else:
        try:
            seconds = float(value)
        except OverflowError:  # an int too large for a float
            seconds = math.inf if value > 0 else -math.inf
    if math.isnan(seconds):
        raise out_of_range(name, value, "Member must be a number")
    if seconds < low:
        raise out_of_range(name, value, f"Member must have value greater than or equal to {_number(low)}")
    if seconds > high:
        raise out_of_range(name, value, f"Member must have value less than or equal to {_number(high)}")
    return seconds


def check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise wrong_type(name, value, "<class 'bool'>")
    return value


def check_str(name: str, value: object) -> str:
    """A ``str`` of valid Unicode (no lone surrogates)."""
    if not isinstance(value, str):
        raise wrong_type(name, value, "<class 'str'>")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise out_of_range(name, value, "Member must be valid Unicode text") from None
    return value


def check_callable(name: str, value: object) -> Callable[..., Any]:
    if not callable(value):
        raise wrong_type(name, value, "a callable")
    return value


def check_instance(name: str, value: object, cls: type[Any] | tuple[type[Any], ...], valid: str) -> Any:
    if not isinstance(value, cls):
        raise wrong_type(name, value, valid)
    return value


def check_datetime(name: str, value: object) -> datetime:
    if not isinstance(value, datetime):
        raise wrong_type(name, value, "<class 'datetime.datetime'>")
    return value


def check_name(name: str, value: object, pattern: str, max_length: int | None = None) -> str:
    """A name matching ``pattern`` (AWS's regular expression), 1 to ``max_length`` characters."""
    if not isinstance(value, str):
        raise wrong_type(name, value, "<class 'str'>")
    if not value:
        raise out_of_range(name, value, "Member must have length greater than or equal to 1")
    if max_length is not None and len(value) > max_length:
        raise out_of_range(name, value, f"Member must have length less than or equal to {max_length}")
    if not re.fullmatch(pattern, value):
        raise out_of_range(name, value, f"Member must satisfy regular expression pattern: {pattern}")
    return value


class Sealed:
    """Settings are checked once, at construction, and read-only after it."""

    _sealed = False

    def __setattr__(self, name: str, value: Any) -> None:
        if self._sealed and not name.startswith("_"):
            kind = type(self).__name__
            if not hasattr(self, name):
                raise AttributeError(f"{kind} has no setting {name!r} (and settings are read-only once built)")
            raise AttributeError(f"{kind}.{name} is read-only: settings are checked once, when the {kind} is "
                                 "built (build a new one to change it)")
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if self._sealed and not name.startswith("_"):
            raise AttributeError(f"{type(self).__name__}.{name} is read-only")
        super().__delattr__(name)
