"""`catalog list` from its index: the same listing as reading the manifests, and never a
stale one (connector/cli/catalog_index.py).

Each test lists a copy of the real manifests (`--root`) whose files are dated a minute back,
so the index is trusted (a file changed in the last 2 s never is); an edit is dated later
than that, as a real one would be.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from connector.cli import catalog_index, main

MANIFESTS = Path(__file__).resolve().parents[1] / "manifests"


def _age(path: Path, seconds: float) -> None:
    stamp = time.time() - seconds
    for p in [path, *path.rglob("*")]:
        os.utime(p, (stamp, stamp))


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CONNECTOR_HOME", str(tmp_path / "home"))
    target = tmp_path / "manifests"
    shutil.copytree(MANIFESTS, target)
    _age(target, 60)
    return target


def _index(tmp_path: Path) -> Path:
    return tmp_path / "home" / "cache" / "catalog-list.json"


def _list(root: Path, capsys: pytest.CaptureFixture[str], *more: str) -> tuple[int, str, str]:
    code = main(["catalog", "list", "--root", str(root), *more])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _read_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on a read of the manifests is an error: only the index can answer."""

    def refuse(root: Path | None = None) -> None:
        raise AssertionError("the manifests were read")

    monkeypatch.setattr("connector.catalog.read_catalog", refuse)


def _edit(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new, 1))
    _age(path, 10)  # later than the copy, older than the racy window
    _age(path.parent, 10)


def test_the_index_lists_what_the_manifests_do(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    read = [_list(root, capsys), _list(root, capsys, "--json")]
    assert _index(tmp_path).is_file()
    _read_fails(monkeypatch)
    assert [_list(root, capsys), _list(root, capsys, "--json")] == read
    assert _list(root, capsys, "--app", "shorten_dev")[0] == 0
    code, _, err = _list(root, capsys, "--app", "nope")
    assert code == 2 and "unknown app 'nope'; apps: bitly, shorten_dev" in err
    rows = json.loads(read[1][1])
    assert len(rows) == len(list(MANIFESTS.glob("*/*.yaml"))) - 2  # less the two app.yaml


def test_an_edited_manifest_is_read_again(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _list(root, capsys)
    _edit(root / "bitly" / "get_user.yaml", "name: ", "name: Renamed ")
    code, out, _ = _list(root, capsys)
    assert code == 0
    assert any(line.startswith("bitly.get_user") and "Renamed" in line for line in out.splitlines())


def test_an_added_or_removed_manifest_is_seen(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _list(root, capsys)
    source = root / "bitly" / "get_user.yaml"
    copy = root / "bitly" / "get_user_again.yaml"
    copy.write_text(source.read_text().replace("key: get_user", "key: get_user_again", 1))
    _age(root / "bitly", 10)
    assert "bitly.get_user_again" in _list(root, capsys)[1]
    copy.unlink()
    _age(root / "bitly", 5)
    assert "bitly.get_user_again" not in _list(root, capsys)[1]


def test_a_broken_manifest_is_an_error_every_time(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _list(root, capsys)
    _edit(root / "bitly" / "get_user.yaml", "key: get_user", "key: get_someone")
    for _ in range(2):
        code, _, err = _list(root, capsys)
        assert code == 2
        assert "get_user.yaml: key: 'get_someone' does not match the file name" in err


def test_a_file_changed_just_now_is_not_trusted(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Changed again within the same timestamp tick, it would look unchanged: no index.
    (root / "bitly" / "get_user.yaml").touch()
    assert _list(root, capsys)[0] == 0
    assert not _index(tmp_path).exists()


def test_a_damaged_index_is_ignored_and_replaced(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = _list(root, capsys)
    for damage in ("{not json", '{"key": 1}', "[]", '{"key": null, "apps": 3}'):
        _index(tmp_path).write_text(damage)
        assert _list(root, capsys) == expected
        assert json.loads(_index(tmp_path).read_text())["key"]["root"] == str(root)


def test_an_index_of_other_sources_is_not_used(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _list(root, capsys)
    other = tmp_path / "other"
    shutil.copytree(root, other)
    shutil.rmtree(other / "shorten_dev")
    _age(other, 30)
    code, out, _ = _list(other, capsys)
    assert code == 0 and "shorten_dev." not in out and "bitly.get_user" in out


def test_a_home_that_cannot_be_written_still_lists(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the home folder should be")
    monkeypatch.setenv("CONNECTOR_HOME", str(blocked))
    code, out, err = _list(root, capsys)
    assert code == 0 and "bitly.get_user" in out and err == ""


def test_the_code_that_checks_manifests_is_in_the_key() -> None:
    key = catalog_index._key(None, [])
    code = key["code"]
    assert any(name.endswith("catalog") and "models.py" in v["files"] for name, v in code.items())
    assert any(name.endswith("plugins.py") for name in code)
