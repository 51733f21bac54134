"""Request dependencies: the runtime, and who is calling (a channel key or a reviewer)."""

from __future__ import annotations

from litestar import Request
from litestar.datastructures import State

from service.channels import keys
from service.errors import Unauthorized
from service.reviewers import accounts
from service.reviewers.caller import Caller
from service.runtime import Runtime


def provide_runtime(state: State) -> Runtime:
    return state.runtime  # type: ignore[no-any-return]


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <key>'")
    return value.strip()


async def provide_channel(request: Request, runtime: Runtime) -> str:
    """The channel whose API key signed this request."""
    key = bearer(request)
    if not key.startswith(keys.KEY_PREFIX):
        raise Unauthorized("invalid channel API key")
    return await runtime.keys.channel(runtime.pg, key)


async def provide_caller(request: Request, runtime: Runtime) -> Caller:
    """A reviewer, by personal token or by the signed-in UI session."""
    caller = request.scope.get("state", {}).get("caller")  # set by the UI's session middleware
    if isinstance(caller, Caller):
        return caller
    token = bearer(request)
    if not token.startswith(accounts.TOKEN_PREFIX):
        raise Unauthorized("invalid reviewer token")
    return await runtime.read(lambda conn: accounts.caller_for_token(conn, token))


async def provide_principal(request: Request, runtime: Runtime) -> str | Caller:
    """Either kind of caller, for reads both channels and reviewers may make."""
    token = bearer(request)
    if token.startswith(keys.KEY_PREFIX):
        return await provide_channel(request, runtime)
    return await provide_caller(request, runtime)
