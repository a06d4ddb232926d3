"""Signing in to the portal over plain HTTP, as a browser does (the sign-in form's CSRF
token travels in the form and in a cookie)."""

from __future__ import annotations

import re

import httpx


async def portal_sign_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    """POST the sign-in form; the answer (a 303 to the page asked for, or the form again)."""
    form = await client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token, form.text
    return await client.post(
        "/login",
        data={"email": email, "password": password, "csrf": token[1], "next": "/"},
    )
