"""Exceptions raised by spark_env for bad user input.

Every error names the bad value and what is allowed, so that a mistake in a long experiment script is fixed from the
message alone. All of them derive from ``ValueError`` so that generic handlers keep working.
"""


class SparkEnvError(ValueError):
    """Base class of all spark_env input errors."""


class DatasetError(SparkEnvError):
    """A dataset folder or image file cannot be used (missing, empty, corrupt, too small)."""


class ConfigError(SparkEnvError):
    """A configuration key or value is not allowed."""
