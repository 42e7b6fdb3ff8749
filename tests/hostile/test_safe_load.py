"""Issue 7 points 8 and 9: one bounded loader for every user YAML/JSON document.

As found: an alias bomb in trigger.sample, recursive anchors and deep nesting gave
RecursionError/MemoryError tracebacks, /dev/zero was read without end, and a second `steps:`
silently replaced the first. Each case here is the document as found, through the public
entry points (workflow loading, the CLI's JSON options, JSON input values, manifests).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from connector.catalog import load_catalog
from connector.catalog.loader import read_manifests
from connector.engine.workflow import WorkflowInvalid, load_workflow, parse_workflow_text
from connector.errors import InvalidConfiguration, InvalidInput
from connector.safe_load import MAX_BYTES, MAX_DEPTH, load_json, load_yaml, read_text

from .conftest import PeakGrowth

ALIAS_BOMB = """\
name: bomb
trigger:
  sample:
    a: &a [x, x, x, x, x, x, x, x, x]
    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
    d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
    e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
    f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
    g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
    h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
    i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
steps:
  - {id: u, action: bitly.get_user, inputs: {}}
"""
STEPS = "  - {id: u, action: bitly.get_user, inputs: {}}\n"


def _block_nesting(levels: int) -> str:
    return "    " + "- " * levels + "x\n"  # block sequences, each inside the one before


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ALIAS_BOMB, "expands to more than 1,000,000 values"),
        ("name: r\ntrigger: {sample: &a [*a]}\nsteps:\n" + STEPS, "contains it (a recursive"),
        ("name: r\ntrigger: {sample: &a {k: *a}}\nsteps:\n" + STEPS, "contains it (a recursive"),
        ("name: d\ntrigger: {sample: " + "[" * 5000 + "]" * 5000 + "}\nsteps:\n" + STEPS,
         f"nested deeper than {MAX_DEPTH} levels"),
        ("name: d\ntrigger: {sample: " + "[" * 300 + "]" * 300 + "}\nsteps:\n" + STEPS,
         f"nested deeper than {MAX_DEPTH} levels"),
        ("name: d\ntrigger:\n  sample:\n" + _block_nesting(400) + "steps:\n" + STEPS,
         f"nested deeper than {MAX_DEPTH} levels"),
        ('{"name": "j", "steps": ' + "[" * 5000 + "]" * 5000 + "}",
         f"nested deeper than {MAX_DEPTH} levels"),
        ("name: n\nretry: {initial_delay: .nan}\nsteps:\n" + STEPS, ".nan is not a finite number"),
        ("name: n\nretry: {max_delay: .inf}\nsteps:\n" + STEPS, ".inf is not a finite number"),
    ],
    ids=["alias-bomb", "recursive-list", "recursive-map", "deep-flow", "deep-300", "deep-block",
         "deep-json", "nan", "inf"],
)  # fmt: skip
def test_hostile_workflow_documents_fail_with_one_clear_error(text: str, expected: str) -> None:
    grown = PeakGrowth()
    started = time.thread_time()
    with pytest.raises(WorkflowInvalid) as info:
        parse_workflow_text(text, "hostile.yaml")
    message = str(info.value)
    assert expected in message, message
    assert message.startswith("hostile.yaml") and "\n" not in message
    assert time.thread_time() - started < 2.0
    assert grown.mib() < 50, f"peak RSS grew by {grown.mib():.0f} MiB"


def test_a_second_steps_key_is_an_error_naming_both_lines() -> None:
    text = (
        "name: dup\nsteps:\n" + STEPS + "output: {}\nsteps:\n  - {id: v, action: x, inputs: {}}\n"
    )
    with pytest.raises(WorkflowInvalid) as info:
        parse_workflow_text(text, "dup.yaml")
    assert str(info.value) == (
        "dup.yaml:5: invalid workflow: syntax: key 'steps' appears twice in one mapping, on "
        "lines 2 and 5; the second would silently replace the first"
    )


def test_duplicate_keys_in_a_json_workflow_and_nested_mappings() -> None:
    text = '{\n  "name": "j",\n  "steps": [],\n  "steps": [{"id": "x"}]\n}'
    with pytest.raises(WorkflowInvalid, match=r"'steps' appears twice .* lines 3 and 4"):
        parse_workflow_text(text, "dup.json")
    nested = "name: n\nsteps:\n  - id: a\n    inputs: {x: 1,\n      x: 2}\n    action: b\n"
    with pytest.raises(WorkflowInvalid, match=r"'x' appears twice .* lines 4 and 5"):
        parse_workflow_text(nested, "n.yaml")


def test_merge_keys_and_repeated_keys_in_different_mappings_are_fine() -> None:
    text = "base: &b {x: 1}\na: {<<: *b, y: 2}\nb: {x: 3}\nc: [{x: 1}, {x: 2}]\n"
    assert load_yaml(text) == {"base": {"x": 1}, "a": {"x": 1, "y": 2}, "b": {"x": 3},
                               "c": [{"x": 1}, {"x": 2}]}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1,\n "b": {"a": 2},\n "a": 3}', "key 'a' appears twice in one object, on lines 1 and 3"),  # noqa: E501
        ('{"x": "a\\":", "b": [{"c": 1, "c": 2}]}', "key 'c' appears twice"),
        ("[" * 5000 + "]" * 5000, f"nested deeper than {MAX_DEPTH} levels"),
        ("[" * 150 + "]" * 150, f"nested deeper than {MAX_DEPTH} levels"),
        ('{"a": NaN}', "NaN is not a finite number"),
        ('{"a": -Infinity}', "-Infinity is not a finite number"),
        ("{bad", "not valid JSON"),
    ],
)  # fmt: skip
def test_json_bounds(text: str, expected: str) -> None:
    with pytest.raises(InvalidInput, match=None) as info:
        load_json(text, "--trigger")
    assert expected in str(info.value) and str(info.value).startswith("--trigger")


def test_dev_zero_is_read_only_up_to_the_bound() -> None:
    started = time.thread_time()
    with pytest.raises(InvalidInput, match="larger than 4 MiB"):
        read_text("/dev/zero", what="trigger file")
    assert time.thread_time() - started < 2.0


def test_dev_zero_as_a_workflow_file() -> None:
    with pytest.raises(InvalidConfiguration, match="the workflow file is larger than 4 MiB"):
        load_workflow("/dev/zero", load_catalog())


def test_read_text_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="workflow file not found"):
        read_text(tmp_path / "nope.yaml", what="workflow file")
    with pytest.raises(InvalidInput, match="is a folder"):
        read_text(tmp_path, what="workflow file")
    (tmp_path / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    with pytest.raises(InvalidInput, match="not UTF-8 text"):
        read_text(tmp_path / "latin1.yaml")
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (MAX_BYTES + 1))
    with pytest.raises(InvalidInput, match="larger than"):
        read_text(big)


def test_a_json_input_value_too_deep_is_a_type_error_not_a_crash() -> None:
    catalog = load_catalog()
    action = next(a for a in catalog.actions.values() if any(i.type == "array" for i in a.inputs))
    key = next(i.key for i in action.inputs if i.type == "array")
    with pytest.raises(InvalidInput, match=f"input '{key}'"):
        catalog.prepare_inputs(action.id, {key: "[" * 100_000}, {})


def test_manifests_are_read_through_the_same_loader(tmp_path: Path) -> None:
    source = load_catalog().get("bitly.get_user").source
    assert source is not None
    app_dir = tmp_path / "bitly"
    app_dir.mkdir()
    (app_dir / "app.yaml").write_text((source.parent / "app.yaml").read_text())
    text = source.read_text()
    (app_dir / "get_user.yaml").write_text(text + "\nkey: get_user\n")
    result = read_manifests(tmp_path)
    problems = [str(e) for e in result.errors]
    assert any("'key' appears twice" in p and "get_user.yaml" in p for p in problems), problems
