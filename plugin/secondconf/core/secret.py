"""A secret's value in a type that never prints it.

A plain ``str`` argument is printed by pytest's long tracebacks (each frame's arguments)
and by ``--showlocals``, and a dataclass's default ``repr`` shows every field; so a
secret travels as a :class:`Secret`, whose ``repr`` and ``str`` show its name and
asterisks only (like pydantic's ``SecretStr``). :meth:`Secret.reveal` gives the value and
is called only where a header or form field is built. Creating a secret also registers
its value with :mod:`secondconf.core.redact`, so output can be scrubbed of it by value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from secondconf.core.redact import register_secret

MASK: Final = "**********"


@dataclass(frozen=True, slots=True)
class Secret:
    """A named secret: ``name`` is the environment variable that holds it (shown freely),
    the value is shown nowhere."""

    name: str
    _value: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a secret needs the name of the variable that holds it")
        if not self._value:
            raise ValueError(f"secret {self.name} is empty")
        register_secret(self.name, self._value)

    def reveal(self) -> str:
        """The value, for the one place a header or form field is built from it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.name!r}, {MASK!r})"

    def __str__(self) -> str:
        return f"{self.name}={MASK}"
