"""Where a webhook goes: the target is resolved once, checked, and the connection is made to
that very address (DNS rebinding cannot slip a private address in between); a name that does
not resolve is refused, never taken for a public one. DNS is a double here (we do not own it);
the HTTP receiver is a real server."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest
from support import start_receiver

from worker.tasks.deliveries import Target, pin


def resolver(*answers: list[str]) -> tuple[Any, list[str]]:
    """A DNS double: each lookup returns the next answer (a list of addresses)."""
    asked: list[str] = []

    async def getaddrinfo(host: str, port: Any, **_: Any) -> list[Any]:
        asked.append(host)
        answer = answers[min(len(asked), len(answers)) - 1]
        if not answer:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in answer]

    return getaddrinfo, asked


async def test_the_connection_goes_to_the_address_that_was_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    receiver, server = start_receiver()
    try:
        # The first answer is what is checked and used; a second, rebound answer is never asked.
        lookup, asked = resolver(["127.0.0.1"], ["10.0.0.1"])
        monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", lookup)
        target = await pin(f"http://hooks.example.test:{receiver.port}/hooks/a", True)
        assert isinstance(target, Target)
        assert target.url == f"http://127.0.0.1:{receiver.port}/hooks/a"
        async with httpx.AsyncClient() as http:
            r = await http.post(target.url, content=b"{}", headers={"Host": target.host})
        assert r.status_code == 200 and asked == ["hooks.example.test"]
        assert receiver.on("/hooks/a")[0].headers["host"] == f"hooks.example.test:{receiver.port}"
    finally:
        server.shutdown()


@pytest.mark.parametrize(
    ("answer", "allowed", "refusal"),
    [
        (["93.184.216.34", "10.1.2.3"], False, "private address"),  # any private answer
        (["169.254.169.254"], False, "private address"),  # cloud metadata
        (["::1"], False, "private address"),
        ([], False, "cannot resolve"),  # a failed lookup is not public
        ([], True, "cannot resolve"),
    ],
)
async def test_refused_targets(
    monkeypatch: pytest.MonkeyPatch, answer: list[str], allowed: bool, refusal: str
) -> None:
    lookup, _ = resolver(answer)
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", lookup)
    found = await pin("https://hooks.example.test/x", allowed)
    assert isinstance(found, str) and refusal in found


async def test_https_keeps_the_name_for_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    lookup, _ = resolver(["93.184.216.34"])
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", lookup)
    target = await pin("https://hooks.example.test/x?y=1", False)
    assert target == Target(
        "https://93.184.216.34/x?y=1", "hooks.example.test", "hooks.example.test"
    )
