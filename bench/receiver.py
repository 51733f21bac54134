"""A webhook receiver for the benches: answers 204 to anything at once, on a thread of its own,
so that deliveries cost what they cost the service and nothing more."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from turns import free_port

ROOT = Path(__file__).resolve().parent.parent


def receiver() -> int:
    """A webhook receiver that answers 204 to anything, on a thread of its own."""
    port = free_port()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(answer, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    threading.Thread(target=lambda: asyncio.run(serve()), daemon=True).start()
    return port


def policy_for(receiver_port: int, path: Path) -> Path:
    """The default policy with its webhooks pointed at the receiver, written to path."""
    text = (ROOT / "policies" / "default.yaml").read_text()
    text = text.replace("http://127.0.0.1:9/", f"http://127.0.0.1:{receiver_port}/")
    for sync in ("chat", "voice"):  # transfers on live channels are announced too
        text = text.replace(
            f"  {sync}:\n    mode: sync\n",
            f"  {sync}:\n    mode: sync\n    webhook_url: http://127.0.0.1:{receiver_port}/hitl/{sync}\n",
        )
    text = text.replace("allow_private_addresses: false", "allow_private_addresses: true")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
