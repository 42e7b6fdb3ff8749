"""QR codes as binary a workflow can pass on, and `actions run --save-binary FILE`."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from connector.binary import binary_content, split_data_url
from connector.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["actions", "run", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_data_urls_and_base64_fields_are_read_and_anything_else_is_not() -> None:
    png = base64.b64encode(PNG).decode()
    assert split_data_url(f"data:image/png;base64,{png}") == ("image/png", PNG)
    assert split_data_url(f"data:image/svg+xml;charset=utf-8;base64,{png}") == (
        "image/svg+xml",
        PNG,
    )
    assert split_data_url("data:image/png,plain") is None  # not base64
    assert split_data_url("data:image/png;base64,@@@") is None
    assert split_data_url(42) is None
    assert binary_content({"content_type": "image/png", "base64": png}) == ("image/png", PNG)
    assert binary_content({"id": "x", "qr_code": f"data:image/png;base64,{png}"}) == (
        "image/png",
        PNG,
    )
    assert binary_content({"id": "bit.ly/x"}) is None
    assert binary_content([png]) is None


@pytest.mark.slow
@pytest.mark.parametrize(
    ("image_format", "content_type"), [("png", "image/png"), ("svg", "image/svg+xml")]
)
def test_qr_code_image_comes_back_as_content_type_base64_and_data_url_and_saves_to_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], image_format: str, content_type: str
) -> None:
    saved = tmp_path / f"qr.{image_format}"
    code, out, err = run(
        capsys, "bitly.get_qr_code_image", "--input", "bitlink=https://bit.ly/spring-sale",
        "--input", f"image_format={image_format}", "--sandbox", "--json",
        "--save-binary", str(saved),
    )  # fmt: skip
    assert (code, err) == (0, "")
    output = json.loads(out)
    data = base64.b64decode(output["base64"])
    assert output["content_type"] == content_type
    assert output["data_url"] == f"data:{content_type};base64,{output['base64']}"
    assert output["size_bytes"] == len(data)
    assert saved.read_bytes() == data
    assert data.startswith(PNG) if image_format == "png" else b"<svg" in data


@pytest.mark.slow
def test_a_data_url_in_the_output_saves_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "qr.png"
    code, out, err = run(
        capsys, "bitly.create_qr_code", "--input", "bitlink=bit.ly/spring-sale",
        "--input", "color=1133ff", "--sandbox", "--json", "--save-binary", str(saved),
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert saved.read_bytes().startswith(PNG)
    assert json.loads(out)["qr_code"].startswith("data:image/png;base64,")


def test_save_binary_on_an_action_without_binary_output_is_refused_before_it_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "user.bin"
    # No --sandbox and no credential: refused before anything would be sent.
    code, out, err = run(capsys, "bitly.get_user", "--save-binary", str(saved))
    assert (code, out) == (2, "")
    assert err.startswith("error: bitly.get_user: --save-binary: bitly.get_user returns no binary")
    assert err.count("\n") == 1
    assert not saved.exists()


@pytest.mark.slow
def test_an_unwritable_file_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "missing-dir" / "qr.png"
    code, out, err = run(
        capsys, "bitly.get_qr_code_image", "--input", "bitlink=bit.ly/spring-sale", "--sandbox",
        "--save-binary", str(saved),
    )  # fmt: skip
    assert code == 2 and out == ""
    assert "cannot write the binary content" in err and err.count("\n") == 1
    assert not saved.exists() and not saved.parent.exists()
