"""The pattern compiler: JSON tokens in, sub-rules out, AWS's checks on the way.

It reads the token stream in document order, as AWS's compiler does, so the
first problem in the text is the one reported, in AWS's words.  The result
is the pattern in disjunctive form: a tuple of *sub-rules*, each a mapping of
dotted field path to the matchers allowed there.  A sub-rule matches when
every one of its paths matches; the pattern matches when any sub-rule does.

``$or`` forks the sub-rules collected so far, once per branch; a path given
again (a repeated key, a dotted key naming the same path, or a branch naming
a path outside it) replaces the earlier matchers in the sub-rules it reaches,
which is what AWS does.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from .._exceptions import InvalidEventPatternError
from . import _json as J
from ._matchers import (
    AnythingBut,
    AnythingButIgnoreCase,
    AnythingButPrefix,
    AnythingButSuffix,
    AnythingButWildcard,
    BigNumber,
    Cidr,
    EqualsIgnoreCase,
    Exact,
    Exists,
    Matcher,
    Numeric,
    Prefix,
    Suffix,
    Wildcard,
    number_key,
    parse_ip,
)
from ._wildcard import MAX_COMPLEXITY, TOO_COMPLEX, WildcardSyntaxError, parse_wildcard, wildcard_complexity

__all__ = ["MAX_DEPTH", "MAX_RULE_FIELDS", "MAX_SUBRULES", "SubRule", "compile_match_expression", "compile_tokens"]

SubRule = dict[str, tuple[Matcher, ...]]

# How deep objects may nest in a pattern.  AWS documents no figure (its
# 4096-character limit allows about 680 levels); this bound keeps compiling
# within Python's recursion limit, far beyond any real pattern.
MAX_DEPTH = 200

# How many sub-rules one pattern may expand to through nested "$or".  AWS
# documents no figure; this keeps one pattern from exhausting memory.
MAX_SUBRULES = 4096

# AWS's matcher refuses a rule (one $or branch, with the fields it inherits)
# that names more fields than this.
MAX_RULE_FIELDS = 256

_MASK = re.compile(r"[+-]?[0-9]+")  # what Java's Integer.parseInt reads (ASCII digits)

_RESERVED_IN_OR = frozenset({
    "exactly", "equals-ignore-case", "prefix", "suffix", "anything-but", "exists", "wildcard", "numeric",
    "cidr", "html", "=", "<", "<=", ">", ">=", "regex", "not-wildcard", "not-equals-ignore-case",
    "date-after", "date-on-or-after", "date-before", "date-on-or-before", "in-date-range",
    "ip-address-in-range", "ip-address-not-in-range",
})


class _Compiler:
    __slots__ = ("depth", "tokens")

    def __init__(self, tokens: J.TokenSource) -> None:
        self.tokens = tokens
        self.depth = 0  # objects open, "$or" branches included

    def fail(self, reason: str) -> InvalidEventPatternError:
        return InvalidEventPatternError(reason, location=self.tokens.location())

    def next(self) -> J.Token:
        return self.tokens.next()

    def double(self, number: tuple[Any, str]) -> float:
        """A number token's value where it must be compared as a double (ranges,
        anything-but): AWS's matcher refuses a number no double holds."""
        key = number_key(number[0])
        if key is None:
            raise self.fail(f"Cannot compare number : {number[1]}")
        return key

    @staticmethod
    def exact_number(number: tuple[Any, str]) -> Exact:
        """An exact numeric value: compared as a double if one holds it, else by its text."""
        if number_key(number[0]) is None:
            return Exact(number[0] if type(number[0]) is BigNumber else BigNumber(number[1]))
        return Exact(number[0])

    # -- structure ---------------------------------------------------------
    def compile(self) -> list[SubRule]:
        if self.next()[0] != J.START_OBJECT:
            raise self.fail("Filter is not an object")
        rules: list[SubRule] = []
        self.parse_object(rules, (), inside_or=False)
        end = self.next()
        if end[0] != J.EOF:  # only a tree source can get here: text sources refuse trailing data
            raise self.fail("Filter is not an object")
        return rules

    def parse_object(self, rules: list[SubRule], path: tuple[str, ...], *, inside_or: bool) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"Pattern objects nest deeper than {MAX_DEPTH} levels")
        fields_present = False
        while True:
            kind, name = self.next()
            if kind == J.END_OBJECT:
                break
            fields_present = True
            if name == "$or":
                self.parse_or(rules, path)
                continue
            if inside_or and name in _RESERVED_IN_OR:
                raise self.fail(f"{name} is Ruler reserved fieldName which cannot be used inside $or.")
            kind, _ = self.next()
            if kind == J.START_OBJECT:
                self.parse_object(rules, (*path, name), inside_or=inside_or)
            elif kind == J.START_ARRAY:
                self.write_rules(rules, ".".join((*path, name)))
            else:
                raise self.fail(f'"{name}" must be an object or an array')
        if not fields_present:
            raise self.fail("Empty objects are not allowed")
        self.depth -= 1

    def parse_or(self, rules: list[SubRule], path: tuple[str, ...]) -> None:
        current = [dict(rule) for rule in rules]
        rules.clear()
        if self.next()[0] != J.START_ARRAY:
            raise self.fail("It must be an Array followed with $or.")
        branches = 0
        while True:
            kind, _ = self.next()
            if kind == J.END_ARRAY:
                break
            branches += 1
            if kind != J.START_OBJECT:
                raise self.fail("Only JSON object is allowed in array of $or relationship.")
            forked = [dict(rule) for rule in current] or [{}]
            self.parse_object(forked, path, inside_or=True)
            rules.extend(forked)
            if len(rules) > MAX_SUBRULES:
                raise self.fail(f"$or combinations exceed {MAX_SUBRULES} match branches; "
                                "split the pattern into several rules")
        if branches < 2:
            raise self.fail("There must have at least 2 Objects in $or relationship.")

    def write_rules(self, rules: list[SubRule], name: str) -> None:
        values: list[Matcher] = []
        while True:
            token = self.next()
            kind, value = token
            if kind == J.END_ARRAY:
                break
            if kind == J.START_OBJECT:
                values.append(self.match_expression())
            elif kind == J.STRING:
                values.append(Exact(value))
            elif kind == J.NUMBER:
                values.append(self.exact_number(value))
            elif kind == J.NULL:
                values.append(Exact(None))
            elif kind == J.TRUE:
                values.append(Exact(True))
            elif kind == J.FALSE:
                values.append(Exact(False))
            else:
                raise self.fail("Match value must be String, number, true, false, or null")
        if not values:
            raise self.fail("Empty arrays are not allowed")
        if not rules:
            rules.append({})
        matchers = tuple(values)
        for rule in rules:
            rule[name] = matchers

    # -- match expressions ---------------------------------------------------
    def expect_end(self, message: str = "Only one key allowed in match expression") -> None:
        if self.next()[0] != J.END_OBJECT:
            raise self.fail(message)

    def string_value(self, message: str) -> str:
        kind, value = self.next()
        if kind != J.STRING:
            raise self.fail(message)
        return str(value)

    def match_expression(self) -> Matcher:
        kind, op = self.next()
        if kind != J.FIELD_NAME:
            raise self.fail("Match expression name not found")
        if op == "exactly":
            text = self.string_value("exact match pattern must be a string")
            self.expect_end()
            return Exact(text)
        if op in ("prefix", "suffix"):
            kind, value = self.next()
            if kind == J.START_OBJECT:
                return self.affix_ignore_case(op)
            if kind != J.STRING:
                raise self.fail(f"{op} match pattern must be a string")
            self.expect_end()
            return Prefix(value) if op == "prefix" else Suffix(value)
        if op == "numeric":
            if self.next()[0] != J.START_ARRAY:
                raise self.fail("Value of numeric must be an array.")
            numeric = self.numeric()
            self.expect_end("Too many elements in numeric expression")
            return numeric
        if op == "anything-but":
            return self.anything_but()
        if op == "exists":
            kind, _ = self.next()
            if kind not in (J.TRUE, J.FALSE):
                raise self.fail("exists match pattern must be either true or false.")
            self.expect_end()
            return Exists(kind == J.TRUE)
        if op == "cidr":
            text = self.string_value("prefix match pattern must be a string")
            cidr = self.cidr(text)
            self.expect_end()
            return cidr
        if op == "equals-ignore-case":
            text = self.string_value("equals-ignore-case match pattern must be a string")
            self.expect_end()
            return EqualsIgnoreCase(text)
        if op == "wildcard":
            text = self.string_value("wildcard match pattern must be a string")
            try:
                segments = parse_wildcard(text)
            except WildcardSyntaxError as exc:
                raise self.fail(str(exc)) from None
            self.expect_end()
            return Wildcard(text, segments)
        raise self.fail(f"Unrecognized match type {op}")

    def affix_ignore_case(self, op: str) -> Matcher:
        kind, name = self.next()
        if kind != J.FIELD_NAME:
            raise self.fail(f"{op.capitalize()} expression name not found")
        if name != "equals-ignore-case":
            raise self.fail(f"Unsupported {op} pattern: {name}")
        text = self.string_value("equals-ignore-case match pattern must be a string")
        self.expect_end()
        self.expect_end()
        return Prefix(text, True) if op == "prefix" else Suffix(text, True)

    def numeric(self) -> Numeric:
        token = self.next()
        if token[0] != J.STRING:
            raise self.fail(f"Invalid member in numeric match: {J.token_text(token)}")
        operator = token[1]
        kind, value = self.next()
        if operator == "=":
            if kind != J.NUMBER:
                raise self.fail("Value of equals must be numeric")
            if self.next()[0] != J.END_ARRAY:
                raise self.fail("Too many elements in numeric expression")
            number = self.double(value)
            return Numeric(number, True, number, True)
        if operator in (">=", ">"):
            if kind != J.NUMBER:
                raise self.fail(f"Value of {operator} must be numeric")
            bottom = self.double(value)
            token = self.next()
            if token[0] == J.END_ARRAY:
                return Numeric(bottom, operator == ">=", None, False)
            if token[0] != J.STRING:
                raise self.fail(f"Bad value in numeric range: {J.token_text(token)}")
            upper_op = token[1]
            if upper_op not in ("<", "<="):
                raise self.fail(f"Bad numeric range operator: {upper_op}")
            kind, value = self.next()
            if kind != J.NUMBER:
                raise self.fail(f"Value of {upper_op} must be numeric")
            if self.next()[0] != J.END_ARRAY:
                raise self.fail("Too many terms in numeric range expression")
            top = self.double(value)
            if bottom >= top:  # (AWS's matcher: an empty or one-point range is refused, not left unmatched)
                raise self.fail("Bottom must be less than top")
            return Numeric(bottom, operator == ">=", top, upper_op == "<=")
        if operator in ("<=", "<"):
            if kind != J.NUMBER:
                raise self.fail(f"Value of {operator} must be numeric")
            if self.next()[0] != J.END_ARRAY:
                raise self.fail("Too many elements in numeric expression")
            return Numeric(None, False, self.double(value), operator == "<=")
        raise self.fail(f"Unrecognized numeric range operator: {operator}")

    def anything_but(self) -> Matcher:
        kind, value = self.next()
        sub = ""
        if kind == J.START_OBJECT:
            name_kind, name = self.next()
            if name_kind != J.FIELD_NAME:
                raise self.fail("Anything-But expression name not found")
            if name not in ("equals-ignore-case", "prefix", "suffix", "wildcard"):
                raise self.fail(f"Unsupported anything-but pattern: {name}")
            sub = name
            kind, value = self.next()
        if kind not in (J.START_ARRAY, J.STRING, J.NUMBER):
            raise self.fail("Value of anything-but must be an array or single string/number value.")
        if kind == J.START_ARRAY:
            matcher = self.anything_but_list(sub)
        else:
            matcher = self.anything_but_single(sub, kind, value)
        self.expect_end("Too many elements in numeric expression")
        if sub:
            self.expect_end("Too many elements in numeric expression")
        return matcher

    def _sub_type_error(self, sub: str) -> InvalidEventPatternError:
        if sub == "equals-ignore-case":
            return self.fail("Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.")
        if sub == "wildcard":
            return self.fail("wildcard match pattern must be a string")
        return self.fail("prefix/suffix match pattern must be a string")

    def anything_but_single(self, sub: str, kind: int, value: Any) -> Matcher:
        if not sub:
            if kind == J.STRING:
                return AnythingBut((value,))
            return AnythingBut((self.double(value),))
        if kind != J.STRING:
            raise self._sub_type_error(sub)
        return self.anything_but_set(sub, [value])

    def anything_but_list(self, sub: str) -> Matcher:
        strings: list[str] = []
        numbers: list[float] = []
        while True:
            kind, value = self.next()
            if kind == J.END_ARRAY:
                break
            if kind == J.STRING:
                if sub in ("prefix", "suffix") and value == "":
                    raise self.fail("Null prefix/suffix not allowed")
                strings.append(value)
            elif kind == J.NUMBER and not sub:
                numbers.append(self.double(value))
            elif not sub:
                raise self.fail("Inside anything but list, start|null|boolean is not supported.")
            else:
                raise self._sub_type_error(sub)
        if not sub:
            if bool(strings) == bool(numbers):
                raise self.fail("Inside anything but list, either all values are number or string, "
                                "mixed type is not supported")
            return AnythingBut(tuple(dict.fromkeys(strings))) if strings else AnythingBut(tuple(dict.fromkeys(numbers)))
        if not strings:  # AWS's matcher cannot use an empty set: refused, in the words for an empty value list
            raise self.fail("Empty arrays are not allowed")
        return self.anything_but_set(sub, strings)

    def anything_but_set(self, sub: str, values: list[str]) -> Matcher:
        unique = tuple(dict.fromkeys(values))
        if sub == "equals-ignore-case":
            return AnythingButIgnoreCase(unique)
        if sub in ("prefix", "suffix"):
            if "" in unique:
                raise self.fail("Null prefix/suffix not allowed")
            return AnythingButPrefix(unique) if sub == "prefix" else AnythingButSuffix(unique)
        segments = []
        for text in unique:
            try:
                segments.append(parse_wildcard(text))
            except WildcardSyntaxError as exc:
                raise self.fail(str(exc)) from None
        return AnythingButWildcard(unique, tuple(segments))

    def cidr(self, text: str) -> Cidr:
        parts = text.split("/")
        while len(parts) > 1 and parts[-1] == "":  # Java's split drops trailing empty strings
            parts.pop()
        if len(parts) != 2:
            raise self.fail("Malformed CIDR, one '/' required")
        # what Java's Integer.parseInt reads: a sign, digits, a value within an int
        # (leading zeros as many as you like: "0008" is 8)
        if not _MASK.fullmatch(parts[1]) or len(parts[1].lstrip("+-").lstrip("0")) > 10 \
                or not -2**31 <= int(parts[1]) < 2**31:
            raise self.fail("Malformed CIDR, mask bits must be an integer")
        mask = int(parts[1])
        if mask < 0:
            raise self.fail("Malformed CIDR, mask bits must not be negative")
        ip = parse_ip(parts[0])
        if ip is None:
            raise self.fail(f"Nonstandard IP address: {parts[0]}")
        bits, address = ip
        if bits == 32 and mask > 31:
            raise self.fail("IPv4 mask bits must be < 32")
        if bits == 128 and mask > 127:
            raise self.fail("IPv6 mask bits must be < 128")
        host = (1 << (bits - mask)) - 1
        low = address & ~host  # host bits set in the address are ignored: 10.1.2.3/8 is 10.0.0.0/8
        return Cidr(text, bits, low, low | host)


def compile_tokens(tokens: J.TokenSource, name: str | None = None) -> tuple[SubRule, ...]:
    """Compile a pattern's tokens to its sub-rules, with AWS's checks.

    ``name`` is the rule's name, where there is one: AWS's message for a rule
    with too many fields names it.
    """
    compiler = _Compiler(tokens)
    rules = compiler.compile()
    _check_complexity(rules)
    for rule in rules:
        if len(rule) > MAX_RULE_FIELDS:  # counted per sub-rule ($or branch), fields inherited included
            named = f" '{name}'" if name is not None else ""
            raise InvalidEventPatternError(f"Size of rule{named} exceeds max value of {MAX_RULE_FIELDS}")
    return tuple(rules)


def _check_complexity(rules: list[SubRule]) -> None:
    by_path: dict[str, dict[str, tuple[str, ...]]] = {}
    for rule in rules:
        for path, matchers in rule.items():
            for matcher in matchers:
                if isinstance(matcher, Wildcard) and len(matcher.segments) > 1:
                    by_path.setdefault(path, {})[matcher.value] = matcher.segments
    for patterns in by_path.values():
        if _too_complex(tuple(sorted(patterns.values()))):
            raise InvalidEventPatternError(TOO_COMPLEX)


@functools.lru_cache(maxsize=4096)
def _too_complex(patterns: tuple[tuple[str, ...], ...]) -> bool:
    """Remembered: many rules share their wildcards, and exploring them is the
    costliest step of compiling a pattern."""
    return wildcard_complexity(list(patterns)) > MAX_COMPLEXITY


def compile_match_expression(expression: Any) -> Matcher:
    """Compile one match expression given as a parsed value (for the factories)."""
    compiler = _Compiler(J.tree_tokens(expression))
    kind, value = compiler.next()
    if kind == J.START_OBJECT:
        matcher = compiler.match_expression()
    elif kind == J.STRING:
        matcher = Exact(value)
    elif kind == J.NUMBER:
        matcher = compiler.exact_number(value)
    elif kind in (J.TRUE, J.FALSE, J.NULL):
        matcher = Exact({J.TRUE: True, J.FALSE: False, J.NULL: None}[kind])
    else:
        raise compiler.fail("Match value must be String, number, true, false, or null")
    if compiler.next()[0] != J.EOF:
        raise compiler.fail("Only one key allowed in match expression")
    if isinstance(matcher, Wildcard) and _too_complex((matcher.segments,)):
        raise InvalidEventPatternError(TOO_COMPLEX)
    return matcher
