"""Issue 7 points 7 and 10: template errors never state a property of a value, and every path
from a template to string formatting or repetition is bounded.

Each attack is run in a subprocess-free way but under a memory watch: the process's peak RSS
may not grow by more than 100 MB while the whole table runs (the 920 MB `divisibleby` case
alone would break it).
"""

from __future__ import annotations

import time

import pytest

from connector.catalog.templates import MAX_STRING, render
from connector.errors import TemplateError

from .conftest import PeakGrowth

SECRET = "sk_live_PLANTED_secret_0123456789"  # 33 characters
BIG = "x" * 900_000
CTX = {
    "trigger": {
        "token": SECRET,
        "n": 7,
        "big": BIG,
        "many": list(range(200_000)),
        "words": ["a", "b"],
    }
}

# (template, what the error says); every one must fail fast, bounded, and never say the secret
# or its length (33).
ATTACKS = [
    # point 10 as found: a test that formats with %
    ("{{ '%900000000d' is divisibleby 1 }}", "`is divisibleby` takes numbers only"),
    ("<<'%900000000d' is odd>>", "`is odd` takes numbers only"),
    ("<<'%900000000d' is even>>", "`is even` takes numbers only"),
    ("<<trigger.token is divisibleby 3>>", "`is divisibleby` takes numbers only"),
    ("<<'%s' % trigger.token>>", "string formatting with % is not allowed"),
    ("<<'%900000000d' % 1>>", "string formatting with % is not allowed"),
    # formatting and padding filters are not there at all
    ("<<'%s'|format(1)>>", "filter 'format' is not available"),
    ("<<trigger.token|center(900000000)>>", "filter 'center' is not available"),
    ("<<trigger.token|indent(900000000)>>", "filter 'indent' is not available"),
    ("<<trigger.token|wordwrap(1)>>", "filter 'wordwrap' is not available"),
    ("<<trigger.token|replace('s', trigger.big)>>", "filter 'replace' is not available"),
    ("<<trigger.words|batch(900000000, 'x')|list>>", "filter 'batch' is not available"),
    ("<<trigger.n is callable>>", "test 'callable' is not available"),
    ("<<range(900000000)|join>>", "calling functions or methods is not allowed"),
    # repetition and concatenation
    ("<<'x' * 900000000>>", "repetition larger than"),
    ("<<900000000 * 'x'>>", "repetition larger than"),
    ("<<trigger.many * 10>>", "repetition larger than"),
    ("<<" + "~".join(["trigger.big"] * 80) + ">>", "joining with ~ would build more than"),
    ("<<" + "+".join(["trigger.big"] * 80) + ">>", "joining values larger than"),
    ("<<" + "+".join(["trigger.many"] * 60) + ">>", "joining values larger than"),
    ("<<(trigger.big ~ trigger.big)|length>>", "would build more than"),
    ("<<[trigger.many, trigger.many, trigger.many, trigger.many]|join>>", "|join would build"),
    ("<<trigger.many|join(trigger.big)>>", "|join would build more than"),
    ("<<trigger.many|map('string')|join('x' * 99999)>>", "|join would build more than"),
    ("<<(9 ** 9) ** (9 ** 9)>>", "the power is too large"),
    # point 7 as found: truncate's assertion stated the secret's length
    ("<<trigger.token|truncate(5, true, trigger.token)>>", "cannot evaluate: AssertionError"),
    ("<<trigger.token|round(trigger.token)>>", "cannot evaluate: TypeError (in |round)"),
    ("<<trigger.words|first(trigger.token)>>", "cannot evaluate: TypeError (in |first)"),
]


@pytest.mark.parametrize(("template", "expected"), ATTACKS, ids=[a[0][:50] for a in ATTACKS])
def test_attack_is_refused_fast_and_says_nothing_of_a_value(template: str, expected: str) -> None:
    # CPU time of this thread: the render's own work, whatever else the machine runs
    started = time.thread_time()
    with pytest.raises(TemplateError) as info:
        render(template, CTX, where="steps.s.inputs.title")
    message = str(info.value)
    assert expected in message, message
    assert "steps.s.inputs.title" in message  # the path
    assert "template " in message  # and the template
    assert SECRET not in message and "33" not in message and "length >=" not in message
    assert "\n" not in message
    assert time.thread_time() - started < 2.0


def test_the_whole_table_stays_within_bounded_memory() -> None:
    grown = PeakGrowth()
    for template, _ in ATTACKS:
        with pytest.raises(TemplateError):
            render(template, CTX)
    assert grown.mib() < 100, f"peak RSS grew by {grown.mib():.0f} MiB"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("<<trigger.n is divisibleby 7>>", True),
        ("<<trigger.n is odd>>", True),
        ("<<8 is even>>", True),
        ("<<trigger.token ~ '!'>>", SECRET + "!"),
        ("<<'a' + 'b'>>", "ab"),
        ("<<[1] + [2]>>", [1, 2]),
        ("<<trigger.words|join(', ')>>", "a, b"),
        ("<<[{'a': 1}, {'a': 2}]|join(',', attribute='a')>>", "1,2"),
        ("<<trigger.words|join(trigger.n)>>", "a7b"),
        ("<<trigger.token|truncate(12, true, '...', 0)>>", "sk_live_P..."),
        ("<<trigger.big|length>>", len(BIG)),
        ("<<(trigger.big ~ 'y')|length>>", len(BIG) + 1),
    ],
)
def test_bounded_operations_still_work(template: str, expected: object) -> None:
    assert render(template, CTX) == expected


def test_a_result_just_under_the_bound_is_allowed() -> None:
    half = "y" * (MAX_STRING // 2)
    assert len(render("<<a ~ a>>", {"a": half})) == MAX_STRING
    with pytest.raises(TemplateError, match="would build more than"):
        render("<<a ~ a ~ 'z'>>", {"a": half})
