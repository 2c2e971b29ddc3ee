"""``"package.module:attribute"`` specs: how a user names their own reward or agent where a string is needed (YAML
configs, command lines, grid jobs that must pickle)."""
from __future__ import annotations

import importlib
from typing import Any

from spark_env.errors import ConfigError


def is_import_spec(spec: object) -> bool:
    """True for a string of the form ``"package.module:attribute"``."""
    return isinstance(spec, str) and ":" in spec


def import_object(spec: str, what: str) -> Any:
    """The object a ``"package.module:attribute"`` spec names; ``what`` ("reward", "agent") goes into the errors,
    which name the module or attribute that is missing."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"{what} '{spec}' is not of the form 'package.module:attribute'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"{what} '{spec}': cannot import module '{module_name}' ({error})") from error
    if not hasattr(module, attribute):
        raise ConfigError(f"{what} '{spec}': module '{module_name}' has no attribute '{attribute}'")
    return getattr(module, attribute)
