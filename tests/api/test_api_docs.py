"""/docs and /redoc work with no network: every script, stylesheet and icon they load
is served by the API itself (from the fastapi-offline package), none from a CDN."""

from __future__ import annotations

import re

import pytest

ASSET = re.compile(r"""(?:src|href|spec-url)=["']([^"']+)["']|url: ?["']([^"']+)["']""")


def assets(page: str) -> list[str]:
    return [a or b for a, b in ASSET.findall(page)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_load_only_what_the_api_serves(offline_api, page):
    response = await offline_api.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    urls = assets(response.text)
    assert "/openapi.json" in urls, urls
    scripts = [u for u in urls if u.endswith((".js", ".css", ".png"))]
    assert scripts, response.text
    for url in urls:
        assert url.startswith("/"), f"{page} loads {url} from elsewhere"
    for url in scripts:
        asset = await offline_api.get(url)
        assert asset.status_code == 200 and len(asset.content) > 1000, url
    assert "cdn" not in response.text.lower() and "fonts.googleapis" not in response.text
