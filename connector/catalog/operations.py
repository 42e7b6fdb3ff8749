"""Which of the vendor's API operations an action calls, by operationId.

A declarative request is one operation, found in the app's API facts from its method and
path; a handler declares the operations it calls (`operations:` in its manifest), and each
must be an operation of those facts. Apps we hold no facts for have no operation names.
"""

from __future__ import annotations

from collections.abc import Iterator

from connector.catalog.models import ActionSpec
from connector.vendor import load_vendor_facts

__all__ = ["action_operations", "operation_problems", "premium_operations"]


def operation_problems(action: ActionSpec) -> Iterator[tuple[str, str]]:
    """(field, message) for each operation that cannot be named."""
    if action.request is not None and action.operations:
        yield "operations", "only for a handler: a request's operation is its method and path"
    facts = load_vendor_facts(action.app)
    if facts is None:
        return
    if action.request is None and not action.operations:
        yield "operations", "a handler must declare the API operations (operationIds) it calls"
    known = {op.operation_id for op in facts.operations}
    for i, name in enumerate(action.operations):
        if name not in known:
            yield f"operations[{i}]", f"'{name}' is not an operationId of the {action.app} API"
    paging = action.pagination
    if paging is not None and action.request is None:
        yield "pagination", "only for a declarative request (a handler pages itself)"
    if paging is not None and paging.limit and action.input(paging.limit) is None:
        yield "pagination.limit", f"'{paging.limit}' is not an input of the action"
    premium = premium_operations(action)
    if premium and not action.plan_feature:
        yield (
            "plan_feature",
            f"calls premium operation(s) {', '.join(premium)}: name the paid-plan feature "
            "they need",
        )
    if action.plan_feature and not premium:
        yield "plan_feature", "only for an action that calls an operation the vendor marks premium"


def premium_operations(action: ActionSpec) -> list[str]:
    """The operationIds `action` calls that need a paid plan (the vendor marks them premium)."""
    facts = load_vendor_facts(action.app)
    if facts is None:
        return []
    known = {op.operation_id: op for op in facts.operations}
    return [n for n in action_operations(action) if n in known and known[n].premium]


def action_operations(action: ActionSpec) -> list[str]:
    """The operationIds `action` calls: a handler's as declared, a request's from the facts."""
    if action.request is None:
        return list(action.operations)
    facts = load_vendor_facts(action.app)
    operation = facts.find(action.request.method, action.request.path) if facts else None
    return [operation.operation_id] if operation is not None else []
