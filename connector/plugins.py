"""Apps as plugins: what an installed app brings, and the manifest folders the catalog reads.

An app is an `AppPlugin` registered by a distribution in the entry-point group `connector.apps`,
under the app's key. The built-in Bitly and shorten.dev apps register exactly that way (in
pyproject.toml), so nothing in the core names an app:

    [project.entry-points."connector.apps"]
    greeter = "connector_greeter:APP"

    APP = AppPlugin(key="greeter", manifests=Path(__file__).parent / "manifests",
                    handlers=__name__, sandbox="connector_greeter.sandbox:SANDBOX")

Handler names in a manifest that start with a dot (`handler: .metrics:get_link_click_metrics`)
are relative to the app's handler package, so they resolve wherever the package is installed.

The catalog is every installed app, plus the app folders of each directory listed in
`CONNECTOR_MANIFESTS` (os.pathsep-separated): added beside the installed apps, never replacing
one; an app key defined twice is a configuration error. `--root DIR` reads the app folders of
DIR alone (what `catalog validate --root` checks).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connector.errors import InvalidConfiguration

if TYPE_CHECKING:  # importlib.metadata costs ~10 ms to import: only when discovering
    from importlib.metadata import EntryPoint

__all__ = [
    "ENTRY_POINT_GROUP",
    "MANIFESTS_ENV",
    "AppPlugin",
    "AppSource",
    "Discovery",
    "app_plugin",
    "catalog_sources",
    "discover",
    "discover_from",
    "installed_apps",
    "qualify",
    "qualify_handlers",
]

ENTRY_POINT_GROUP = "connector.apps"
MANIFESTS_ENV = "CONNECTOR_MANIFESTS"
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class AppPlugin:
    """What an installed app brings to the catalog."""

    #: prefixes the app's action ids ("greeter.say_hello"); equals the entry point's name
    key: str
    #: the folder holding app.yaml and one YAML file per action
    manifests: Path
    #: the package that relative handler names (".module:function") resolve against
    handlers: str | None = None
    #: the vendor facts file (connector.vendor's format) that `catalog validate` checks
    #: declarative requests against; None: requests are not checked against the vendor's API
    vendor_facts: Path | None = None
    #: "module:attribute" of a connector.sandbox.plugin.SandboxPlugin, imported only when a
    #: sandbox is started (`--sandbox`, `connector sandbox serve`)
    sandbox: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not _KEY.match(self.key):
            raise ValueError(f"app key {self.key!r} must match {_KEY.pattern}")
        object.__setattr__(self, "manifests", Path(self.manifests))
        if self.vendor_facts is not None:
            object.__setattr__(self, "vendor_facts", Path(self.vendor_facts))
        if self.handlers is not None and not _MODULE.match(self.handlers):
            raise ValueError(f"handlers {self.handlers!r} is not a dotted package name")
        if self.sandbox is not None and not _is_reference(self.sandbox):
            raise ValueError(f"sandbox {self.sandbox!r} must look like 'package.module:name'")


def _is_reference(text: str) -> bool:
    module, sep, attr = text.partition(":")
    return bool(sep) and bool(_MODULE.match(module)) and attr.isidentifier()


@dataclass(frozen=True)
class Discovery:
    """The installed apps by key, and every entry point that could not give one."""

    apps: dict[str, AppPlugin]
    #: (entry point, what is wrong with it), one line each
    problems: list[tuple[str, str]]


def _entry_points() -> list[EntryPoint]:
    from importlib.metadata import entry_points

    return list(entry_points(group=ENTRY_POINT_GROUP))


def _describe(entry: EntryPoint) -> str:
    dist = getattr(entry, "dist", None)
    owner = f" of {dist.name}" if dist is not None else ""
    return f"entry point '{entry.name} = {entry.value}'{owner} ({ENTRY_POINT_GROUP})"


@cache
def discover() -> Discovery:
    """Load every `connector.apps` entry point once; problems are collected, never raised."""
    return discover_from(_entry_points())


def discover_from(entries: Iterable[EntryPoint]) -> Discovery:
    apps: dict[str, AppPlugin] = {}
    origin: dict[str, str] = {}
    problems: list[tuple[str, str]] = []
    for entry in sorted(entries, key=lambda e: (e.name, e.value)):
        where = _describe(entry)
        try:
            plugin = entry.load()
        except Exception as exc:  # third-party code: any failure is that plugin's problem
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())  # one line, whatever it held
            problems.append((where, f"cannot load: {reason}"))
            continue
        if not isinstance(plugin, AppPlugin):
            kind = type(plugin).__name__
            problems.append((where, f"points at a {kind}, not a connector.plugins.AppPlugin"))
        elif plugin.key != entry.name:
            problems.append((where, f"registers app '{plugin.key}' under another name"))
        elif plugin.key in apps:
            taken = origin[plugin.key]
            problems.append((where, f"app '{plugin.key}' is already registered by {taken}"))
        else:
            apps[plugin.key] = plugin
            origin[plugin.key] = where
    return Discovery(apps=apps, problems=problems)


def installed_apps() -> dict[str, AppPlugin]:
    """The installed apps by key; InvalidConfiguration if any entry point is broken."""
    found = discover()
    if found.problems:
        where, message = found.problems[0]
        more = f" (and {len(found.problems) - 1} more)" if len(found.problems) > 1 else ""
        raise InvalidConfiguration(f"{where}: {message}{more}")
    return found.apps


def app_plugin(key: str) -> AppPlugin | None:
    """The installed app `key`, or None (broken entry points are not consulted)."""
    return discover().apps.get(key)


@dataclass(frozen=True)
class AppSource:
    """One app folder as the catalog reads it."""

    key: str
    directory: Path
    #: the package relative handler names resolve against; None: they cannot be used
    handlers: str | None


def catalog_sources(
    root: Path | None = None, env: Mapping[str, str] = os.environ
) -> tuple[list[AppSource], list[tuple[str, str]]]:
    """The app folders of the catalog, and (where, message) for each that cannot be read.

    With `root`: the app folders under it, alone. Otherwise: every installed app, then the app
    folders of each directory in $CONNECTOR_MANIFESTS.
    """
    found = discover()
    if root is not None:
        return _folders_of(Path(root), found.apps, taken={})
    sources = [AppSource(k, app.manifests, app.handlers) for k, app in sorted(found.apps.items())]
    problems = list(found.problems)
    taken = {key: f"the installed app '{key}'" for key in found.apps}
    for entry in (env.get(MANIFESTS_ENV) or "").split(os.pathsep):
        if entry.strip():
            more, trouble = _folders_of(Path(entry), {}, taken)
            sources += more
            problems += trouble
    if not sources and not problems:
        # An empty catalog is a broken install (the checkout on PYTHONPATH, say), not a catalog.
        problems.append((ENTRY_POINT_GROUP, _NO_APPS))
    return sources, problems


_NO_APPS = (
    "no app is installed: no distribution registers an entry point in this group "
    "(install the connector, e.g. `pip install -e .` in a checkout)"
)


def _folders_of(
    root: Path, plugins: Mapping[str, AppPlugin], taken: dict[str, str]
) -> tuple[list[AppSource], list[tuple[str, str]]]:
    if not root.is_dir():
        return [], [(str(root), "manifest directory not found")]
    sources: list[AppSource] = []
    problems: list[tuple[str, str]] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        key = folder.name
        if not _KEY.match(key):
            problems.append((str(folder), f"an app folder's name is its key: {_KEY.pattern}"))
        elif key in taken:
            problems.append((str(folder), f"app '{key}' is already defined by {taken[key]}"))
        else:
            taken[key] = str(folder)
            plugin = plugins.get(key)
            sources.append(AppSource(key, folder, plugin.handlers if plugin else None))
    return sources, problems


def qualify(name: str, package: str | None) -> str:
    """`.metrics:f` -> `<package>.metrics:f`; a name without a leading dot is already whole.

    Raises ValueError when the name is relative and the app has no handler package.
    """
    if not name.startswith("."):
        return name
    if package is None:
        raise ValueError(
            f"'{name}' is relative to the app's handler package, but this app has none "
            "(install the app as a plugin, or name the module in full)"
        )
    return package + name


def qualify_handlers(
    data: dict[str, Any], package: str | None
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """An action manifest with its handler, reconcile and webhook subscription names made
    whole, and problems."""
    out = dict(data)
    problems: list[tuple[str, str]] = []
    for name in ("handler", "reconcile"):
        value = data.get(name)
        if isinstance(value, str):
            try:
                out[name] = qualify(value, package)
            except ValueError as exc:
                problems.append((name, str(exc)))
    trigger = data.get("trigger")
    if isinstance(trigger, dict):  # a webhook trigger's subscribe and unsubscribe
        out["trigger"] = dict(trigger)
        for name in ("subscribe", "unsubscribe"):
            value = trigger.get(name)
            if isinstance(value, str):
                try:
                    out["trigger"][name] = qualify(value, package)
                except ValueError as exc:
                    problems.append((f"trigger.{name}", str(exc)))
    return out, problems
