"""The template sandbox: both syntaxes, native types, strict undefined, the attack table."""

from __future__ import annotations

import json
import time

import pytest

from connector.catalog.templates import _spans, has_template, render, template_references
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
    started = time.thread_time()
    with pytest.raises(TemplateError) as info:
        render(template, CTX)
    assert expected in str(info.value)
    assert "s3cr3t-value" not in str(info.value)
    assert time.thread_time() - started < 1.0


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


# ---------------------------------------------------------------- a second, adversarial table

SECRET = "sk_live_PLANTED_0123456789abcdef"
HOSTILE = {
    "trigger": {
        "token": SECRET,
        "tags": ["a", SECRET],
        "n": 7,
        "empty": [],
        "nested": {"k": SECRET},
        "big": list(range(20_000)),
    },
    "steps": {"a": {"output": {"t": "<<trigger.token>>", "u": "{{trigger.token}}"}}},
}

HOSTILE_ATTACKS = [
    # computed keys and attributes: the key is a context value, never to be quoted
    ("<<trigger[trigger.token]>>", "computed at run time"),
    ("<<trigger.nested[trigger.token]>>", "computed at run time"),
    ("<<trigger.tags[trigger.token]>>", "computed at run time"),
    ("<<trigger.tags|map(attribute=trigger.token)|list>>", "computed at run time"),
    ("<<trigger.tags|sort(attribute=trigger.token)>>", "computed at run time"),
    ("<<trigger.tags|unique(attribute=trigger.token)|list>>", "computed at run time"),
    ("<<trigger.tags|sum(attribute=trigger.token)>>", "computed at run time"),
    ("<<trigger.tags|select(trigger.token)|list>>", "No test named '***'"),
    # attribute access through item lookups, |attr, |map, subscripts, string escapes
    ("<<trigger[('_' * 2) ~ 'class' ~ ('_' * 2)]>>", "computed at run time"),
    ("<<trigger['\\x5f\\x5fclass\\x5f\\x5f']>>", "'_' are not allowed"),
    ("<<trigger['\\u005f_globals__']>>", "'_' are not allowed"),
    ("<<trigger.tags|map(attribute='__class__')|list>>", "computed at run time"),
    ("<<trigger.tags|map('attribute', '__class__')|list>>", "No filter named 'attribute'"),
    ("<<trigger.tags|map('attr', '__class__')|list>>", "No filter named 'attr'"),
    ("<<trigger.tags|selectattr('__class__')|list>>", "computed at run time"),
    ("<<trigger|attr('token')>>", "filter 'attr' is not available"),
    ("<<'{}'|format(trigger)>>", "filter 'format' is not available"),
    ("<<trigger.token.upper>>", "'trigger.token' is a string, not an object"),
    ("<<trigger.token.split>>", "'trigger.token' is a string, not an object"),
    ("<<trigger.items>>", "undefined path 'trigger.items'"),
    ("<<trigger.pop>>", "undefined path 'trigger.pop'"),
    ("<<trigger.update>>", "undefined path 'trigger.update'"),
    ("<<trigger.tags.append>>", "'trigger.tags' is a list, not an object"),
    ("<<trigger.nested.k.__len__>>", "'_' are not allowed"),
    ("<<{}.__class__>>", "'_' are not allowed"),
    ("<<loop>>", "undefined name 'loop'"),
    ("<<caller>>", "undefined name 'caller'"),
    # filters on the wrong type: one clear error, never an AttributeError escaping
    ("<<trigger.tags|dictsort>>", "cannot evaluate: AttributeError"),
    ("<<trigger.n|join>>", "cannot evaluate: TypeError"),
    ("<<trigger.empty|first>>", "No first item, sequence was empty"),
    ("<<trigger.empty|max>>", "No aggregated item, sequence was empty"),
    ("<<trigger.n is divisibleby 0>>", "ZeroDivisionError"),
    # allocation and CPU bombs
    ("<<trigger|tojson(indent=100000000)>>", "takes a number from 0 to 8"),
    ("<<trigger.big|join('x' * 99999)>>", "|join would build more than"),
    ("<<trigger.big|map('string')|join('x' * 99999)>>", "|join would build more than"),
    ("<<trigger.big|map('string')|map('list')|sum(start=[])>>", "|sum adds numbers only"),
    ("<<(9 ** 9) ** (9 ** 9)>>", "the power is too large"),
    ("<<(10 ** 1000) ** 4>>", "the power is too large"),
    ("<<10.0 ** 400>>", "OverflowError"),
    ("<<'a' * 1000 * 1000>>", "repetition larger than"),
    ("<<['a' * 99999] * 99999>>", "repetition larger than"),
    ("<<trigger.big * 100>>", "repetition larger than"),
    ("<<" + "x" * 5000 + ">>", "longer than"),
    ("<<" + "a|" * 400 + "a>>", "filter 'a' is not available"),
]


@pytest.mark.parametrize(
    ("template", "expected"), HOSTILE_ATTACKS, ids=[a[0][:50] for a in HOSTILE_ATTACKS]
)
def test_hostile_table_never_prints_a_context_value(template: str, expected: str) -> None:
    started = time.thread_time()
    with pytest.raises(TemplateError) as info:
        render(template, HOSTILE, where="bitly.x: input 'title'")
    message = str(info.value)
    assert expected in message, message
    assert SECRET not in message and SECRET.upper() not in message
    assert time.thread_time() - started < 1.0


def test_bounded_filters_still_work() -> None:
    assert render("<<trigger.big|sum>>", HOSTILE) == sum(range(20_000))
    assert render("<<trigger.tags|join(',')>>", HOSTILE) == f"a,{SECRET}"
    assert render("<<trigger.big|map('string')|join|length>>", HOSTILE) > 20_000
    assert render("<<trigger.nested|tojson(indent=2)>>", HOSTILE).startswith("{\n  ")
    assert render("<<'\\u005f\\u005fx'>>", HOSTILE) == "__x"  # a string, not an attribute


@pytest.mark.parametrize(
    "template",
    ["<<steps.a.output.t>>", "{{steps.a.output.u}}", "see <<steps.a.output.t>>", "<<steps.a>>"],
)
def test_values_produced_by_templates_are_never_rendered_again(template: str) -> None:
    rendered = render(template, HOSTILE)
    assert SECRET not in json.dumps(rendered)
    assert "<<trigger.token>>" in json.dumps(rendered) or "{{trigger.token}}" in json.dumps(
        rendered
    )


def test_a_very_long_template_renders_in_bounded_time() -> None:
    text = "x <<trigger.n>> " * 5_000  # 5,000 expressions in one value
    started = time.thread_time()
    assert render(text, HOSTILE).count("x 7 ") == 5_000
    assert time.thread_time() - started < 2.0


@pytest.mark.parametrize("text", ["<<" * 32_000, "{{" * 32_000, "x {{ y << " * 20_000])
def test_unclosed_delimiters_are_scanned_in_linear_time(text: str) -> None:
    started = time.thread_time()  # the old regex took 17 s on 64 KB of '<<'
    assert render(text, HOSTILE) == text and not has_template(text)
    assert len(_spans("<<trigger.n>>" * 20_000 + text)) == 20_000
    assert time.thread_time() - started < 1.0


def test_span_scanner_finds_what_the_reference_regex_finds() -> None:
    import random
    import re

    reference = re.compile(r"<<(.*?)>>|\{\{(.*?)\}\}", re.DOTALL)
    pieces = ["<", ">", "{", "}", "a", " ", "<<", ">>", "{{", "}}"]
    rng = random.Random(7)
    for _ in range(3_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 24)))
        expected = [
            (m.start(), m.end(), m.group(1) if m.group(1) is not None else m.group(2))
            for m in reference.finditer(text)
        ]
        assert _spans(text) == expected, text
