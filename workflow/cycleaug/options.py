"""Command-line options from dataclass fields: each default and its help live once, on the field.

A field declared with :func:`option` becomes ``--field-name`` (dashes for underscores, so the flag
is the config key's name): argparse takes its type and default from the field (:func:`add_options`),
the command builds the dataclass back from the parsed arguments (:func:`from_args`), and the
workflow's glue turns a config section into the same flags (:func:`command_line`). Booleans are
``--name/--no-name``, tuples take several values.
"""

from __future__ import annotations

import argparse
import math
import operator
import shlex
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, field, fields
from typing import Any

# The bounds a field may declare, in JSON schema's words: the config schema states the same bounds for the
# config key (tests/test_config.py checks that they agree), out_of_bounds checks them on the command line.
# Each: what a message says is expected, and the test a value must pass.
BOUNDS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "minimum": (">=", operator.ge),
    "exclusiveMinimum": (">", operator.gt),
    "exclusiveMaximum": ("<", operator.lt),
    "multipleOf": ("a multiple of", lambda value, limit: value % limit == 0),
}


def option(default: Any, help: str, bounds: Mapping[str, float] | None = None, **argparse_kwargs: Any) -> Any:
    """A dataclass field that is also a command-line option (``choices=``, ``type=``, ``aliases=`` ...), with
    the ``bounds`` its value must keep (keys of BOUNDS)."""
    unknown = set(bounds or {}) - set(BOUNDS)
    if unknown:
        raise ValueError(f"bounds {sorted(unknown)}: expected keys of {sorted(BOUNDS)}")
    return field(default=default, metadata={"help": help, "bounds": dict(bounds or {}), **argparse_kwargs})


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def field_flag(f: Field) -> str:
    """The field's option: ``--field-name``, or the ``flag=`` it declares (where the bare name would be
    ambiguous on its command line, e.g. FastConfig.auto as --fast-auto)."""
    return f.metadata.get("flag") or flag(f.name)


def field_default(f: Field) -> Any:
    return f.default if f.default is not MISSING else f.default_factory()


def option_fields(cls) -> list[Field]:
    return [f for f in fields(cls) if "help" in f.metadata]


def add_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls, skip: tuple[str, ...] = ()) -> None:
    for f in option_fields(cls):
        if f.name in skip:
            continue
        meta = dict(f.metadata)
        meta.pop("flag", None)
        meta.pop("bounds", None)
        aliases = meta.pop("aliases", ())
        default = field_default(f)
        kwargs: dict[str, Any] = {"default": default, "dest": f.name}
        if isinstance(default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        elif isinstance(default, tuple):
            kwargs.update(nargs="*", type=meta.pop("type", int), metavar=meta.pop("metavar", "N"))
        elif default is not None and "choices" not in meta:
            kwargs["type"] = type(default)
        kwargs.update(meta)
        parser.add_argument(field_flag(f), *aliases, **kwargs)


def from_args(cls, args: argparse.Namespace, **values: Any):
    """``cls`` from the parsed options named after its fields, plus ``values`` for the others."""
    found = {f.name: getattr(args, f.name) for f in option_fields(cls) if hasattr(args, f.name)}
    for name, value in found.items():
        if isinstance(value, list):
            found[name] = tuple(value)
    return cls(**found, **values)


def command_line(cls, values: Mapping[str, Any], skip: tuple[str, ...] = ()) -> list[str]:
    """The options of ``cls`` whose names are keys of ``values`` (a config section), as argv words."""
    words: list[str] = []
    for f in option_fields(cls):
        if f.name in skip or f.name not in values or values[f.name] is None:
            continue
        value = values[f.name]
        if isinstance(f.default, bool):
            words.append(field_flag(f) if value else "--no-" + field_flag(f)[2:])
        else:
            words += _value_words(field_flag(f), value)
    return words


def _value_words(option: str, value: Any) -> list[str]:
    """``option`` and its value(s): a list or tuple as several values, an empty one as nothing."""
    if isinstance(value, (list, tuple)):
        return [option, *map(str, value)] if value else []
    return [option, str(value)]


def out_of_bounds(obj) -> list[str]:
    """For each option field of the dataclass ``obj`` whose value is not a finite number where a float is
    expected, or breaks a declared bound: one message naming the flag, the value and what was expected."""
    problems = []
    for f in option_fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not math.isfinite(value):
            problems.append(f"{field_flag(f)} {value}: expected a finite number")
            continue
        for bound, limit in f.metadata["bounds"].items():
            expected, within = BOUNDS[bound]
            if not within(value, limit):
                problems.append(f"{field_flag(f)} {value}: expected {expected} {limit}")
    return problems


def flags(**values: Any) -> str:
    """The options a rule passes, as one shell string: ``name=value`` as ``--name value`` in the order given,
    a list or tuple as several values (an empty one: nothing), True as the bare flag; None and False pass nothing."""
    words: list[str] = []
    for name, value in values.items():
        if value is True:
            words.append(flag(name))
        elif value is not None and value is not False:
            words += _value_words(flag(name), value)
    return shell_words(words)


def shell_words(words: list[str]) -> str:
    return shlex.join(words)
