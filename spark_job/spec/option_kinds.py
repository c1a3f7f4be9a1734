"""The value types of ``options:`` keys, and reading one options map against its keys.

Options arrive as text: ``parse_options`` turns YAML booleans into ``true``/``false`` and numbers
and lists into text. A :class:`Key` is one option the job acts on — its name, type, default and
a short description; :func:`read_keys` turns a map into typed values, naming ``path.key`` in
every error, and hands back the keys it does not know, untouched.

Example::

    values, rest = read_keys({"batchRows": "500", "x": "1"}, [BATCH_ROWS], "gcsSource.options")
    # values == {"batch_rows": 500}, rest == {"x": "1"}
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from spark_job.errors import UserError
from spark_job.spec.fields import did_you_mean, parse_flag


@dataclass(frozen=True)
class OptionType:
    """The values an option takes: ``describe`` for people; ``parse(text, path)`` for the job,
    returning the typed value, or None for "not set" (the key's default applies)."""

    describe: str
    parse: Callable[[str, str], Any]


FLAG = OptionType("true | false (any case)", parse_flag)


def integer(low: int = 1, high: int | None = None) -> OptionType:
    """An integer of at least ``low`` (and at most ``high``)."""
    if high is not None:
        expected = f"an integer {low}–{high}"
    elif low in (0, 1):
        expected = "a positive integer" if low else "a non-negative integer"
    else:
        expected = f"an integer of at least {low}"

    def parse(text: str, path: str) -> int:
        try:
            number = int(text)
        except ValueError:
            number = low - 1
        if number < low or (high is not None and number > high):
            raise UserError(f"{path}: expected {expected}, got '{text}'.")
        return number

    return OptionType(expected.split(" ", 1)[1], parse)


POSITIVE_INT = integer(1)
NON_NEGATIVE_INT = integer(0)


def choice(*allowed: str) -> OptionType:
    """One of ``allowed``, any case; the value is given back spelt as in ``allowed``."""

    def parse(text: str, path: str) -> str:
        wanted = text.strip().lower()
        for value in allowed:
            if value.lower() == wanted:
                return value
        raise UserError(
            f"{path}: '{text}' is not one of {', '.join(allowed)}."
            f"{did_you_mean(text.strip(), list(allowed))}"
        )

    return OptionType(" | ".join(allowed), parse)


def _text(text: str, path: str) -> str | None:
    return text.strip() or None


def _verbatim(text: str, path: str) -> str:
    return text


def _lower_text(text: str, path: str) -> str | None:
    return text.strip().lower() or None


#: Text, blanks around it dropped; empty means "not set".
TEXT = OptionType("string", _text)
#: Text exactly as written (an empty string is a value).
VERBATIM = OptionType("string, as written", _verbatim)
#: A codec name as Spark's writers take it (lower case); empty means "not set".
CODEC = OptionType("codec name (Spark's)", _lower_text)
#: Spark DDL of a schema, kept as text (checked by Spark when the input is read).
DDL = OptionType("Spark DDL, e.g. 'id long, x double'", _text)


def comma_list(most: int | None = None, why: str = "") -> OptionType:
    """Comma-separated names (a YAML list is joined with commas), blanks dropped."""

    def parse(text: str, path: str) -> tuple[str, ...]:
        names = tuple(part.strip() for part in text.split(",") if part.strip())
        if most is not None and len(names) > most:
            raise UserError(f"{path}: {why or f'at most {most} names'}; got {len(names)}.")
        return names

    return OptionType("comma-separated list", parse)


def character(tab_escape: bool = False) -> OptionType:
    """One character (``\\t`` written as two characters means a tab when ``tab_escape``)."""

    def parse(text: str, path: str) -> str | None:
        if not text:
            return None
        value = "\t" if tab_escape and text == "\\t" else text
        if len(value) != 1:
            raise UserError(f"{path}: expected one character, got '{text}'.")
        return value

    return OptionType("one character", parse)


def _encoding(text: str, path: str) -> str | None:
    name = text.strip()
    if not name:
        return None
    try:
        codecs.lookup(name)
    except LookupError:
        raise UserError(f"{path}: unknown text encoding '{text}'.") from None
    return name


ENCODING = OptionType("text encoding, e.g. utf-8", _encoding)


@dataclass(frozen=True)
class Key:
    """One option the job acts on: ``name`` as spelt in the spec, ``attr`` the typed value's
    attribute, ``default`` when not set, ``help`` a short description."""

    name: str
    attr: str
    type: OptionType
    default: Any
    help: str

    def read(self, options: Mapping[str, str], path: str) -> Any:
        """This key's typed value in ``options`` (``path`` is e.g. ``bigquerySink.options``)."""
        text = options.get(self.name)
        value = None if text is None else self.type.parse(text, f"{path}.{self.name}")
        return self.default if value is None else value


def read_keys(
    options: Mapping[str, str], keys: Iterable[Key], path: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """(typed values of ``keys`` by attribute, every other option untouched)."""
    keys = list(keys)
    values = {key.attr: key.read(options, path) for key in keys}
    names = {key.name for key in keys}
    return values, {name: text for name, text in options.items() if name not in names}


def refuse_unknown(
    rest: Mapping[str, str], allowed: Sequence[str], path: str, what: str, note: str = ""
) -> None:
    """UserError for the first key of ``rest`` (keys outside a closed set ``allowed``)."""
    for name in rest:
        names = sorted(allowed)
        raise UserError(
            f"{path}.{name}: not an option of {what}.{did_you_mean(name, names)}"
            f" Allowed: {', '.join(names) or 'none'}.{note}"
        )
