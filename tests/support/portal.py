"""Signing in to the portal over plain HTTP, as a browser does (the sign-in form's CSRF
token travels in the form and in a cookie)."""

from __future__ import annotations

import re

import httpx


def portal_client(base_url: str) -> httpx.AsyncClient:
    """A browser's plain HTTP view of the portal. Generous timeout: sign-in hashes with
    scrypt on purpose, and the tests judge behaviour, not speed, on a busy machine."""
    return httpx.AsyncClient(base_url=base_url, timeout=30)


async def portal_sign_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    """POST the sign-in form; the answer (a 303 to the page asked for, or the form again)."""
    form = await client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token, form.text
    return await client.post(
        "/login",
        data={"email": email, "password": password, "csrf": token[1], "next": "/"},
    )
