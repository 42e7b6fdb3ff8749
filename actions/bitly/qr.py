"""bitly.get_qr_code_image: a Bitlink's QR code as an image a workflow can pass on.

Output:
    {"bitlink": "bit.ly/abc1234", "content_type": "image/png", "image_format": "png",
     "base64": "iVBORw0...", "data_url": "data:image/png;base64,iVBORw0...", "size_bytes": 1234}

Bitly answers with the QR code's record, whose `qr_code` holds the image as a data URL. The
image is taken apart here (a step that uploads or attaches it wants the content type and the
bytes; a step that embeds it wants the data URL), and `connector actions run ... --save-binary
FILE` writes the decoded bytes to a file.
"""

from __future__ import annotations

import base64
from typing import Any

from connector import errors as E
from connector.binary import split_data_url
from connector.runner import HandlerContext

__all__ = ["get_qr_code_image"]


async def get_qr_code_image(ctx: HandlerContext, inputs: dict[str, Any]) -> dict[str, Any]:
    image_format = inputs.get("image_format") or "png"
    body = await ctx.request(
        "GET",
        "/bitlinks/{bitlink}/qr",
        params={"image_format": image_format},
        path_params={"bitlink": inputs["bitlink"]},
    )
    qr_code = body.get("qr_code") if isinstance(body, dict) else None
    image = split_data_url(qr_code)
    if image is None:
        raise E.FatalError(
            "Bitly's QR code answer holds no base64 image (qr_code is missing or not a data URL)",
            where=ctx.action_id,
        )
    content_type, data = image
    encoded = base64.b64encode(data).decode("ascii")
    return {
        "bitlink": inputs["bitlink"],
        "content_type": content_type,
        "image_format": image_format,
        "base64": encoded,
        "data_url": f"data:{content_type};base64,{encoded}",
        "size_bytes": len(data),
    }
