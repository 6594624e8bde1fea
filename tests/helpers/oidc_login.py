"""Logging in to a hub through devstack's OIDC provider without a browser: the hub's OAuth
login, the provider's login form, back to the hub's callback (what a browser does)."""

from __future__ import annotations

import re

import httpx

FLAVOR_ROW = re.compile(r'class="accelhub-flavor[^"]*" data-flavor="([^"]+)"')


def provider_login(client: httpx.Client, hub_url: str, user: str, password: str) -> httpx.Response:
    """Log ``client`` (redirects followed, cookies kept) in as ``user``; the hub's answer at
    the end of the redirects (its landing page, or its refusal)."""
    form = client.get(f"{hub_url}/hub/oauth_login")
    assert 'name="password"' in form.text, form.text[:300]
    action = form.text.split('action="', 1)[1].split('"', 1)[0]
    base = str(form.url).split("/interaction/", 1)[0]
    return client.post(base + action, data={"username": user, "password": password})


def offered_flavors(page_html: str) -> set[str]:
    """The flavors the spawn form's HTML offers (its `.accelhub-flavor` rows)."""
    return set(FLAVOR_ROW.findall(page_html))
