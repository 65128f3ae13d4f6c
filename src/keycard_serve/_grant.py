"""The ``grant`` decorator: delegated tokens for a tool, in ``ctx.get_state("keycardai")``.

The wrapper is always async (FastMCP 4's ``Context.get_state`` is a coroutine); sync tools
run in a worker thread and receive a context whose ``get_state`` is synchronous again, so
the seed README's ``ctx.get_state("keycardai")`` keeps working unchanged.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.from_thread
import anyio.to_thread

from ._exchange_profile import Target
from ._signature import find_context_parameter
from .access_context import AccessContext
from .errors import ConfigurationError, MissingContextError

if TYPE_CHECKING:
    from fastmcp import Context

# FastMCP is imported where a tool is decorated or called, not with this module: the config
# loader needs Grant, and commands that only read a config (plan, token) never load FastMCP.

__all__ = [
    "STATE_KEY",
    "Binding",
    "Grant",
    "Resolver",
    "access_override",
    "grant_decorator",
    "normalize_grants",
]

STATE_KEY = "keycardai"


@dataclass(frozen=True)
class Grant:
    """One resource a tool may reach, and the scopes to request for it (RFC 8693 ``scope``).

    ``resource`` is the name the tool reads its token by (``access(resource)``) and, by
    default, what the exchange targets (RFC 8707). ``audience`` is the RFC 8693 ``audience``
    to send instead or as well, for zones that name APIs by client id or API identifier
    (Keycloak, Okta, Auth0); ``target`` (``resource``, ``audience`` or ``both``) overrides
    the zone's ``ExchangeProfile.target`` for this grant.
    """

    resource: str
    scopes: tuple[str, ...] = ()
    audience: str | None = None
    target: Target | None = None


def normalize_grants(
    resources: str | Grant | Iterable[str | Grant],
    scopes: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
) -> tuple[Grant, ...]:
    """Grants from the decorator's arguments: a resource, a list of them, or ``Grant`` objects.

    ``scopes`` is one list for every resource or a ``{resource: scopes}`` mapping.
    """
    items = [resources] if isinstance(resources, str | Grant) else list(resources)
    if not items:
        raise ValueError("grant() needs at least one resource")
    grants: dict[str, Grant] = {}
    for item in items:
        if isinstance(item, Grant):
            grant = item
        elif isinstance(item, str) and item:
            if isinstance(scopes, Mapping):
                requested = tuple(scopes.get(item, ()))
            else:
                requested = tuple(scopes or ())
            grant = Grant(item, requested)
        else:
            raise TypeError(f"grant() resources must be non-empty strings, not {item!r}")
        if grant.resource in grants:
            raise ValueError(f"resource {grant.resource!r} is granted twice")
        grants[grant.resource] = grant
    return tuple(grants.values())


F = TypeVar("F", bound=Callable[..., Any])
Resolver = Callable[[str | None, float | None, Sequence[Grant]], Awaitable[AccessContext]]
# What a call needs, read once at its start: how to exchange, and for which grants. The
# launcher's binding follows config reloads; a call never mixes two configurations.
Binding = Callable[[], tuple[Resolver, Sequence[Grant]]]

# Set by keycard_serve.testing.mock_access_context: builds the AccessContext instead of the
# real exchange, with no network and no patching.
access_override: ContextVar[Callable[[Sequence[Grant]], AccessContext] | None] = ContextVar(
    "keycard_serve_access_override", default=None
)


def grant_decorator(binding: Binding) -> Callable[[F], F]:
    """Build the decorator; ``binding()`` gives the exchange function and the grants.

    The decorated function is called with keyword arguments only, whatever order its
    ``__signature__`` claims: FastMCP's ``@mcp.tool()`` rewrites that signature (the Context
    parameter moves after the others), so a function registered once already, or adopted from
    an app, has a signature whose positions are not those of its code. MCP passes tool
    arguments by name, so positional-only parameters and ``*args`` are refused here, as
    FastMCP refuses them. Raises ``MissingContextError`` for a function without a ``Context``
    parameter and ``ConfigurationError`` when the decorator sits above ``@mcp.tool()``.
    """

    def decorate(fn: F) -> F:
        from fastmcp import Context

        _refuse_registered_tool(fn, sys._getframe(1))
        ctx_name = find_context_parameter(fn)
        if ctx_name is None:
            raise MissingContextError(
                f"{fn.__qualname__} is decorated with grant() but has no Context parameter; "
                "add one, e.g. `def tool(ctx: Context, ...)`",
            )
        _refuse_positional(fn)
        is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            inspect.unwrap(fn)
        )

        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            # FastMCP calls by name: those arguments are already what the function takes.
            # Positional ones are bound by the signature callers see now (FastMCP may have
            # rewritten it after decoration), then passed by name, which no reordering can
            # change.
            arguments = (
                _keyword_arguments(inspect.signature(wrapper), args, kwargs)
                if args
                else dict(kwargs)
            )
            ctx = arguments.get(ctx_name)
            if not isinstance(ctx, Context):
                raise MissingContextError(
                    f"{fn.__qualname__} was called without a FastMCP Context",
                    code="missing_context_runtime",
                )
            access = await _access_context(*binding())
            await ctx.set_state(STATE_KEY, access, serializable=False)
            if is_async:
                return await fn(**arguments)
            arguments[ctx_name] = _SyncContext(ctx, access)
            result = await anyio.to_thread.run_sync(functools.partial(fn, **arguments))
            return await result if inspect.isawaitable(result) else result

        return wrapper  # type: ignore[return-value]

    return decorate


def _keyword_arguments(
    signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """Every argument by parameter name (``**kwargs`` parameters merged in)."""
    bound = signature.bind(*args, **kwargs)
    arguments: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        if signature.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
            arguments.update(value)
        else:
            arguments[name] = value
    return arguments


def _refuse_positional(fn: Callable[..., Any]) -> None:
    positional = [
        name
        for name, parameter in inspect.signature(fn).parameters.items()
        if parameter.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.VAR_POSITIONAL)
    ]
    if positional:
        raise ConfigurationError(
            f"{fn.__qualname__} has positional-only or *args parameters "
            f"({', '.join(positional)}); MCP passes tool arguments by name, so grant() calls "
            "tools by keyword: make them ordinary parameters",
            code="tool_signature",
        )


def _refuse_registered_tool(fn: Any, caller: FrameType) -> None:
    """Refuse ``@grant`` written above ``@mcp.tool()``: the server would call the bare function.

    FastMCP 4's ``@mcp.tool()`` registers the function and returns it marked with its tool
    metadata, so a decorator above it wraps a copy nobody calls. It is told apart from a
    function registered elsewhere and granted for another server (which works) by where the
    decorator runs: inside the ``def`` statement of the function itself, before its name is
    bound.
    """
    from fastmcp.decorators import get_fastmcp_meta
    from fastmcp.tools import Tool
    from fastmcp.tools.function_tool import ToolMeta

    if isinstance(fn, Tool):
        raise _wrong_order(getattr(fn, "name", "tool"))
    if not isinstance(get_fastmcp_meta(fn), ToolMeta):
        return
    code = getattr(inspect.unwrap(fn), "__code__", None)
    name = getattr(fn, "__name__", None)
    being_defined = code is not None and code in caller.f_code.co_consts
    if being_defined and caller.f_locals.get(name) is not fn:
        raise _wrong_order(name or "tool")


def _wrong_order(name: str) -> ConfigurationError:
    return ConfigurationError(
        f"grant() is applied above @mcp.tool() on {name}, so the server would call {name} "
        "without delegated tokens; put it below:\n"
        "    @mcp.tool()\n"
        "    @auth_provider.grant(...)\n"
        f"    def {name}(ctx: Context, ...): ...",
        code="grant_order",
    )


async def _access_context(resolve: Resolver, grants: Sequence[Grant]) -> AccessContext:
    from fastmcp.server.dependencies import get_access_token

    override = access_override.get()
    if override is not None:
        return override(grants)
    caller = get_access_token()
    if caller is None:
        return await resolve(None, None, grants)
    return await resolve(caller.token, caller.expires_at, grants)


class _SyncContext:
    """A ``Context`` for code in a worker thread: coroutine methods become blocking calls."""

    def __init__(self, ctx: Context, access: AccessContext) -> None:
        self._ctx = ctx
        self._access = access

    def get_state(self, key: str) -> Any:
        if key == STATE_KEY:
            return self._access
        return anyio.from_thread.run(self._ctx.get_state, key)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._ctx, name)
        if inspect.iscoroutinefunction(attribute):

            @functools.wraps(attribute)
            def blocking(*args: Any, **kwargs: Any) -> Any:
                return anyio.from_thread.run(functools.partial(attribute, *args, **kwargs))

            return blocking
        return attribute

    def __repr__(self) -> str:
        return f"SyncContext({self._ctx!r})"
