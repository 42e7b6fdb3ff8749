"""The built-in apps, one package per app: its AppPlugin (`APP`) and its handlers.

They register in the `connector.apps` entry-point group (pyproject.toml) exactly as a
third-party app does. The repository keeps this folder as `actions/` and the manifests as
`manifests/`; the wheel ships them as `connector/apps/` and `connector/manifests/`. The two
are siblings in both layouts, so MANIFESTS is the same expression for an editable and a
normal install.
"""

from pathlib import Path

__all__ = ["MANIFESTS"]

#: the folder holding one manifest folder per built-in app
MANIFESTS = Path(__file__).resolve().parent.parent / "manifests"
