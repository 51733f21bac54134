"""Database errors as the API answers them (CONTRACT 4): a server that cannot take us now is a
503 with Retry-After; any other database error is our mistake, a 500 that says nothing more."""

from __future__ import annotations

import asyncpg
import pytest
from litestar import Litestar, get
from litestar.testing import TestClient

from service.api.errors import HANDLERS


def answer_to(exc: Exception) -> tuple[int, str | None]:
    @get("/boom", sync_to_thread=False)
    def boom() -> None:
        raise exc

    with TestClient(Litestar([boom], exception_handlers=HANDLERS)) as client:
        r = client.get("/boom")
    return r.status_code, r.headers.get("retry-after")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"), 503),
        (asyncpg.exceptions.QueryCanceledError("canceling statement due to timeout"), 503),
        (asyncpg.exceptions.CannotConnectNowError("the database system is starting up"), 503),
        (TimeoutError(), 503),
        (asyncpg.exceptions.UndefinedColumnError('column "x" does not exist'), 500),
    ],
    ids=["too many connections", "statement timeout", "starting up", "acquire timeout", "our bug"],
)
def test_database_errors_map_to_the_contracts_answers(exc: Exception, expected: int) -> None:
    status, retry_after = answer_to(exc)
    assert status == expected
    assert (retry_after == "5") == (expected == 503)
