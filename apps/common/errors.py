"""Errors a user can act on.

Anything raised as a `ClassicsError` is printed by the CLI as one line and exits with
code 2 (bad input or usage). Any other exception is an internal error (exit code 1).
"""


class ClassicsError(Exception):
    """Bad input or usage: the message names the file, field or value at fault."""

    exit_code = 2


class ConfigError(ClassicsError):
    """A config file or `--set` override is invalid."""


class DataError(ClassicsError):
    """A dataset, file or image cannot be used."""
