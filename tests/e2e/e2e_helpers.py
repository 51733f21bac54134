"""Steps a reviewer takes in the browser, shared by the end-to-end tests."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Page
from support import ROOT

ARTIFACTS = ROOT / "test-artifacts"
PASSWORD = "correct horse battery"


async def sign_in(page: Page, server: str, email: str) -> None:
    await page.goto(f"{server}/ui/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{server}/ui/queue")


async def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def live_ready(page: Page) -> None:
    """The page's WebSocket is open (htmx's ws extension fires htmx:wsOpen)."""
    await page.wait_for_selector("body[data-live='open']", state="attached")
