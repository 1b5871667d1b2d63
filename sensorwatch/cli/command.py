"""A command declared once: its name, help, options and handler side by side.

Each module of ``sensorwatch.cli`` keeps a ``CommandGroup`` and declares its commands with
``@group.command(name, help, *options)`` right above the handler. A handler takes the
profile's ``Settings`` and its options as typed keyword arguments (the options' ``dest``
names) and returns the exit code. A name with a space (``"model promote"``) puts the
command under its group (``sensorwatch model promote VERSION``): argparse then checks the
sub-action and its arguments, not the handler.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[..., int]


@dataclass(frozen=True)
class Option:
    """One ``add_argument`` call, kept until the parser is built."""

    flags: tuple[str, ...]
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class OneOf:
    """Options of which exactly one (``required``) or at most one must be given."""

    options: tuple[Option, ...]
    required: bool = True


def arg(*flags: str, **kwargs: Any) -> Option:
    return Option(flags, kwargs)


def one_of(*options: Option, required: bool = True) -> OneOf:
    return OneOf(options, required)


@dataclass(frozen=True)
class Command:
    name: str  # "ingest", or "model promote" under the group "model"
    help: str
    options: tuple[Option | OneOf, ...]
    handler: Handler


@dataclass
class CommandGroup:
    """The commands one module of the CLI declares, and the help of its nested groups."""

    commands: list[Command] = field(default_factory=list)
    groups: dict[str, str] = field(default_factory=dict)  # "model" -> its help

    def group(self, name: str, help: str) -> None:
        self.groups[name] = help

    def command(self, name: str, help: str, *options: Option | OneOf) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.commands.append(Command(name, help, options, handler))
            return handler

        return register
