"""Resolving an extension's dependencies against the published catalog, and refusing cycles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nofx_sdk.rules.semver import InvalidVersion, Version, VersionRange


@dataclass(frozen=True)
class PublishedVersion:
    version: str
    # (extension id, version range) pairs this published version depends on.
    dependencies: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Resolution:
    unresolved: list[tuple[str, str, str]]  # (id, range, why)
    cycle: list[str] | None  # ids along the cycle, first == last


def resolve(
    *, extension_id: str, dependencies: Sequence[tuple[str, str]], catalog: Mapping[str, Sequence[PublishedVersion]]
) -> Resolution:
    """Pick the highest published version for each range, depth first; report what fails and any cycle."""
    unresolved: list[tuple[str, str, str]] = []
    chosen: dict[str, tuple[tuple[str, str], ...]] = {extension_id: tuple(dependencies)}

    def pick(dep_id: str, range_text: str) -> tuple[tuple[str, str], ...] | None:
        published = catalog.get(dep_id)
        if not published:
            unresolved.append((dep_id, range_text, "no such published extension"))
            return None
        versions: dict[Version, PublishedVersion] = {}
        for item in published:
            try:
                versions[Version.parse(item.version)] = item
            except InvalidVersion:
                continue
        best = VersionRange.parse(range_text).best(list(versions))
        if best is None:
            unresolved.append((dep_id, range_text, "no published version matches"))
            return None
        return versions[best].dependencies

    queue = list(dependencies)
    while queue:
        dep_id, range_text = queue.pop(0)
        if dep_id in chosen:
            continue
        deps = pick(dep_id, range_text)
        chosen[dep_id] = deps or ()
        queue.extend(deps or ())
    return Resolution(unresolved=unresolved, cycle=_find_cycle(extension_id, chosen))


def _find_cycle(start: str, graph: Mapping[str, Sequence[tuple[str, str]]]) -> list[str] | None:
    path: list[str] = []
    on_path: set[str] = set()
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for child, _ in graph.get(node, ()):
            if child in on_path:
                return [*path[path.index(child) :], child]
            if child not in done:
                found = visit(child)
                if found:
                    return found
        on_path.discard(node)
        done.add(node)
        path.pop()
        return None

    return visit(start)
