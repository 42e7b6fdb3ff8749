"""A template that is exactly one path is read without Jinja: same values, same errors.

Every case is rendered twice, with the fast path on and off (`templates.FAST_PATH`), and
the results, or the TemplateErrors' messages and locations, must be identical.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from markupsafe import Markup

from connector.catalog import templates
from connector.catalog.templates import render
from connector.errors import TemplateError


class _Frozen(Mapping[str, Any]):
    """A Mapping that is not a dict (the engine never builds one, but a caller may)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


CTX: dict[str, Any] = {
    "item": "bit.ly/abc1234",
    "index": 3,
    "result": {"x": 1},  # the name the compiled template assigns to
    "trigger": {
        "links": ["bit.ly/a", "bit.ly/b"],
        "unit": "day",
        "n": 7,
        "ratio": 0.5,
        "on": True,
        "none": None,
        "empty": {},
        "markup": Markup("<b>x</b>"),
        "tuple": ("t0", "t1"),
        "set": {1, 2},
        "object": object(),
        "nested": {"deeper": [{"id": "bit.ly/c", "tags": ["x"]}, None]},
        "ints": {1: "one", 0: "zero", 2.5: "float-key"},
        "frozen": _Frozen({"k": "v", "list": [1, 2]}),
        "with_undefined": [1, 2],
    },
    "steps": {"list": {"output": {"links": [{"id": "bit.ly/a"}, {"id": "bit.ly/b"}]}}},
}

EXPRESSIONS = [
    "item", "index", "result", "result.x", "trigger", "trigger.links", "trigger.links[0]",
    "trigger.links.1", "trigger.links[-1]", "trigger.links[2]", "trigger.links[-3]",
    "trigger.links.first", "trigger.unit", "trigger.unit[0]", "trigger.unit.0",
    "trigger.unit.upper", "trigger.n", "trigger.n.real", "trigger.ratio", "trigger.on",
    "trigger.none", "trigger.none.x", "trigger.empty", "trigger.empty.x", "trigger.markup",
    "trigger.tuple", "trigger.tuple[1]", "trigger.set", "trigger.object", "trigger.nested",
    "trigger.nested.deeper[0].id", "trigger.nested.deeper[0].tags[0]",
    "trigger.nested.deeper[1].id", "trigger.nested.deeper.id", "trigger.ints[1]",
    "trigger.ints[0]", "trigger.ints[True]", "trigger.ints[2.5]", "trigger.ints['1']",
    "trigger.ints.one",
    "trigger.frozen", "trigger.frozen.k", "trigger.frozen.list[1]", "trigger.frozen.missing",
    "trigger['unit']", "trigger[\"links\"][0]", "steps.list.output.links[1].id",
    "steps.list.output.links.0.id", "steps.missing.output", "steps.list.output.links[5].id",
    "missing", "missing.path", "Item", "trigger.unitz", "trigger.links[0].id",
    "trigger.links[1.5]", "trigger.links[None]", "trigger.links[True]", "trigger._private",
    "__class__", "trigger.__class__", "self", "trigger.links[0:1]", "trigger.unit|upper",
    "trigger.links|length", "trigger.n + 1", "trigger.unitz|default('d')", "item ~ '!'",
    "trigger[item]", "'literal'", "7", "none", "true",
]  # fmt: skip


def _both(template: str, context: Mapping[str, Any], monkeypatch: pytest.MonkeyPatch) -> tuple:
    outcomes = []
    for fast in (True, False):
        monkeypatch.setattr(templates, "FAST_PATH", fast)
        try:
            value = render(template, context, where="bitly.x: input 'bitlink'")
            outcomes.append(("value", type(value), value))
        except TemplateError as exc:
            outcomes.append(("error", exc.message, exc.where))
    return tuple(outcomes)


@pytest.mark.parametrize("expr", EXPRESSIONS)
@pytest.mark.parametrize("form", ["{{ %s }}", "<<%s>>", "  {{%s}} ", "[{{ %s }}]"])
def test_same_value_or_error_as_jinja(
    expr: str, form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, slow = _both(form % expr, CTX, monkeypatch)
    assert fast == slow


def test_errors_name_the_path_and_existing_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = _both("{{ trigger.unitz }}", CTX, monkeypatch)
    assert fast == slow
    assert fast[0] == "error"
    assert "undefined path 'trigger.unitz'; 'trigger' has keys:" in fast[1]
    assert "unit" in fast[1] and "day" not in fast[1]  # names only, never values
    assert fast[2] == "bitly.x: input 'bitlink'"


def test_plain_paths_skip_jinja(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_jinja(expr: str) -> Any:
        raise AssertionError(f"Jinja was used for {expr!r}")

    monkeypatch.setattr(templates, "_compile", no_jinja)
    assert render("{{ item }}", CTX) == "bit.ly/abc1234"
    assert render("<<trigger.nested.deeper[0]>>", CTX) == {"id": "bit.ly/c", "tags": ["x"]}
    assert render("{{ trigger.tuple }}", CTX) == ["t0", "t1"]  # made JSON, as Jinja's is


def test_markup_comes_back_as_a_plain_string(monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = _both("{{ trigger.markup }}", CTX, monkeypatch)
    assert fast == slow == ("value", str, "<b>x</b>")


def test_context_with_a_non_string_key_gives_jinjas_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    context = {"item": "x", 1: "y"}
    fast, slow = _both("{{ item }}", context, monkeypatch)
    assert fast == slow and fast[0] == "error"


def test_too_long_a_result_is_refused_either_way(monkeypatch: pytest.MonkeyPatch) -> None:
    context = {"item": "x" * (templates.MAX_STRING + 1)}
    fast, slow = _both("{{ item }}", context, monkeypatch)
    assert fast == slow and fast[0] == "error" and "longer than" in fast[1]


def _random_value(rng: random.Random, depth: int) -> Any:
    kinds = ["str", "int", "float", "bool", "none", "markup", "object"]
    if depth < 4:
        kinds += ["dict", "dict", "list", "list", "tuple"]
    kind = rng.choice(kinds)
    if kind == "dict":
        keys = rng.sample(["a", "b", "id", "0", "x_y", "Ab"], rng.randint(0, 4))
        data: dict[Any, Any] = {k: _random_value(rng, depth + 1) for k in keys}
        if rng.random() < 0.2:
            data[rng.choice([0, 1, True])] = _random_value(rng, depth + 1)
        return data
    if kind in ("list", "tuple"):
        items = [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
        return items if kind == "list" else tuple(items)
    return {
        "str": lambda: rng.choice(["", "abc", "bit.ly/x"]),
        "int": lambda: rng.randint(-3, 3),
        "float": lambda: rng.choice([0.5, -1.0]),
        "bool": lambda: rng.random() < 0.5,
        "none": lambda: None,
        "markup": lambda: Markup("<i>m</i>"),
        "object": lambda: object(),
    }[kind]()


def _random_path(rng: random.Random) -> str:
    out = rng.choice(["item", "trigger", "steps", "nothing"])
    for _ in range(rng.randint(0, 4)):
        segment = rng.choice(["a", "b", "id", "0", "x_y", "Ab", "zz", 0, 1, -1, 2, True])
        if isinstance(segment, str) and not segment[0].isdigit() and rng.random() < 0.6:
            out += f".{segment}"
        elif isinstance(segment, int) and not isinstance(segment, bool) and segment >= 0:
            out += rng.choice([f".{segment}", f"[{segment}]"])
        else:
            out += f"[{segment!r}]"
    return out


def test_random_paths_over_random_data_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(20261123)
    fast_values = 0
    for _ in range(3000):
        context = {
            "item": _random_value(rng, 0),
            "trigger": _random_value(rng, 1),
            "steps": _random_value(rng, 2),
        }
        template = "{{ " + _random_path(rng) + " }}"
        fast, slow = _both(template, context, monkeypatch)
        assert fast == slow, template
        fast_values += fast[0] == "value"
    assert fast_values > 300  # the cases cover resolved paths, not only errors
