"""The console's catalog: each action's form drawn from the export, with its dynamic options
loaded, a preview and a test step posted back (no JavaScript), all CSRF-guarded."""

from __future__ import annotations

import asyncio
import re

from connector.catalog.export import export_catalog
from connector.sandbox.embedded import EmbeddedSandboxes
from connector.service import ServiceConfig

from .helpers import KEY, client_for


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match
    return match.group(1)


def test_each_action_has_its_form_and_the_form_works(
    config: ServiceConfig, boxes: EmbeddedSandboxes
) -> None:
    async def go() -> None:
        async with client_for(config) as client:
            assert (await client.get("/catalog")).status_code == 303  # signed out
            await client.post("/signin", data={"api_key": KEY})
            listing = await client.get("/catalog")
            export = export_catalog(config.catalog or client.app.state.service.catalog)  # type: ignore[attr-defined]
            ids = [a["id"] for app in export["apps"] for a in app["actions"]]
            assert all(f'data-action-id="{i}"' in listing.text for i in ids)
            assert "<script" not in listing.text
            assert "default-src 'none'" in listing.headers["content-security-policy"]
            for action_id in ids:  # every form renders, one field per input
                form = await client.get(f"/catalog/{action_id}")
                assert form.status_code == 200, action_id
                action = next(
                    a for app in export["apps"] for a in app["actions"] if a["id"] == action_id
                )
                for key in action["inputs"].get("properties", {}):
                    assert f'name="in.{key}"' in form.text, (action_id, key)
            url = "/catalog/bitly.create_bitlink"
            page = (await client.get(url)).text
            csrf = _csrf(page)
            assert 'value="options:group_guid"' in page and ">Load options<" in page
            assert 'id="in-long_url" name="in.long_url" type="url"' in page
            loaded = await client.post(
                url, data={"csrf": csrf, "op": "options:group_guid", "in.long_url": "https://a.b"}
            )
            assert '<select id="in-group_guid" name="in.group_guid">' in loaded.text
            assert 'value="Bdemo000001"' in loaded.text
            assert 'value="https://a.b"' in loaded.text, "the values typed so far are kept"
            needs = await client.post(url, data={"csrf": csrf, "op": "options:domain"})
            assert "depend on group_guid" in needs.text and 'role="alert"' in needs.text

            metrics = "/catalog/bitly.get_link_click_metrics"
            preview = await client.post(
                metrics,
                data={"csrf": csrf, "op": "preview", "in.bitlink": "bit.ly/x", "in.units": "x"},
            )
            assert 'id="preview-errors"' in preview.text and "units" in preview.text
            good = await client.post(
                metrics,
                data={"csrf": csrf, "op": "preview", "in.bitlink": "bit.ly/x", "in.units": "7"},
            )
            assert "preview-errors" not in good.text, good.text[good.text.find("<h3>Preview") :][
                :600
            ]
            assert '"units": 7' in good.text

            before = sum(boxes.apps["bitly"].state.counts.values())
            tested = await client.post(
                "/catalog/bitly.list_group_bitlinks",
                data={"csrf": csrf, "op": "test", "in.group_guid": "Bdemo000001"},
            )
            assert 'id="test-status">succeeded' in tested.text
            assert sum(boxes.apps["bitly"].state.counts.values()) > before
            forged = await client.post(
                "/catalog/bitly.list_group_bitlinks",
                data={"csrf": "nope", "op": "test", "in.group_guid": "Bdemo000001"},
            )
            assert forged.status_code == 403
            assert (await client.get("/catalog/bitly.nope")).status_code == 404

    asyncio.run(go())
