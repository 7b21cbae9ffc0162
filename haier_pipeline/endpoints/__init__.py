"""One declaration per endpoint, one module each in this package: a module that declares an `Endpoint` adds an asset,
its table, its `sync` step, its automation condition and its freshness policy, and nothing else needs to change.

The set is found by looking at the package's modules (as Dagster's `load_from_defs_folder` finds definitions), so no
list is kept by hand; `endpoints()` returns it in dependency order.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from functools import cache

from haier_pipeline.endpoints.declaration import Endpoint

VOCABULARY = "declaration"


@cache
def endpoints() -> tuple[Endpoint, ...]:
    """Every declared endpoint, each after the endpoints it depends on."""
    found: dict[str, Endpoint] = {}
    for module in sorted(info.name for info in pkgutil.iter_modules(__path__)):
        if module == VOCABULARY:
            continue
        for value in vars(importlib.import_module(f"{__name__}.{module}")).values():
            if isinstance(value, Endpoint) and found.setdefault(value.name, value) is not value:
                raise ValueError(f"two endpoints are named {value.name!r}: every endpoint names its own table")
    return in_dependency_order(found.values())


def in_dependency_order(declared: Iterable[Endpoint]) -> tuple[Endpoint, ...]:
    """Each endpoint after its dependencies; among those ready, a dependent of the endpoint just placed first (so
    prices is followed by its history), then the one more endpoints depend on, then by name."""
    by_name = {endpoint.name: endpoint for endpoint in declared}
    for endpoint in by_name.values():
        if unknown := [dep for dep in endpoint.deps if dep not in by_name]:
            raise ValueError(f"{endpoint.name} depends on {', '.join(unknown)}, which no module declares")
    dependents: dict[str, set[str]] = {name: set() for name in by_name}

    def add_dependents(name: str, of: str) -> None:
        for dep in by_name[of].deps:
            if name not in dependents[dep]:
                dependents[dep].add(name)
                add_dependents(name, dep)

    for name in by_name:
        add_dependents(name, name)
    placed: list[str] = []
    while len(placed) < len(by_name):
        ready = [
            name
            for name, endpoint in by_name.items()
            if name not in placed and all(dep in placed for dep in endpoint.deps)
        ]
        if not ready:
            raise ValueError(f"the dependencies of {sorted(set(by_name) - set(placed))} form a circle")
        last = by_name[placed[-1]] if placed else None
        following = [name for name in ready if last is not None and last.name in by_name[name].deps]
        placed.append(min(following or ready, key=lambda name: (-len(dependents[name]), name)))
    return tuple(by_name[name] for name in placed)


def endpoint(name: str) -> Endpoint:
    for declared in endpoints():
        if declared.name == name:
            return declared
    raise KeyError(f"no endpoint is named {name!r}; endpoints: {', '.join(e.name for e in endpoints())}")


def steps() -> dict[str, tuple[str, ...]]:
    """`sync --only` step -> the endpoints it runs, in dependency order."""
    grouped: dict[str, tuple[str, ...]] = {}
    for declared in endpoints():
        grouped[declared.step_name] = (*grouped.get(declared.step_name, ()), declared.name)
    return grouped


__all__ = ["Endpoint", "endpoint", "endpoints", "in_dependency_order", "steps"]
