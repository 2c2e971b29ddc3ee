"""The agent registry: one entry per agent name, from which everything else is derived.

``make_agent``, ``agent_names()``, the command lines' choices and the experiments' rule for which agents are trained
before they are measured all read ``AGENTS``. Adding an agent is one ``register_agent`` call::

    register_agent("my_agent", MyAgent, learns=True, summary="what it is")

An agent can also be named ``"package.module:attribute"`` wherever a name is accepted (configs, command lines,
grid jobs): the attribute is an ``AgentEntry``, or a factory ``factory(env, seed=..., **kwargs) -> Agent`` (a
class or a function) that learns unless it has ``learns = False``. Such specs are resolved where the run executes,
so jobs stay picklable.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from spark_env.errors import ConfigError
from spark_env.imports import import_object, is_import_spec


@dataclass(frozen=True)
class AgentEntry:
    """``factory(env, seed=..., **kwargs)`` builds the agent; ``learns``: experiments train it before measuring it
    (a learning curve) and online methods let it learn during the run; ``env_overrides``: SparkConfig overrides its
    env needs (e.g. ``lookahead_info``); ``summary``: one line for listings."""

    name: str
    factory: Callable[..., Any]
    learns: bool
    env_overrides: Mapping[str, Any] = field(default_factory=dict)
    summary: str = ""


AGENTS: dict[str, AgentEntry] = {}


def register_agent(name: str, factory: Callable[..., Any], *, learns: bool,
                   env_overrides: Mapping[str, Any] | None = None, summary: str = "",
                   replace: bool = False) -> AgentEntry:
    """Add an agent under ``name`` (an error if the name is taken, unless ``replace``); returns its entry."""
    if not name or ":" in name:
        raise ValueError(f"agent name {name!r} is invalid; allowed: a non-empty name without ':'")
    if name in AGENTS and not replace:
        raise ValueError(f"agent '{name}' is already registered; pass replace=True to replace it")
    entry = AgentEntry(name, factory, learns, MappingProxyType(dict(env_overrides or {})), summary)
    AGENTS[name] = entry
    return entry


def unregister_agent(name: str) -> None:
    """Remove a registered agent (tests that register toy agents clean up with this)."""
    AGENTS.pop(name, None)


def agent_names() -> tuple[str, ...]:
    """The registered agent names, in registration order."""
    return tuple(AGENTS)


def agent_entry(spec: str) -> AgentEntry:
    """The entry of a registered name or of a ``"package.module:attribute"`` spec; errors name what is allowed."""
    if is_import_spec(spec):
        target = import_object(spec, "agent")
        if isinstance(target, AgentEntry):
            return target
        if not callable(target):
            raise ConfigError(f"agent '{spec}' names a {type(target).__name__}, not an agent class or factory")
        return AgentEntry(spec, target, bool(getattr(target, "learns", True)))
    if spec not in AGENTS:
        raise ConfigError(f"unknown agent {spec!r}; available: {', '.join(AGENTS)} or 'package.module:factory'")
    return AGENTS[spec]


def check_agent_specs(specs) -> None:
    """Raise ConfigError naming the first spec that is neither registered nor importable."""
    for spec in specs:
        agent_entry(spec)


def make_agent(spec: str, env, seed: int = 0, **kwargs) -> Any:
    """Build the agent ``spec`` names for ``env``; ``seed`` seeds the agent (its first env reset in ``learn``, its
    generators and initial parameters), also when a ``config`` is passed among ``kwargs``."""
    return agent_entry(spec).factory(env, seed=seed, **kwargs)
