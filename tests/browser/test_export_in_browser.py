"""The export, drawn by react-jsonschema-form in headless Chromium and checked by strict Ajv.

What a builder does with `connector catalog export`: draw each action's `inputs` with RJSF
(@rjsf/core + @rjsf/validator-ajv8, React), and validate what it saves against
`mapped_inputs` with Ajv. Debian's /usr/bin/chromium, driven by Playwright; the page
(`harness.jsx`) is bundled by esbuild from tests/browser/node_modules into a temporary folder.
`tools/install_test_deps` installs all of it; a missing piece fails the test, saying which.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.catalog import load_catalog
from connector.catalog.export import export_catalog
from connector.catalog.models import MISSING, InputSpec

from .chromium import CHROMIUM, CHROMIUM_FLAGS

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
INSTALL = "run tools/install_test_deps"
# The real catalog, and a made-up one with an input of every type the catalog may grow into.
CATALOGS = {
    "catalog": load_catalog(),
    "every_type": load_catalog(HERE.parent / "every_type_catalog"),
}
CASES = [(name, a) for name, catalog in CATALOGS.items() for a in sorted(catalog.actions)]
# The control RJSF draws for each manifest type: (tag, type attribute).
WIDGETS = {
    "string": ("input", "text"),
    "text": ("textarea", None),
    "url": ("input", "url"),
    "datetime": ("input", "datetime-local"),
    "number": ("input", "number"),
    "integer": ("input", "number"),
    "boolean": ("input", "checkbox"),
    "options": ("select", None),
    "array": ("fieldset", None),
    "multi-select": ("div", None),  # ui:widget checkboxes
    "object": ("fieldset", None),
}


def _missing(what: str) -> None:
    pytest.fail(f"the browser test needs {what}: {INSTALL}", pytrace=False)


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """harness.jsx bundled with its packages into a temporary folder, beside its page."""
    esbuild = HERE / "node_modules" / ".bin" / "esbuild"
    if shutil.which("node") is None:
        _missing("Node.js (node on PATH)")
    for package in ("@rjsf/core", "@rjsf/validator-ajv8", "ajv", "ajv-formats", "react"):
        if not (HERE / "node_modules" / package / "package.json").is_file():
            _missing(f"the npm package {package} in tests/browser/node_modules")
    if not esbuild.is_file():
        _missing("esbuild in tests/browser/node_modules")
    out = tmp_path_factory.mktemp("browser")
    subprocess.run(
        [
            str(esbuild), str(HERE / "harness.jsx"), "--bundle", "--jsx=automatic",
            f"--outfile={out / 'harness.js'}", "--log-level=warning",
            # React's development build: it reports more mistakes on the console.
            "--define:process.env.NODE_ENV=\"development\"",
        ],
        check=True,
    )  # fmt: skip
    html = '<!doctype html><meta charset="utf-8"><div id="form"></div><script src="harness.js">'
    (out / "index.html").write_text(html + "</script>\n", encoding="utf-8")
    return out / "index.html"


class Browser:
    """One Chromium page with the harness loaded, and what its console said."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.console: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.console.append(f"page error: {error}"))

    def _on_console(self, message: Any) -> None:
        if message.type in ("error", "warning", "assert"):
            self.console.append(f"console.{message.type}: {message.text}")

    def call(self, function: str, *args: Any) -> Any:
        return self.page.evaluate(f"(args) => window.harness.{function}(...args)", list(args))


@pytest.fixture(scope="module")
def browser(page_file: Path) -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        _missing(f"Debian's chromium package ({CHROMIUM})")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the Python package playwright (the [test] extra)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            page = chromium.new_page()
            driver = Browser(page)
            page.goto(page_file.as_uri())
            assert page.evaluate("typeof window.harness") == "object", driver.console
            yield driver
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    # Through JSON, as a builder reads it.
    return {name: json.loads(json.dumps(export_catalog(c))) for name, c in CATALOGS.items()}


def _action(document: dict[str, Any], action_id: str) -> dict[str, Any]:
    return next(a for app in document["apps"] for a in app["actions"] if a["id"] == action_id)


@pytest.mark.parametrize("name", CATALOGS)
def test_strict_ajv_compiles_every_schema_and_every_sample_is_what_a_builder_may_save(
    browser: Browser, documents: dict[str, dict[str, Any]], name: str
) -> None:
    browser.console.clear()
    assert browser.call("checkDocument", documents[name]) == []
    assert browser.console == []


def test_strict_ajv_refuses_what_the_export_used_to_hold(
    browser: Browser, documents: dict[str, dict[str, Any]]
) -> None:
    """The check above can fail: undeclared keywords and a template in a literal field."""
    broken = json.loads(json.dumps(documents["catalog"]))
    # Its first field, a URL, is one whose literal alone refuses a template.
    action = _action(broken, "bitly.create_bitlink")
    action["inputs"]["x-order"] = list(action["inputs"]["properties"])
    field = next(iter(action["mapped_inputs"]["properties"].values()))
    field["anyOf"] = field["anyOf"][:1]  # the literal alone: no template admitted
    problems = browser.call("checkDocument", broken)
    assert any('unknown keyword: "x-order"' in p for p in problems), problems
    assert any(f"{action['id']} {{{{trigger.x}}}}" in p for p in problems), problems


def _shown_default(spec: InputSpec) -> Any:
    """What the widget shows for the default: an option's label, a text field's text."""
    labels = {json.dumps(o.value): o.label for o in spec.options}
    if spec.type == "options":
        return labels[json.dumps(spec.default)]
    if spec.type == "multi-select":
        return [labels[json.dumps(v)] for v in spec.default]
    return spec.default if isinstance(spec.default, bool) else str(spec.default)


@pytest.mark.parametrize(("name", "action_id"), CASES)
def test_every_form_draws_as_the_manifest_says(
    browser: Browser, documents: dict[str, dict[str, Any]], name: str, action_id: str
) -> None:
    spec = CATALOGS[name].get(action_id)
    document = documents[name]
    browser.console.clear()
    drawn = browser.call("render", _action(document, action_id), document["vocabulary"])
    assert browser.console == [], f"{action_id}: {browser.console}"
    for field in spec.inputs:
        shown = drawn["fields"][field.key]
        where = f"{action_id}: {field.key}"
        assert shown["found"], f"{where}: not drawn"
        assert (shown["tag"], shown["type"]) == WIDGETS[field.type], where
        assert shown["label"] == field.label, where
        assert shown["required_marked"] is field.required, f"{where}: required mark"
        if field.options:
            # Labels, never raw values (an empty first option is RJSF's placeholder).
            assert [o for o in shown["options"] if o] == [o.label for o in field.options], where
        if field.type in ("array", "object"):
            assert shown["addable"], f"{where}: no button to add an item"
        if field.default is not MISSING:
            assert drawn["formData"][field.key] == field.default, f"{where}: default not set"
            seen = shown["selected"] if field.options else shown["value"]
            assert seen == _shown_default(field), f"{where}: default not shown"
    # Drawn with its defaults, the form lacks nothing but the values a user must give.
    assert {e["name"] for e in drawn["errors"]} <= {"required"}, drawn["errors"]
    missing = {e["params"]["missingProperty"] for e in drawn["errors"] if "." not in e["property"]}
    empty = {f.key for f in spec.inputs if f.required and f.key not in drawn["formData"]}
    assert missing == empty, (missing, empty)
