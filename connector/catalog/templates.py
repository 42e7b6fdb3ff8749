"""The one template environment: `<<path>>` (canonical) and `{{path}}` (the builders' form).

Each `<<...>>` / `{{...}}` holds one Jinja *expression* (never a statement), evaluated in an
ImmutableSandboxedEnvironment reduced to a data language:

- paths only: `a.b`, `a['b']`, `a[0]`, `a[1:3]` read keys of mappings and items of lists;
  no Python attribute is ever reachable, so `__class__`, `mro`, `__globals__` lead nowhere;
- no globals (range, lipsum, cycler, joiner, namespace, dict are gone) and no calls;
- a short list of filters (`|default`, `|lower`, `|join`, `|length`, `|int` ...) and tests
  (`is defined`, `is number`, `is divisibleby` ...);
- every path to string formatting or repetition is checked: `*`, `**`, `+` and `~` bound
  the size of their result, `%` never formats a string (and `is divisibleby`, `is odd` and
  `is even`, which use `%`, take numbers only), and `|join`, `|tojson` and `|sum` are
  bounded, so that no expression can allocate without bound (`|format`, `|center`,
  `|indent`, `|wordwrap`, `|replace` and `range` are simply not there);
- StrictUndefined: an undefined path is an error naming the path and the keys that do exist
  at the deepest level reached (names only, never values). A key computed at run time
  (`a[b.c]`, `|map(attribute=b.c)`) is never quoted, and any string of the context that an
  underlying error message repeats is masked: an error never prints the context's values.
  An error inside a filter or test names the template, the path and the filters and tests
  used, never the underlying message (it may state a property of a value, such as the
  length of a secret passed to `|truncate`).

A value that is exactly one template keeps the native type of its result; a string mixing
text and templates renders to text (None -> "", booleans -> true/false, lists and objects as
JSON). Every failure raises connector.errors.TemplateError.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import TemplateExpression
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import TemplateError as JinjaTemplateError
from jinja2.filters import make_attrgetter
from jinja2.parser import Parser
from jinja2.runtime import Context, StrictUndefined, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from connector.catalog.template_paths import (
    MISS,
    diagnose,
    dotted,
    paths_in,
    plain_path,
    resolve_plain,
)
from connector.errors import InvalidInput, TemplateError
from connector.lazy_array import LazyArray

__all__ = ["has_template", "is_one_template", "render", "template_references"]

_DELIMITERS = (("<<", ">>"), ("{{", "}}"))

MAX_EXPRESSION = 1_000  # characters inside one <<...>>
MAX_NESTING = 20  # brackets inside one expression
MAX_REPEAT = 100_000  # size of the result of `seq * n`
MAX_STRING = 1_000_000  # characters in any rendered string
MAX_POW_BITS = 4_096
MAX_INDENT = 8  # |tojson(indent=...)
_CACHED_TEXT_MAX = 1_000  # characters of a template string whose spans are kept
_MASK = "***"
# Jinja's own hints for |first, |last, |min, |max of an empty list (fixed text, no values).
_EMPTY_SEQUENCE = re.compile(r"No (first|last|aggregated) item, sequence was empty\.")

# Type and comparison tests; `callable`, `escaped`, `filter` and `test` say nothing about data.
_TESTS = (
    "!=", "<", "<=", "==", ">", ">=", "boolean", "defined", "divisibleby", "eq", "equalto",
    "even", "false", "float", "ge", "greaterthan", "gt", "in", "integer", "iterable", "le",
    "lessthan", "lower", "lt", "mapping", "ne", "none", "number", "odd", "sameas", "sequence",
    "string", "true", "undefined", "upper",
)  # fmt: skip

_FILTERS = (
    "abs", "capitalize", "count", "d", "default", "dictsort", "first", "float", "int",
    "items", "join", "last", "length", "list", "lower", "map", "max", "min", "reject",
    "rejectattr", "reverse", "round", "select", "selectattr", "sort", "string", "sum",
    "title", "tojson", "trim", "truncate", "unique", "upper", "urlencode", "wordcount",
)  # fmt: skip


class _GuardedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with `a ~ b ~ c` bounded like `+`: it joins strings directly
    (`str_join`), out of the sandbox's reach."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.guarded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _DataSandbox(ImmutableSandboxedEnvironment):
    """A sandbox where `.name` and `[key]` read data and nothing else."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _GuardedCodeGenerator

    def getattr(self, obj: Any, attribute: str) -> Any:
        return self.getitem(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, Mapping):
            if argument in obj:
                return obj[argument]
        elif (
            isinstance(obj, list | tuple | str | LazyArray)
            and isinstance(argument, int | slice)
            and not isinstance(argument, bool)
        ):
            if isinstance(obj, LazyArray) and isinstance(argument, slice):
                return _in_memory(obj, argument)
            try:
                return obj[argument]
            except IndexError:
                pass
        return self.undefined(obj=obj, name=str(argument))

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "%" and isinstance(left, str):
            raise _Refused("string formatting with % is not allowed in templates")
        if operator == "*":
            seq, n = (left, right) if isinstance(right, int) else (right, left)
            sized = isinstance(seq, str | list | tuple) and isinstance(n, int)
            if sized and n * max(1, _size(seq)) > MAX_REPEAT:
                raise _Refused(f"repetition larger than {MAX_REPEAT} is not allowed")
        sequences = operator == "+" and isinstance(left, str | list | tuple)
        if sequences and _size(left) + _size(right) > MAX_STRING:
            raise _Refused(f"joining values larger than {MAX_STRING} is not allowed")
        ints = isinstance(left, int) and isinstance(right, int)
        power = operator == "**" and ints and right > 0 and abs(left) > 1
        if power and right * abs(left).bit_length() > MAX_POW_BITS:
            raise _Refused("the power is too large")
        return super().call_binop(context, operator, left, right)

    def guarded_concat(self, values: tuple[Any, ...]) -> str:
        return "".join(_texts(values, "joining with ~"))


class _Refused(Exception):
    """A sandbox limit was hit during evaluation."""


def _size(obj: Any, depth: int = 0) -> int:
    if isinstance(obj, str):
        return len(obj)
    if depth > 20:
        return 1
    if isinstance(obj, list | tuple):
        return len(obj) + sum(_size(v, depth + 1) for v in obj)
    if isinstance(obj, Mapping):
        return len(obj) + sum(_size(v, depth + 1) for v in obj.values())
    return 1


def _text(value: Any, what: str) -> str:
    """str(value), refused before it is built when it would be larger than MAX_STRING."""
    if isinstance(value, str):
        return value
    if _size(value) > MAX_STRING:
        raise _Refused(f"{what} would build more than {MAX_STRING} characters")
    return str(value)


def _texts(values: Any, what: str, separator: str = "") -> list[str]:
    """The strings of `values`, as `"".join(map(str, values))` takes them, with the total
    checked as it grows: no intermediate string is ever larger than the bound."""
    out: list[str] = []
    total = 0
    for value in values:
        text = _text(value, what)
        total += len(text) + (len(separator) if out else 0)
        if total > MAX_STRING:
            raise _Refused(f"{what} would build more than {MAX_STRING} characters")
        out.append(text)
    return out


def _guarded_join(original: Callable[..., Any]) -> Callable[..., Any]:
    def join(eval_ctx: Any, value: Any, d: Any = "", attribute: Any = None) -> Any:
        if attribute is not None:
            value = map(make_attrgetter(eval_ctx.environment, attribute), value)
        separator = _text(d, "|join")
        return separator.join(_texts(value, "|join", separator))

    join.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return join


def _numbers_only(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    # These tests compute `value % n`: on a string that is printf formatting, and
    # `'%900000000d' is divisibleby 1` would build a 900 MB string.
    def test(value: Any, *args: Any) -> Any:
        for v in (value, *args):
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise _Refused(f"`is {name}` takes numbers only")
        return original(value, *args)

    return test


def _guarded_tojson(original: Callable[..., Any]) -> Callable[..., Any]:
    def tojson(eval_ctx: Any, value: Any, indent: Any = None) -> Any:
        if indent is not None and (not isinstance(indent, int) or not 0 <= indent <= MAX_INDENT):
            raise _Refused(f"|tojson(indent=...) takes a number from 0 to {MAX_INDENT}")
        return original(eval_ctx, value, indent)

    tojson.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return tojson


def _guarded_sum(original: Callable[..., Any]) -> Callable[..., Any]:
    # Summing lists or strings is quadratic; numbers are what `|sum` is for.
    def sum_(env: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
        if isinstance(start, bool) or not isinstance(start, int | float):
            raise _Refused("|sum adds numbers only (start must be a number)")
        return original(env, iterable, attribute, start)

    sum_.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return sum_


def _in_memory(lazy: LazyArray, index: slice | None = None) -> list[Any]:
    """`lazy` (or its slice) as a list, or the sandbox's refusal past LazyArray's bound."""
    try:
        return lazy.as_list() if index is None else lazy[index]
    except InvalidInput as exc:
        raise _Refused(exc.message) from None


def _bounded_lazy(original: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that builds a list of its whole input (`|list`, `|sort`, `|unique`,
    `|reverse`): a loop's lazy items become a list only within LazyArray's bound."""

    def bounded(*args: Any, **kwargs: Any) -> Any:
        at = 1 if getattr(original, "jinja_pass_arg", None) is not None else 0
        if len(args) > at and isinstance(args[at], LazyArray):
            args = (*args[:at], _in_memory(args[at]), *args[at + 1 :])
        return original(*args, **kwargs)

    if getattr(original, "jinja_pass_arg", None) is not None:
        bounded.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return bounded


def _make_env() -> _DataSandbox:
    env = _DataSandbox(undefined=StrictUndefined, autoescape=False)
    env.globals.clear()
    env.filters = {name: env.filters[name] for name in _FILTERS}
    env.filters["join"] = _guarded_join(env.filters["join"])
    env.filters["tojson"] = _guarded_tojson(env.filters["tojson"])
    env.filters["sum"] = _guarded_sum(env.filters["sum"])
    for name in ("list", "sort", "unique", "reverse", "dictsort"):
        env.filters[name] = _bounded_lazy(env.filters[name])
    env.tests = {name: env.tests[name] for name in _TESTS}
    for name in ("divisibleby", "odd", "even"):
        env.tests[name] = _numbers_only(name, env.tests[name])  # type: ignore[arg-type]
    return env


_ENV = _make_env()


# ---------------------------------------------------------------- parsing and static checks


def _show(source: str) -> str:
    text = source if len(source) <= 80 else source[:77] + "..."
    return repr(text)


def _fail(source: str, problem: str, where: str | None) -> TemplateError:
    return TemplateError(f"template {_show(source)}: {problem}", where=where)


def _nesting(expr: str) -> int:
    depth = deepest = 0
    for ch in expr:
        if ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth -= 1
    return deepest


@lru_cache(maxsize=1024)
def _parse(expr: str) -> nodes.Expr:
    """Parse one expression, or raise ValueError with the problem."""
    if len(expr) > MAX_EXPRESSION:
        raise ValueError(f"expression longer than {MAX_EXPRESSION} characters")
    if not expr.strip():
        raise ValueError("empty expression")
    if _nesting(expr) > MAX_NESTING:
        raise ValueError(f"expression nested deeper than {MAX_NESTING} levels")
    try:
        parser = Parser(_ENV, expr, state="variable")
        node = parser.parse_expression()
        if not parser.stream.eos:
            raise ValueError(f"unexpected '{parser.stream.current.value}' after the expression")
    except TemplateSyntaxError as exc:
        raise ValueError(f"syntax error: {exc.message}") from None
    except RecursionError:
        raise ValueError("expression nested too deeply") from None
    _check_static(node)
    return node


def _check_static(node: nodes.Node) -> None:
    kinds = (nodes.Call, nodes.Getattr, nodes.Getitem, nodes.Name, nodes.Filter, nodes.Test)
    for sub in [node, *node.find_all(kinds)]:
        if isinstance(sub, nodes.Call):
            raise ValueError("calling functions or methods is not allowed; use filters (|lower)")
        if isinstance(sub, nodes.Getattr) and sub.attr.startswith("_"):
            raise ValueError(f"names starting with '_' are not allowed ('{sub.attr}')")
        const = isinstance(sub, nodes.Getitem) and isinstance(sub.arg, nodes.Const)
        key = sub.arg.value if const else None  # type: ignore[attr-defined]
        if isinstance(key, str) and key.startswith("_"):
            raise ValueError(f"names starting with '_' are not allowed ('{key}')")
        if isinstance(sub, nodes.Name) and (sub.name.startswith("_") or sub.name == "self"):
            raise ValueError(f"'{sub.name}' is not available in templates")
        if isinstance(sub, nodes.Filter) and sub.name not in _ENV.filters:
            raise ValueError(f"filter '{sub.name}' is not available in templates")
        if isinstance(sub, nodes.Test) and sub.name not in _ENV.tests:
            raise ValueError(f"test '{sub.name}' is not available in templates")


@lru_cache(maxsize=1024)
def _compile(expr: str) -> TemplateExpression:
    node = _parse(expr)
    body = [nodes.Assign(nodes.Name("result", "store"), node, lineno=1)]
    try:
        template = _ENV.from_string(nodes.Template(body, lineno=1))
    except JinjaTemplateError as exc:
        raise ValueError(f"cannot compile: {exc.message}") from None
    return TemplateExpression(template, False)


def _strings(value: Any, found: set[str], depth: int = 0) -> None:
    # Values only: keys are names, which errors show anyway. Shorter strings are not secrets
    # and masking them would garble ordinary words.
    if len(found) >= 10_000 or depth > 50:
        return
    if isinstance(value, str):
        if len(value) >= 6:
            found.add(value)
    elif isinstance(value, Mapping):
        for v in value.values():
            _strings(v, found, depth + 1)
    elif isinstance(value, list | tuple):
        for v in value:
            _strings(v, found, depth + 1)


def _masked(message: str, context: Mapping[str, Any]) -> str:
    """`message` with every string of the context it repeats masked (longest first)."""
    found: set[str] = set()
    _strings(context, found)
    for text in sorted(found, key=len, reverse=True):
        if text in message:
            message = message.replace(text, _MASK)
    return message[:160]


# ---------------------------------------------------------------- evaluation


def _first_undefined(value: Any, depth: int = 0) -> Undefined | None:
    if isinstance(value, Undefined):
        return value
    if depth < 50:
        items = value.values() if isinstance(value, Mapping) else value
        if isinstance(value, Mapping | list | tuple):
            for v in items:
                found = _first_undefined(v, depth + 1)
                if found is not None:
                    return found
    return None


def _jsonable(value: Any, depth: int = 0) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return str(value)  # drops Markup and other str subclasses
    if isinstance(value, LazyArray):
        return value  # a loop's items, read from the run log when used (lazy_array.py)
    if depth > 100:
        raise _Refused("the result is nested too deeply")
    if isinstance(value, list | tuple):
        return [_jsonable(v, depth + 1) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
    raise _Refused(f"the expression produced {type(value).__name__}, not a JSON value (add |list?)")


#: Off, every expression runs through Jinja (the equivalence tests compare both ways).
FAST_PATH = True


@lru_cache(maxsize=1024)
def _plain(expr: str) -> tuple[Any, ...] | None:
    try:
        return plain_path(_parse(expr))
    except ValueError:
        return None


def _plain_value(path: tuple[Any, ...], context: Mapping[str, Any]) -> Any:
    """What Jinja would give for a plain path, read directly (a loop's `{{ item }}` is
    rendered once per item), or MISS whenever Jinja's path must decide, errors included."""
    for key in context:
        # Jinja gets the context as keyword arguments: a key that is not a string is its error.
        if not isinstance(key, str):
            return MISS
    try:
        value = resolve_plain(path, context, _ENV.getitem)
        if value is MISS or type(value) in _SCALARS:
            return value
        if _first_undefined(value) is not None:
            return MISS
        return _jsonable(value)
    except Exception:
        return MISS


# Exactly these types (not subclasses, such as Markup) are returned by `_jsonable` as they are.
_SCALARS = frozenset({str, int, float, bool, type(None)})


def _evaluate(expr: str, context: Mapping[str, Any], source: str, where: str | None) -> Any:
    path = _plain(expr) if FAST_PATH else None
    if path is not None:
        value = _plain_value(path, context)
        if value is not MISS:
            if isinstance(value, str) and len(value) > MAX_STRING:
                raise _fail(source, f"the result is longer than {MAX_STRING} characters", where)
            return value
    try:
        compiled = _compile(expr)
    except ValueError as exc:
        raise _fail(source, str(exc), where) from None
    node = _parse(expr)
    try:
        result = compiled(**context)
        undefined = _first_undefined(result)
        if undefined is not None:
            undefined._fail_with_undefined_error()
        value = _jsonable(result)
    except _Refused as exc:
        raise _fail(source, str(exc), where) from None
    except InvalidInput as exc:  # a loop's lazy items past their bound (lazy_array.py)
        raise _fail(source, exc.message, where) from None
    except (UndefinedError, SecurityError) as exc:
        # Say which path, and what exists instead; never the value of a computed key.
        static = _EMPTY_SEQUENCE.match(exc.message or "")
        problem = static.group(0) if static else diagnose(node, context)
        raise _fail(source, problem, where) from None
    except JinjaTemplateError as exc:
        # e.g. "No test named 'x'": the name may come from the context, so it is masked.
        raise _fail(source, _masked(exc.message or type(exc).__name__, context), where) from None
    except RecursionError:
        raise _fail(source, "evaluation nested too deeply", where) from None
    except MemoryError:
        raise _fail(source, "the expression needs too much memory", where) from None
    except Exception as exc:  # any filter on an unexpected type: one clear error, no crash
        # The exception's own text may state a property of a value ("expected length >=
        # 19" is a secret's length): name its kind and what the expression uses instead.
        raise _fail(source, f"cannot evaluate: {type(exc).__name__}{_uses(node)}", where) from None
    if isinstance(value, str) and len(value) > MAX_STRING:
        raise _fail(source, f"the result is longer than {MAX_STRING} characters", where)
    return value


def _uses(node: nodes.Expr) -> str:
    found = [node, *node.find_all((nodes.Filter, nodes.Test))]
    names = [f"|{n.name}" for n in found if isinstance(n, nodes.Filter)]
    names += [f"is {n.name}" for n in found if isinstance(n, nodes.Test)]
    unique = sorted(set(names))
    return f" (in {', '.join(unique)})" if unique else ""


def _to_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, expression) of each `<<...>>` / `{{...}}`, left to right, shortest first.

    What the regex `<<(.*?)>>|{{(.*?)}}` finds, in linear time: that regex rescans to the end
    from every unclosed opener, so 64 KB of `<<` took 17 s.
    """
    found: list[tuple[int, int, str]] = []
    upcoming = {opener: text.find(opener) for opener, _ in _DELIMITERS}
    at = 0
    while True:
        for opener, _ in _DELIMITERS:
            if 0 <= upcoming[opener] < at:
                upcoming[opener] = text.find(opener, at)
        live = [(upcoming[o], o, c) for o, c in _DELIMITERS if upcoming[o] >= 0]
        if not live:
            return found
        start, opener, closer = min(live)
        end = text.find(closer, start + 2)
        if end < 0:  # no closer anywhere after: no later opener of this kind can close either
            upcoming[opener] = -1
            at = start + 1
            continue
        found.append((start, end + 2, text[start + 2 : end]))
        at = end + 2


def has_template(value: Any) -> bool:
    """True when a string (or any string inside a list/dict) holds a template."""
    if isinstance(value, str):
        return ("<<" in value or "{{" in value) and bool(_spans(value))
    if isinstance(value, Mapping):
        return any(has_template(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(has_template(v) for v in value)
    return False


def is_one_template(value: Any) -> bool:
    """True for a string that is exactly one template (spaces around allowed): what keeps
    its native type when rendered, e.g. a list for `loop.over`."""
    if not isinstance(value, str):
        return False
    spans = _spans(value)
    if len(spans) != 1:
        return False
    start, end, _ = spans[0]
    return not value[:start].strip() and not value[end:].strip()


@lru_cache(maxsize=2048)
def _cached_spans(text: str) -> tuple[tuple[int, int, str], ...]:
    return tuple(_spans(text))


def _render_string(text: str, context: Mapping[str, Any], where: str | None) -> Any:
    if "<<" not in text and "{{" not in text:
        return text
    # A workflow's templates are rendered again for every loop item: find their spans once.
    spans = _cached_spans(text) if len(text) <= _CACHED_TEXT_MAX else _spans(text)
    if not spans:
        return text
    start, end, expr = spans[0]
    if len(spans) == 1 and not text[:start].strip() and not text[end:].strip():
        return _evaluate(expr, context, text[start:end], where)
    parts: list[str] = []
    last = 0
    for start, end, expr in spans:
        parts.append(text[last:start])
        parts.append(_to_text(_evaluate(expr, context, text[start:end], where)))
        last = end
    parts.append(text[last:])
    out = "".join(parts)
    if len(out) > MAX_STRING:
        raise _fail(text, f"the result is longer than {MAX_STRING} characters", where)
    return out


def render(value: Any, context: Mapping[str, Any], *, where: str | None = None) -> Any:
    """Render every template inside `value` (walking dicts and lists) against `context`.

    `where` names what is rendered (e.g. "bitly.get_bitlink: inputs.bitlink") in errors.
    """
    if isinstance(value, str):
        return _render_string(value, context, where)
    if isinstance(value, Mapping):
        return {
            k: render(v, context, where=f"{where}.{k}" if where else str(k))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [
            render(v, context, where=f"{where}[{i}]" if where else f"[{i}]")
            for i, v in enumerate(value)
        ]
    return value


def _expressions(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        for _, _, expr in _spans(value):
            yield expr
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _expressions(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _expressions(v)


def template_references(value: Any) -> list[str]:
    """Dotted paths the templates inside `value` read, e.g. ["trigger.units", "steps.a.output"].

    Raises TemplateError on a template that does not parse.
    """
    found: list[str] = []
    for expr in _expressions(value):
        try:
            node = _parse(expr)
        except ValueError as exc:
            raise _fail(expr, str(exc), None) from None
        for chain in paths_in(node):
            path = dotted(chain)
            if path not in found:
                found.append(path)
    return found
