"""The JSON API's route decorators: every operation documents the errors it can answer with
(CONTRACT section 4), so a client generated from /schema/openapi.json, or a contract test,
knows every status code it may meet."""

from __future__ import annotations

from functools import partial
from typing import Any

import msgspec
from litestar import get as _get
from litestar import post as _post
from litestar import put as _put
from litestar.openapi.datastructures import ResponseSpec


class ErrorBody(msgspec.Struct):
    """Litestar's error shape: the status, what is wrong, and the field or state it concerns."""

    status_code: int
    detail: str
    extra: Any = None


_MEANINGS = {
    400: "invalid input; the field is named",
    401: "no valid API key or reviewer token",
    403: "another channel's or team's object, or a role that may not do this",
    404: "no such object",
    409: "a conflicting state change; the current state is in extra",
    413: "body over the size limit",
    422: "an Idempotency-Key reused with a different body",
    429: "rate limited; see Retry-After",
    503: "PostgreSQL or Redis unreachable or too slow; see Retry-After",
}
ERRORS: dict[int, ResponseSpec] = {
    code: ResponseSpec(data_container=ErrorBody, description=meaning, generate_examples=False)
    for code, meaning in _MEANINGS.items()
}

NOTHING_WAITING = ERRORS | {204: ResponseSpec(None, description="nothing is waiting")}

get = partial(_get, responses=ERRORS)
post = partial(_post, responses=ERRORS)
put = partial(_put, responses=ERRORS)

# A look-back as the policy writes durations (90s, 10m, 4h, 30d): up to 999 of a unit, and no
# longer than a year.
DURATION = r"^[1-9][0-9]{0,2}[smh]$|^[1-9][0-9]?d$|^[1-2][0-9]{2}d$|^3[0-5][0-9]d$|^36[0-5]d$"
