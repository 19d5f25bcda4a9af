"""The API documentation page (/api/docs), served entirely by this server: Swagger UI's
files come from the installed `swagger-ui-bundle-v2` package, and a Content-Security-Policy
lets the browser load nothing from anywhere else (no CDN, no font host, no validator)."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

DOCS = "/api/docs"
ASSETS = "/api/docs/assets"
ASSET_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")


def _page(openapi_url: str) -> tuple[str, str]:
    """The page and its Content-Security-Policy (the one inline script allowed by hash)."""
    page = get_swagger_ui_html(
        openapi_url=openapi_url,
        title="Hotline API",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None},
    )
    html = bytes(page.body).decode()
    inline = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in inline
    )
    csp = (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'"
    )
    return html, csp


def mount(app: FastAPI) -> None:
    html, csp = _page(app.openapi_url or "/openapi.json")
    headers = {"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff"}

    @app.get(DOCS, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(html, headers=headers)

    # only the three files the page uses; the package's demo pages (which fetch from the
    # internet) are not served
    for name in ASSET_FILES:
        app.add_api_route(
            f"{ASSETS}/{name}", _asset(Path(str(swagger_ui_path)) / name, headers),
            include_in_schema=False,
        )  # fmt: skip


def _asset(path: Path, headers: dict[str, str]) -> Callable[[], Awaitable[FileResponse]]:
    async def serve() -> FileResponse:
        return FileResponse(path, headers=headers)

    return serve
