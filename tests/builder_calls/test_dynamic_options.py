"""Dynamic options: the CLI and Python lists of a form's groups, domains and tags, read from
the sandbox through the options actions; failures are errors, never an empty list; the
catalog checks every options_from and the export declares it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connector.api import load_options
from connector.catalog import Catalog, load_catalog
from connector.catalog.export import export_catalog
from connector.catalog.export_forms import VOCABULARY
from connector.catalog.models import OptionsFrom
from connector.catalog.options import options_problems
from connector.cli import main
from connector.errors import AuthenticationError
from connector.sandbox.embedded import EmbeddedSandboxes, embedded_sandboxes

GROUP = "Bdemo000001"


@pytest.fixture(scope="module")
def boxes() -> Iterator[EmbeddedSandboxes]:
    with embedded_sandboxes() as started:
        yield started


def api(boxes: EmbeddedSandboxes, path: str) -> Any:
    headers = {"Authorization": f"Bearer {boxes.credentials['bitly']}"}
    answer = httpx.get(boxes.base_urls["bitly"] + path, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["catalog", "options", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_groups_by_name(cli_sandbox: EmbeddedSandboxes, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(["bitly.create_bitlink", "group_guid", "--sandbox", "--json"], capsys)
    assert (code, err) == (0, "")
    groups = api(cli_sandbox, "/groups")["groups"]
    assert json.loads(out) == [{"label": g["name"], "value": g["guid"]} for g in groups]


def test_domains_are_bitly_and_the_groups_bsds(
    cli_sandbox: EmbeddedSandboxes, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["bitly.create_bitlink", "domain", "--input", f"group_guid={GROUP}", "--sandbox"]
    code, out, err = cli([*args, "--json"], capsys)
    assert (code, err) == (0, "")
    bsds = api(cli_sandbox, f"/groups/{GROUP}")["bsds"]
    assert bsds, "the demo group has branded domains"
    assert json.loads(out) == [{"label": d, "value": d} for d in ["bit.ly", *bsds]]


def test_tags_of_the_group(
    cli_sandbox: EmbeddedSandboxes, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["bitly.create_bitlink", "tags", "--input", f"group_guid={GROUP}", "--sandbox"]
    code, out, err = cli([*args, "--json"], capsys)
    assert (code, err) == (0, "")
    tags = api(cli_sandbox, f"/groups/{GROUP}/tags")["tags"]
    assert len(tags) > 1
    assert json.loads(out) == [{"label": t, "value": t} for t in tags]


def test_human_output_is_label_and_value(
    cli_sandbox: EmbeddedSandboxes, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(["bitly.create_bitlink", "group_guid", "--sandbox"], capsys)
    assert code == 0
    assert out.split() == ["Sandbox", "Group", GROUP]


def test_a_missing_dependency_is_named(
    cli_sandbox: EmbeddedSandboxes, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(["bitly.create_bitlink", "tags", "--sandbox", "--json"], capsys)
    assert (code, out) == (2, "")
    assert "depend on group_guid" in err and "--input group_guid=" in err
    assert err.count("\n") == 1


def test_an_api_failure_is_an_error_not_an_empty_list(
    cli_sandbox: EmbeddedSandboxes, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["bitly.create_bitlink", "tags", "--input", "group_guid=Bnope", "--sandbox", "--json"]
    code, out, err = cli(args, capsys)
    assert (code, out) == (1, "")
    assert "NOT_FOUND" in err and "Bnope" in err and err.count("\n") == 1


def test_a_bad_credential_is_an_authentication_error(
    catalog: Catalog, boxes: EmbeddedSandboxes
) -> None:
    with pytest.raises(AuthenticationError):
        asyncio.run(
            load_options(
                "bitly.create_bitlink",
                "group_guid",
                catalog=catalog,
                base_urls=dict(boxes.base_urls),
                credentials={"bitly": "not-the-sandbox-token"},
            )
        )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bitly.create_bitlink", "nope"], "has no input 'nope'"),
        (["bitly.create_bitlink", "title"], "has no dynamic options"),
        (["bitly.nope", "title"], "unknown action 'bitly.nope'"),
        (["bitly.create_bitlink", "group_guid", "--cursor", "x"], "not one this catalog"),
    ],
)
def test_bad_requests_exit_2_in_one_line(
    cli_sandbox: EmbeddedSandboxes,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    code, out, err = cli([*args, "--sandbox"], capsys)
    assert (code, out) == (2, "")
    assert message in err and err.count("\n") == 1


def options(catalog: Catalog, boxes: EmbeddedSandboxes, key: str, **kwargs: Any) -> Any:
    return asyncio.run(
        load_options(
            "bitly.create_bitlink",
            key,
            {"group_guid": GROUP},
            catalog=catalog,
            base_urls=dict(boxes.base_urls),
            credentials=dict(boxes.credentials),
            **kwargs,
        )
    )


def test_search_filters_by_label(catalog: Catalog, boxes: EmbeddedSandboxes) -> None:
    page = options(catalog, boxes, "tags", search="SO")
    tags = api(boxes, f"/groups/{GROUP}/tags")["tags"]
    assert [o["value"] for o in page.options] == [t for t in tags if "so" in t.casefold()]
    assert page.options and page.next_cursor is None


def test_pages_follow_the_cursor_to_the_end(catalog: Catalog, boxes: EmbeddedSandboxes) -> None:
    import connector.catalog.options as module

    seen, cursor, pages = [], None, 0
    while True:
        page = asyncio.run(
            module.load_options(
                catalog,
                _Runner(catalog, boxes),
                "bitly.create_bitlink",
                "tags",
                {"group_guid": GROUP},
                cursor=cursor,
                page_size=4,
            )
        )
        pages += 1
        seen.extend(o["value"] for o in page.options)
        cursor = page.next_cursor
        if cursor is None:
            break
    tags = api(boxes, f"/groups/{GROUP}/tags")["tags"]
    assert seen == tags and pages == -(-len(tags) // 4)


class _Runner:
    """An ActionRunner on the sandbox, opened per call (asyncio.run closes its loop)."""

    def __init__(self, catalog: Catalog, boxes: EmbeddedSandboxes) -> None:
        self.catalog, self.boxes = catalog, boxes

    async def run(self, action_id: str, prepared: dict[str, Any]) -> Any:
        from connector.runner import ActionRunner

        async with ActionRunner(
            self.catalog,
            base_urls=dict(self.boxes.base_urls),
            credentials=dict(self.boxes.credentials),
        ) as runner:
            return await runner.run(action_id, prepared)


# ------------------------------------------------------------------ catalog and export


def with_source(catalog: Catalog, **changes: Any) -> list[tuple[str, str]]:
    action = catalog.get("bitly.create_bitlink")
    spec = action.input("tags")
    assert spec is not None and spec.options_from is not None
    source = spec.options_from.model_copy(update=changes)
    inputs = tuple(
        s.model_copy(update={"options_from": source}) if s.key == "tags" else s
        for s in action.inputs
    )
    changed = action.model_copy(update={"inputs": inputs})
    changed.bind(action.app, action.source)
    return list(options_problems(changed, catalog.actions))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"action": "bitly.list_nothing"}, "no action 'bitly.list_nothing'"),
        ({"action": "bitly.create_bitlink"}, "bitly.create_bitlink is not a search (action)"),
        ({"items": "labels"}, "no list at 'labels'"),
        ({"label": "name"}, "'name' is not in bitly.list_group_tags's sample items"),
        ({"depends_on": ("title",)}, "'title' is not an input of bitly.list_group_tags"),
        ({"depends_on": ("nope",)}, "'nope' is not an input of bitly.create_bitlink"),
        ({"depends_on": ()}, "requires 'group_guid': list it here"),
        ({"search": "query"}, "'query' is not an input of bitly.list_group_tags"),
    ],
)
def test_catalog_validate_checks_options_from(
    catalog: Catalog, changes: dict[str, Any], message: str
) -> None:
    problems = with_source(catalog, **changes)
    assert any(message in text for _, text in problems), problems


def test_the_catalog_options_from_are_valid(catalog: Catalog) -> None:
    assert with_source(catalog) == []


def test_options_from_refuses_unknown_keys() -> None:
    with pytest.raises(ValueError, match="extra"):
        OptionsFrom.model_validate({"action": "bitly.list_groups", "items": "groups", "x": 1})


# Which options action each kind of Bitly input takes them from, and the inputs those options
# need, in order of preference: the first source whose inputs the action has is the one it
# must name (tags of a group, else of the Bitlink's group; a webhook of the organization, else
# of any). An input none of whose sources fit is exempt. Campaigns and channels are listed
# across groups when the action names none.
_BITLY_SOURCES: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "group_guid": (("bitly.list_groups", ()),),
    "organization_guid": (("bitly.list_organizations", ()),),
    "domain": (("bitly.get_group", ("group_guid",)),),
    "tags": (
        ("bitly.list_group_tags", ("group_guid",)),
        ("bitly.list_bitlink_group_tags", ("bitlink",)),
    ),
    "campaign_guid": (("bitly.list_campaigns", ()),),
    "channel_guid": (("bitly.list_channels", ()),),
    "webhook_guid": (
        ("bitly.list_webhooks", ("organization_guid",)),
        ("bitly.list_all_webhooks", ()),
    ),
}


def _bitly_inputs() -> list[tuple[str, str, str]]:
    """(action id, input key, the options action it must name)."""
    catalog = load_catalog()
    found = []
    for action in catalog.actions.values():
        if action.app != "bitly":
            continue
        for spec in action.inputs:
            for source, needs in _BITLY_SOURCES.get(spec.key, ()):
                if set(needs) <= set(action.input_keys) and source != action.id:
                    found.append((action.id, spec.key, source))
                    break
    return found


@pytest.mark.parametrize(("action_id", "key", "source"), _bitly_inputs())
def test_every_bitly_picker_input_has_options(
    catalog: Catalog, action_id: str, key: str, source: str
) -> None:
    spec = catalog.get(action_id).input(key)
    assert spec is not None and spec.options_from is not None, (
        f"{action_id}: input '{key}' should declare options_from: {{action: {source}, ...}}"
    )
    assert spec.options_from.action == source


def test_the_options_gaps_are_closed() -> None:
    # Issue 10: update_bitlink's tags and the webhook actions without an organization.
    covered = {(a, k): s for a, k, s in _bitly_inputs()}
    assert covered[("bitly.update_bitlink", "tags")] == "bitly.list_bitlink_group_tags"
    for verb in ("get", "update", "delete", "verify"):
        assert covered[(f"bitly.{verb}_webhook", "webhook_guid")] == "bitly.list_all_webhooks"


def test_a_bitlinks_tags_are_its_groups(
    cli_sandbox: EmbeddedSandboxes, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["bitly.update_bitlink", "tags", "--input", "bitlink=bit.ly/spring-sale", "--sandbox"]
    code, out, err = cli([*args, "--json"], capsys)
    assert (code, err) == (0, "")
    tags = api(cli_sandbox, f"/groups/{GROUP}/tags")["tags"]
    assert json.loads(out) == [{"label": t, "value": t} for t in tags]
    code, out, err = cli(["bitly.update_bitlink", "tags", "--sandbox", "--json"], capsys)
    assert code == 2 and "depend on bitlink" in err


def test_webhooks_of_every_organization(
    cli_sandbox: EmbeddedSandboxes, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(["bitly.delete_webhook", "webhook_guid", "--sandbox", "--json"], capsys)
    assert (code, err) == (0, "")
    hooks = api(cli_sandbox, "/organizations/Odemo000001/webhooks")["webhooks"]
    assert hooks and json.loads(out) == [{"label": h["name"], "value": h["guid"]} for h in hooks]


def test_the_export_declares_where_options_come_from(catalog: Catalog) -> None:
    document = export_catalog(catalog)
    assert "x-connector-options" in VOCABULARY["keywords"]
    actions = {a["id"]: a for app in document["apps"] for a in app["actions"]}
    form = actions["bitly.create_bitlink"]["inputs"]["properties"]
    assert form["group_guid"]["x-connector-options"] == {
        "action": "bitly.list_groups",
        "items": "groups",
        "label": "name",
        "value": "guid",
        "depends_on": [],
        "search": None,
        "include": [],
    }
    assert form["domain"]["x-connector-options"]["depends_on"] == ["group_guid"]
    assert "x-connector-options" not in form["title"]
