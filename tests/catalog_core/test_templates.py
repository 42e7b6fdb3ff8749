"""The template sandbox: both syntaxes, native types, strict undefined, the attack table."""

from __future__ import annotations

import time

import pytest

from connector.catalog.templates import render, template_references
from connector.errors import TemplateError

CTX = {
    "trigger": {
        "unit": "day",
        "units": "7",
        "count": 3,
        "tags": ["a", "b"],
        "token": "s3cr3t-value",
    },
    "steps": {"list": {"output": {"links": [{"id": "bit.ly/a"}, {"id": "bit.ly/b"}]}}},
    "item": {"url": "https://example.com"},
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("<<trigger.unit>>", "day"),
        ("{{trigger.unit}}", "day"),
        ("{{ trigger.unit }}", "day"),
        ("<<trigger.count>>", 3),
        ("  <<trigger.count>> ", 3),
        ("<<trigger.tags>>", ["a", "b"]),
        ("<<steps.list.output.links[1].id>>", "bit.ly/b"),
        ("<<steps.list.output.links.0.id>>", "bit.ly/a"),
        ("<<steps.list.output.links|map(attribute='id')|list>>", ["bit.ly/a", "bit.ly/b"]),
        ("<<trigger.missing|default(5)>>", 5),
        ("<<trigger.units|int + 1>>", 8),
        ("<<trigger.unit|upper>>", "DAY"),
        ("last <<trigger.units>> {{trigger.unit}}s", "last 7 days"),
        ("tags: <<trigger.tags>>", 'tags: ["a", "b"]'),
        ("plain text", "plain text"),
        ("<<trigger.unit>> and <<trigger.count>>", "day and 3"),
    ],
)
def test_renders(template: str, expected: object) -> None:
    assert render(template, CTX) == expected


def test_walks_dicts_and_lists() -> None:
    value = {"a": ["<<trigger.count>>", {"b": "{{item.url}}"}], "c": 1}
    assert render(value, CTX) == {"a": [3, {"b": "https://example.com"}], "c": 1}


def test_undefined_path_names_path_and_existing_keys_never_values() -> None:
    with pytest.raises(TemplateError) as info:
        render("<<trigger.unitz>>", CTX, where="bitly.x: input 'unit'")
    message = str(info.value)
    assert "trigger.unitz" in message and "bitly.x: input 'unit'" in message
    for key in ("unit", "units", "count", "tags", "token"):
        assert key in message
    for value in ("day", "s3cr3t-value", "'7'"):
        assert value not in message


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("<<nope.x>>", "undefined name 'nope'; the context has keys: item, steps, trigger"),
        ("<<trigger.unit.x>>", "'trigger.unit' is a string, not an object"),
        ("<<steps.list.output.links[5]>>", "'steps.list.output.links' is a list of 2 items"),
        ("<<steps.lst.output>>", "'steps' has keys: list"),
    ],
)
def test_undefined_messages(template: str, expected: str) -> None:
    with pytest.raises(TemplateError, match="undefined") as info:
        render(template, CTX)
    assert expected in str(info.value)


ATTACKS = [
    ("<<trigger.__class__>>", "'_' are not allowed"),
    ("<<trigger['__class__']>>", "'_' are not allowed"),
    ("<<trigger.__class__.__mro__>>", "'_' are not allowed"),
    ("<<trigger.mro>>", "undefined path 'trigger.mro'"),
    ("<<''.__class__.__subclasses__()>>", "not allowed"),
    ("<<cycler.__init__.__globals__>>", "'_' are not allowed"),
    ("<<cycler>>", "undefined name 'cycler'"),
    ("<<joiner>>", "undefined name 'joiner'"),
    ("<<namespace>>", "undefined name 'namespace'"),
    ("<<dict>>", "undefined name 'dict'"),
    ("<<range(10**9)>>", "calling functions or methods is not allowed"),
    ("<<range>>", "undefined name 'range'"),
    ("<<lipsum()>>", "calling functions or methods is not allowed"),
    ("<<self>>", "'self' is not available"),
    ("<<self._TemplateReference__context>>", "not allowed"),
    ("<<config>>", "undefined name 'config'"),
    ("<<'a' * 1000000000>>", "repetition larger than"),
    ("<<[1] * 100000000>>", "repetition larger than"),
    ("<<(trigger.unit ~ 'x') * 99999>>", "repetition larger than"),
    ("<<2 ** 100000>>", "the power is too large"),
    ("<<'%s' % trigger>>", "string formatting with % is not allowed"),
    ("<<'%999999999d' % 1>>", "string formatting with % is not allowed"),
    ("<<'{0.__class__}'.format(trigger)>>", "calling functions or methods is not allowed"),
    ("<<trigger.unit.format>>", "undefined path"),
    ("<<trigger|attr('__class__')>>", "filter 'attr' is not available"),
    ("<<trigger.unit|format(1)>>", "filter 'format' is not available"),
    ("<<trigger.unit|center(1000000000)>>", "filter 'center' is not available"),
    ("<<trigger.tags|batch(100000000, 0)|list>>", "filter 'batch' is not available"),
    ("<<" + "(" * 200 + "1" + ")" * 200 + ">>", "nested deeper than"),
    ("<<" + "[" * 200 + "]" * 200 + ">>", "nested deeper than"),
    ("<<" + "a." * 600 + "b>>", "longer than"),
    ("<<trigger.>>", "syntax error"),
    ("<<trigger.unit}>>", "syntax error"),
    ("<<   >>", "empty expression"),
    ("<<1/0>>", "ZeroDivisionError"),
    ("<<trigger.keys>>", "undefined path 'trigger.keys'"),
]


@pytest.mark.parametrize(("template", "expected"), ATTACKS, ids=[a[0][:40] for a in ATTACKS])
def test_attack_table(template: str, expected: str) -> None:
    started = time.perf_counter()
    with pytest.raises(TemplateError) as info:
        render(template, CTX)
    assert expected in str(info.value)
    assert "s3cr3t-value" not in str(info.value)
    assert time.perf_counter() - started < 1.0


def test_syntax_error_names_the_template() -> None:
    with pytest.raises(TemplateError, match=r"template '<<trigger\.>>': syntax error"):
        render({"x": "<<trigger.>>"}, CTX)


def test_references() -> None:
    value = {
        "a": "<<trigger.units>>",
        "b": ["{{steps.list.output.links|length}}", "<<item.url ~ trigger['unit']>>"],
        "c": 7,
    }
    assert template_references(value) == [
        "trigger.units",
        "steps.list.output.links",
        "item.url",
        "trigger.unit",
    ]
    assert template_references("no templates") == []
    with pytest.raises(TemplateError):
        template_references("<<a.>>")
