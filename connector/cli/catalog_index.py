"""What `connector catalog list` prints, kept in a file so a listing reads no manifest.

Reading the manifests costs most of `catalog list`: the pydantic models (~0.1 s to import
and build) and 70 YAML files. The listing (apps, and per action its id, name, kind,
idempotency and description) is written to `$CONNECTOR_HOME/cache/catalog-list.json` after a
catalog read without a problem, with the signature (modification time in ns, size) of
everything the reading depended on:
  - each manifest folder and every file in it (a new, removed or edited manifest);
  - the code that reads and checks them (`connector/catalog/*.py`, `plugins.py`,
    `safe_load.py`) and the connector's version;
  - the app folders themselves: they come from the installed apps' entry points, which are
    discovered every time (cheap beside the models, and a newly installed app, a
    $CONNECTOR_MANIFESTS folder or `--root` changes the sources and so the key).
The listing is used only when every signature still matches. A file changed within
`_RACY_NS` of being read could change again within the same timestamp, so a catalog with such
a file is not cached (git's "racy clean" rule). A missing, unreadable or malformed index is a
miss, never an error; a catalog with problems is never cached, so its errors are reported on
every run.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connector.catalog import Catalog

__all__ = ["Listing", "Row", "catalog_listing"]

#: bumped when the file's layout changes
_FORMAT = 2
#: a signature younger than this when the catalog is read is not trusted (2 s)
_RACY_NS = 2_000_000_000

_CONNECTOR = Path(__file__).resolve().parent.parent
#: the code whose checks decide what a listing holds
_CODE = (_CONNECTOR / "catalog", _CONNECTOR / "plugins.py", _CONNECTOR / "safe_load.py")


@dataclass(frozen=True)
class Row:
    id: str
    app: str
    name: str
    kind: str
    idempotent: bool
    description: str


@dataclass(frozen=True)
class Listing:
    apps: list[str]
    actions: list[Row]


def catalog_listing(root: Path | None) -> Listing:
    """The catalog's apps and actions, from the index when nothing it was made from changed;
    otherwise read (read_catalog: raises InvalidConfiguration on any problem) and indexed."""
    sources = _sources(root)
    key = _key(root, sources) if sources is not None else None
    cached = _read(key) if key is not None else None
    if cached is not None:
        return cached
    # The models and YAML only now: a listing served from the index loads neither.
    from connector.catalog import read_catalog

    started = time.time_ns()
    listing = _listing(read_catalog(root))
    # Signatures taken after the read: a file changed while it was read differs from them,
    # or is too young to be trusted.
    if key is not None and _key(root, sources or []) == key and not _racy(key, started):
        _write(key, listing)
    return listing


def _listing(catalog: Catalog) -> Listing:
    return Listing(
        apps=list(catalog.apps),
        actions=[
            Row(a.id, a.app, a.name, a.kind, a.idempotent, a.description)
            for a in catalog.actions.values()
        ],
    )


def _sources(root: Path | None) -> list[tuple[str, str, str | None]] | None:
    from connector.plugins import catalog_sources

    found, problems = catalog_sources(root)
    if problems:
        return None
    return [(s.key, str(s.directory), s.handlers) for s in found]


def _signature(path: Path | str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size]


def _folder(path: Path | str, suffix: str = "") -> dict[str, Any]:
    """A folder's own signature and that of every file in it ending in `suffix`."""
    files: dict[str, Any] = {}
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                if not entry.name.endswith(suffix):
                    continue  # the code folder's __pycache__ changes on every compile
                try:
                    st = entry.stat()
                except OSError:
                    continue
                files[entry.name] = [st.st_mtime_ns, st.st_size]
    except OSError:
        return {"self": None}
    return {"self": _signature(path), "files": files}


def _key(root: Path | None, sources: list[tuple[str, str, str | None]]) -> dict[str, Any]:
    from connector import __version__

    code = _CODE[0]
    return {
        "format": _FORMAT,
        "version": __version__,
        "python": sys.version,
        "root": str(root) if root is not None else None,
        "manifests_env": os.environ.get("CONNECTOR_MANIFESTS"),
        "sources": [list(s) for s in sources],
        "folders": {directory: _folder(directory) for _, directory, _ in sources},
        "code": {
            str(code): _folder(code, ".py"),
            **{str(p): _signature(p) for p in _CODE[1:]},
        },
    }


def _racy(key: dict[str, Any], started: int) -> bool:
    """Whether any signature in the key is within _RACY_NS of `started` (or later)."""
    limit = started - _RACY_NS

    def young(value: Any) -> bool:
        if isinstance(value, dict):
            return any(young(v) for v in value.values())
        if isinstance(value, list) and len(value) == 2 and all(type(v) is int for v in value):
            return value[0] > limit
        if isinstance(value, list):
            return any(young(v) for v in value)
        return False

    return young(key["folders"]) or young(key["code"])


def _path() -> Path:
    home = os.environ.get("CONNECTOR_HOME") or Path.home() / ".connector"
    return Path(home) / "cache" / "catalog-list.json"


def _read(key: dict[str, Any]) -> Listing | None:
    try:
        with open(_path(), "rb") as handle:
            stored = json.loads(handle.read())
        if not isinstance(stored, dict) or stored.get("key") != key:
            return None
        return Listing(
            apps=[str(a) for a in stored["apps"]],
            actions=[Row(**row) for row in stored["actions"]],
        )
    except (OSError, ValueError, TypeError, KeyError):
        return None  # no index, or not one this code wrote: read the manifests


def _write(key: dict[str, Any], listing: Listing) -> None:
    path = _path()
    document = {
        "key": key,
        "apps": listing.apps,
        "actions": [row.__dict__ for row in listing.actions],
    }
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(document), encoding="utf-8")
        os.replace(temporary, path)  # readers see the old index or the new one, whole
    except OSError:
        # An index is an optimisation: a home that cannot be written lists from the manifests.
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
