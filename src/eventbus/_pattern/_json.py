"""JSON tokens for the pattern compiler, with Jackson's error messages.

AWS compiles event patterns with a streaming JSON parser (Jackson) and
checks the pattern while it reads it, so the first problem in document order
wins, and malformed JSON surfaces Jackson's own message (``Unrecognized token
'this': was expecting ...``).  The compiler in ``_parse`` therefore reads a
stream of tokens.  Two sources feed it:

* ``tree_tokens`` walks an already parsed value (the fast path: the C
  ``json`` module parsed the text, or the caller passed a ``Mapping``);
* ``TextTokens`` scans JSON text itself and raises Jackson's messages.  It is
  used only when the ``json`` module refused the text, so that a pattern
  problem that comes before the syntax error is still reported first.

Objects parsed from text keep duplicate keys in order (``Pairs``): Jackson
hands every key to the compiler, and a repeated path overrides the earlier
one there, in document order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, cast

from .._exceptions import InvalidEventPatternError, ValidationError
from ._matchers import BigNumber, json_float

__all__ = [
    "EVENT_NOT_VALID",
    "MAX_EVENT_DEPTH",
    "END_ARRAY",
    "END_OBJECT",
    "EOF",
    "FALSE",
    "FIELD_NAME",
    "NULL",
    "NUMBER",
    "START_ARRAY",
    "START_OBJECT",
    "STRING",
    "TRUE",
    "Pairs",
    "TextTokens",
    "TokenSource",
    "load_pattern_text",
    "parse_event_text",
    "reject_constant",
    "token_text",
    "tree_tokens",
]

START_OBJECT, END_OBJECT, START_ARRAY, END_ARRAY = 1, 2, 3, 4
FIELD_NAME, STRING, NUMBER, TRUE, FALSE, NULL, EOF = 5, 6, 7, 8, 9, 10, 11

Token = tuple[int, Any]

_DIGITS = frozenset("0123456789")  # ASCII only: str.isdigit() accepts other scripts
_VALUE_LIST = "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')"


class Pairs(list[tuple[str, Any]]):
    """A JSON object as its (key, value) pairs, duplicates kept in order."""


EVENT_NOT_VALID = "Parameter Event is not valid."  # AWS's answer to any event it cannot read


def reject_constant(name: str) -> Any:
    """``NaN``, ``Infinity`` and ``-Infinity`` are not JSON: a ``json`` hook that refuses them."""
    raise ValueError(name)


def load_pattern_text(text: str) -> Any:
    """Parse JSON text with the C parser; objects become ``Pairs``.

    Raises ``ValueError`` for anything Jackson would refuse (including
    ``NaN``/``Infinity``, which the ``json`` module accepts by default).
    """
    return _PATTERN_DECODER.decode(text)


# Built once: json.loads(text, **hooks) builds a new decoder on every call.
# Fractions and exponents become a float, or a BigNumber when no double holds them.
_PATTERN_DECODER = json.JSONDecoder(object_pairs_hook=Pairs, parse_constant=reject_constant, parse_float=json_float)
# Event objects become tuples of (key, value) pairs: a repeated key keeps all its
# values, as AWS's streaming reader sees them (and tuple() costs no more than dict()).
_EVENT_DECODER = json.JSONDecoder(parse_constant=reject_constant, parse_float=json_float, object_pairs_hook=tuple)
_scan_event: Callable[[str, int], tuple[Any, int]] = _EVENT_DECODER.scan_once  # type: ignore[attr-defined]
_scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]


# PutEvents reads events nested up to this many levels of objects and arrays.
MAX_EVENT_DEPTH = 1000
_EVENT_TOO_DEEP = f"{EVENT_NOT_VALID} (nested deeper than {MAX_EVENT_DEPTH} levels)"


def parse_event_text(text: str | bytes | bytearray | memoryview) -> tuple[tuple[str, Any], ...]:
    """An event given as JSON text: must be a JSON object, nested at most
    ``MAX_EVENT_DEPTH`` levels, whatever the depth of the caller's stack.

    Objects come back as tuples of (key, value) pairs, in document order and
    with repeated keys kept (arrays are lists): the form ``flatten`` reads
    with ``pairs=True``.
    """
    if not isinstance(text, str):
        if not isinstance(text, (bytes, bytearray, memoryview)):
            raise ValidationError(EVENT_NOT_VALID)
        try:
            data = bytes(text)  # one copy (a memoryview, a bytearray)
            text = data.decode(json.detect_encoding(data), "surrogatepass")
        except (ValueError, TypeError):
            raise ValidationError(EVENT_NOT_VALID) from None
    try:
        try:  # the C scanner straight away: no whitespace to skip, the common case
            value, end = _scan_event(text, 0)
        except StopIteration:  # leading whitespace, or not JSON
            value = _EVENT_DECODER.decode(text)
        else:
            if end != len(text) and text[end:].strip(" \t\n\r"):
                raise ValueError("Extra data")
        # The C scanner's depth limit is the caller's remaining stack: check ours
        # (nesting deeper than the limit takes two characters a level).
        if (len(text) > 2 * MAX_EVENT_DEPTH and text.count("[") + text.count("{") > MAX_EVENT_DEPTH
                and _depth(text) > MAX_EVENT_DEPTH):
            raise ValidationError(_EVENT_TOO_DEEP)
    except RecursionError:  # deep text, or a deep caller: read it without recursion
        value = _parse_deep(text)
    except ValidationError:
        raise
    except (ValueError, TypeError):
        raise ValidationError(EVENT_NOT_VALID) from None
    if type(value) is not tuple:
        raise ValidationError(EVENT_NOT_VALID)
    return value


_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _depth(text: str) -> int:
    """How deep the objects and arrays of (valid) JSON text nest."""
    depth = deepest = 0
    for found in _STRUCTURE.finditer(text):
        ch = found.group()
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


_SPACE = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_WORDS = {"true": True, "false": False, "null": None}


def _parse_deep(text: str) -> Any:
    """JSON text read with an explicit stack (slow; for deeply nested events)."""
    try:
        return _parse_with_stack(text)
    except ValidationError:
        raise
    except (ValueError, IndexError, KeyError):
        raise ValidationError(EVENT_NOT_VALID) from None


def _parse_with_stack(text: str) -> Any:
    """The same result as the event decoder (objects as tuples of pairs)."""
    # stack entries: [pairs or items, key waiting for its value or None, is an object]
    stack: list[list[Any]] = []
    pos = _SPACE.match(text, 0).end()  # type: ignore[union-attr]
    while True:
        ch = text[pos]
        if ch == "{" or ch == "[":
            if len(stack) >= MAX_EVENT_DEPTH:
                raise ValidationError(_EVENT_TOO_DEEP)
            pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
            if ch == "{":
                if text[pos] == "}":
                    value: Any = ()
                    pos += 1
                else:
                    key, pos = _field_name(text, pos)
                    stack.append([[], key, True])
                    continue
            else:
                if text[pos] == "]":
                    value = []
                    pos += 1
                else:
                    stack.append([[], None, False])
                    continue
        elif ch == '"':
            value, pos = _scanstring(text, pos + 1)
        elif (number := _NUMBER.match(text, pos)) is not None:
            whole, fraction, exponent = number.groups()
            literal = number.group()
            value = json_float(literal) if fraction or exponent else int(whole)
            pos = number.end()
        else:
            word = text[pos:pos + 5] if text.startswith("false", pos) else text[pos:pos + 4]
            value = _WORDS[word]
            pos += len(word)
        # a value is complete: file it, then close what it completes
        while True:
            if not stack:
                if text[_SPACE.match(text, pos).end():]:  # type: ignore[union-attr]
                    raise ValueError("Extra data")
                return value
            top = stack[-1]
            items, key, is_object = top
            items.append((key, value) if is_object else value)
            pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
            ch = text[pos]
            if ch == ",":
                pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
                if is_object:
                    top[1], pos = _field_name(text, pos)
                break
            if ch != ("}" if is_object else "]"):
                raise ValueError("Expecting ',' or a closing bracket")
            stack.pop()
            value = tuple(items) if is_object else items
            pos += 1


def _field_name(text: str, pos: int) -> tuple[str, int]:
    """A field name and its colon at ``pos``; returns the name and where its value starts."""
    if text[pos] != '"':
        raise ValueError("Expecting property name")
    key, pos = _scanstring(text, pos + 1)
    pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
    if text[pos] != ":":
        raise ValueError("Expecting ':'")
    return key, _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]


def token_text(token: Token) -> str:
    """The text Jackson's ``getText()`` gives for a token (used in messages)."""
    kind, value = token
    if kind in (STRING, FIELD_NAME):
        return str(value)
    if kind == NUMBER:
        return str(value[1])
    return {
        START_OBJECT: "{",
        END_OBJECT: "}",
        START_ARRAY: "[",
        END_ARRAY: "]",
        TRUE: "true",
        FALSE: "false",
        NULL: "null",
        EOF: "null",
    }[kind]


class TokenSource:
    """A stream of tokens; ``location()`` says where the last one ended."""

    def next(self) -> Token:  # pragma: no cover - interface
        raise NotImplementedError

    def location(self) -> str | None:
        return None


def _number_token(value: int | float) -> Token:
    """A number with its JSON text (what ``json.dumps`` writes, without its overhead)."""
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidEventPatternError(f"Number {value!r} is out of range: numbers must be finite doubles")
        return (NUMBER, (value, float.__repr__(value)))
    try:
        return (NUMBER, (value, int.__repr__(value)))
    except ValueError:  # an int too long to print: no double holds it either
        raise InvalidEventPatternError("Number is too large: numbers must fit in a double") from None


_ERROR = 0  # a token standing for a problem found while walking (raised when read)


def _walk(value: Any) -> list[Token]:
    """All the tokens of ``value``, in document order, with an explicit stack.

    A value that is not JSON ends the list with an ``_ERROR`` token, raised
    only when the compiler reads that far: a problem earlier in the
    document is still reported first.
    """
    tokens: list[Token] = []
    emit = tokens.append
    # entries: (True, a token to emit) or (False, a value to walk)
    todo: list[tuple[bool, Any]] = [(False, value)]
    try:
        while todo:
            ready, value = todo.pop()
            if ready:
                emit(value)
                continue
            kind = type(value)
            if kind is str:
                emit((STRING, value))
            elif kind is Pairs:
                emit((START_OBJECT, None))
                todo.append((True, (END_OBJECT, None)))
                for key, item in reversed(value):
                    todo.append((False, item))
                    todo.append((True, (FIELD_NAME, key)))
            elif kind is list or kind is tuple:
                emit((START_ARRAY, None))
                todo.append((True, (END_ARRAY, None)))
                todo.extend([(False, item) for item in reversed(value)])
            elif value is True:
                emit((TRUE, None))
            elif value is False:
                emit((FALSE, None))
            elif value is None:
                emit((NULL, None))
            elif kind is int or kind is float:
                emit(_number_token(value))
            elif kind is BigNumber:
                emit((NUMBER, (value, value.text)))
            elif isinstance(value, Mapping):
                emit((START_OBJECT, None))
                todo.append((True, (END_OBJECT, None)))
                for key, item in reversed(list(value.items())):
                    todo.append((False, item))
                    if not isinstance(key, str):
                        todo.append((True, (_ERROR, InvalidEventPatternError(f"Field name {key!r} is not a string"))))
                    else:
                        todo.append((True, (FIELD_NAME, key)))
            elif isinstance(value, (list, tuple)):
                todo.append((False, list(value)))
            elif isinstance(value, str):
                emit((STRING, str.__str__(value)))
            elif isinstance(value, (int, float)):
                emit(_number_token(value))
            else:
                to_json = getattr(value, "to_json", None)
                if to_json is None:
                    raise InvalidEventPatternError(
                        f"{type(value).__name__} is not a JSON value (use str, int, float, bool, None, "
                        "list, Mapping or an eventbus matcher)"
                    )
                todo.append((False, to_json()))
    except InvalidEventPatternError as exc:
        emit((_ERROR, exc))
    return tokens


class _TreeTokens(TokenSource):
    __slots__ = ("_it",)

    def __init__(self, value: Any) -> None:
        self._it = iter(_walk(value))

    def next(self) -> Token:
        token = next(self._it, (EOF, None))
        if token[0] == _ERROR:
            raise cast(InvalidEventPatternError, token[1])
        return token


def tree_tokens(value: Any) -> TokenSource:
    """Tokens of an already parsed value (a ``Mapping``, ``Pairs``, list, scalar)."""
    return _TreeTokens(value)


def _char_desc(ch: str) -> str:
    code = ord(ch)
    if code < 32:
        return f"(CTRL-CHAR, code {code})"
    if code > 255:
        return f"'{ch}' (code {code} / 0x{code:x})"
    return f"'{ch}' (code {code})"


def _is_ident_part(ch: str) -> bool:
    return ch.isalnum() or ch in "_$"


class TextTokens(TokenSource):
    """A hand-written JSON scanner that fails the way Jackson does.

    Only used on text that the ``json`` module refused, so it favours
    faithful messages over speed.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        # Stack of (kind, start index); kind is "Object" or "Array".
        self.stack: list[tuple[str, int]] = []
        # What the next token may be: "value", "name", "after_value", "after_name"
        self.expect = "root"
        self.done = False

    # -- positions -------------------------------------------------------
    def _line_col(self, index: int) -> tuple[int, int]:
        line = self.text.count("\n", 0, index) + 1
        col = index - (self.text.rfind("\n", 0, index) + 1) + 1
        return line, col

    def _source(self, index: int) -> str:
        shown = self.text if len(self.text) <= 500 else self.text[:500] + f"[truncated {len(self.text) - 500} chars]"
        line, col = self._line_col(index)
        return f'[Source: (String)"{shown}"; line: {line}, column: {col}]'

    def location(self) -> str | None:
        return "at " + self._source(self.pos)

    def _fail(self, message: str, index: int | None = None) -> InvalidEventPatternError:
        where = self.pos if index is None else index
        return InvalidEventPatternError(message, location="at " + self._source(where))

    def _unexpected(self, ch: str, what: str) -> InvalidEventPatternError:
        return self._fail(f"Unexpected character ({_char_desc(ch)}): {what}", self.pos + 1)

    def _eof(self, what: str) -> InvalidEventPatternError:
        return self._fail(f"Unexpected end-of-input{what}")

    # -- scanning --------------------------------------------------------
    def _skip_ws(self) -> str | None:
        text, n = self.text, len(self.text)
        while self.pos < n:
            ch = text[self.pos]
            if ch in " \t\r\n":
                self.pos += 1
                continue
            if ch == "/" or ch == "#":
                raise self._unexpected(ch, "maybe a (non-standard) comment? (not recognized as one since "
                                           "Feature 'ALLOW_COMMENTS' not enabled for parser)")
            return ch
        return None

    def _close_marker_eof(self) -> InvalidEventPatternError:
        kind, start = self.stack[-1]
        return self._eof(f": expected close marker for {kind} (start marker at {self._source(start)})")

    def next(self) -> Token:
        if self.done:
            return (EOF, None)
        ch = self._skip_ws()
        if self.expect == "after_value":
            if not self.stack:
                # The root value is complete: anything after it is refused.
                if ch is None:
                    self.done = True
                    return (EOF, None)
                raise self._unexpected(ch, "expected end of input")
            kind, start = self.stack[-1]
            closer = "}" if kind == "Object" else "]"
            if ch is None:
                raise self._close_marker_eof()
            if ch == closer:
                return self._close()
            if ch in "}]":
                raise self._fail(
                    f"Unexpected close marker '{ch}': expected '{closer}' (for {kind} starting at "
                    f"{self._source(start)})", self.pos + 1)
            if ch != ",":
                raise self._unexpected(ch, f"was expecting comma to separate {kind} entries")
            self.pos += 1
            self.expect = "name" if kind == "Object" else "value"
            ch = self._skip_ws()
        if self.expect == "name" or self.expect == "first_name":
            if ch is None:
                raise self._close_marker_eof()
            if ch == "}" and self.expect == "first_name":
                return self._close()
            if ch != '"':
                raise self._unexpected(ch, "was expecting double-quote to start field name")
            name = self._string()
            ch = self._skip_ws()
            if ch is None:
                raise self._close_marker_eof()
            if ch != ":":
                raise self._unexpected(ch, "was expecting a colon to separate field name and value")
            self.pos += 1
            self.expect = "value"
            return (FIELD_NAME, name)
        # a value is expected ("root", "value" or "first_value")
        if ch is None:
            if not self.stack:
                self.done = True
                return (EOF, None)
            raise self._close_marker_eof()
        if ch == "]" and self.expect == "first_value":
            return self._close()
        return self._value(ch)

    def _close(self) -> Token:
        kind, _ = self.stack.pop()
        self.pos += 1
        self.expect = "after_value"
        return (END_OBJECT, None) if kind == "Object" else (END_ARRAY, None)

    def _value(self, ch: str) -> Token:
        if ch == "{":
            self.stack.append(("Object", self.pos))
            self.pos += 1
            self.expect = "first_name"
            return (START_OBJECT, None)
        if ch == "[":
            self.stack.append(("Array", self.pos))
            self.pos += 1
            self.expect = "first_value"
            return (START_ARRAY, None)
        self.expect = "after_value"
        if ch == '"':
            return (STRING, self._string())
        if ch == "-" or ch in _DIGITS:
            return self._number()
        if ch in "]}":
            raise self._unexpected(ch, "expected a value")
        if _is_ident_part(ch):
            word = self._word()
            literal = {"true": (TRUE, None), "false": (FALSE, None), "null": (NULL, None)}.get(word)
            if literal is not None:
                return literal
            if word in ("NaN", "Infinity"):
                raise self._fail(f"Non-standard token '{word}': enable `JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` "
                                 "to allow")
            raise self._fail(f"Unrecognized token '{word}': was expecting {_VALUE_LIST}")
        raise self._unexpected(ch, f"expected a valid value {_VALUE_LIST}")

    def _word(self) -> str:
        text, n, start = self.text, len(self.text), self.pos
        end = start
        while end < n and _is_ident_part(text[end]) and end - start < 256:
            end += 1
        self.pos = end
        return text[start:end]

    def _string(self) -> str:
        text, n = self.text, len(self.text)
        i = self.pos + 1
        out: list[str] = []
        while True:
            if i >= n:
                self.pos = i
                raise self._eof(": was expecting closing quote for a string value")
            ch = text[i]
            if ch == '"':
                self.pos = i + 1
                return "".join(out)
            if ch == "\\":
                if i + 1 >= n:
                    self.pos = i + 1
                    raise self._eof(" in character escape sequence")
                esc = text[i + 1]
                simple = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
                if esc in simple:
                    out.append(simple[esc])
                    i += 2
                    continue
                if esc == "u":
                    digits = text[i + 2:i + 6]
                    for k, d in enumerate(digits):
                        if d not in "0123456789abcdefABCDEF":
                            self.pos = i + 2 + k
                            raise self._unexpected(d, "expected a hex-digit for character escape sequence")
                    if len(digits) < 4:
                        self.pos = n
                        raise self._eof(" in character escape sequence")
                    out.append(chr(int(digits, 16)))
                    i += 6
                    continue
                self.pos = i + 1
                raise self._fail(f"Unrecognized character escape {_char_desc(esc)}", i + 2)
            if ord(ch) < 32:
                self.pos = i
                raise self._fail(f"Illegal unquoted character ({_char_desc(ch)}): has to be escaped using "
                                 "backslash to be included in string value", i + 1)
            out.append(ch)
            i += 1

    def _number(self) -> Token:
        text, n, start = self.text, len(self.text), self.pos
        i = start
        if text[i] == "-":
            i += 1
            if i >= n or text[i] not in _DIGITS:
                self.pos = i
                if i >= n:
                    raise self._eof(" in a Number value")
                raise self._unexpected(text[i], "in numeric value: expected digit (0-9) to follow minus sign, "
                                                "for valid numeric value")
        if text[i] == "0" and i + 1 < n and text[i + 1] in _DIGITS:
            self.pos = i + 1
            raise self._fail("Invalid numeric value: Leading zeroes not allowed")
        while i < n and text[i] in _DIGITS:
            i += 1
        is_float = False
        if i < n and text[i] == ".":
            is_float = True
            i += 1
            if i >= n or text[i] not in _DIGITS:
                self.pos = i
                if i >= n:
                    raise self._eof(" in a Number value")
                raise self._unexpected(text[i], "Decimal point not followed by a digit")
            while i < n and text[i] in _DIGITS:
                i += 1
        if i < n and text[i] in "eE":
            is_float = True
            i += 1
            if i < n and text[i] in "+-":
                i += 1
            if i >= n or text[i] not in _DIGITS:
                self.pos = i
                if i >= n:
                    raise self._eof(" in a Number value")
                raise self._unexpected(text[i], "Exponent indicator not followed by a digit")
            while i < n and text[i] in _DIGITS:
                i += 1
        self.pos = i
        literal = text[start:i]
        try:
            value: int | float | BigNumber = json_float(literal) if is_float else int(literal)
        except ValueError:  # more digits than Python converts
            raise self._fail("Number is too large: numbers must fit in a double") from None
        return (NUMBER, (value, literal))
