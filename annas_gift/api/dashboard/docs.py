"""`/docs` and `/redoc` served from the vendored Swagger UI and ReDoc: they render offline."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse

from annas_gift.api.dashboard import STATIC_URL

SWAGGER_JS = f"{STATIC_URL}/vendor/swagger-ui/swagger-ui-bundle.js"
SWAGGER_CSS = f"{STATIC_URL}/vendor/swagger-ui/swagger-ui.css"
REDOC_JS = f"{STATIC_URL}/vendor/redoc/redoc.standalone.js"
FAVICON = f"{STATIC_URL}/vendor/swagger-ui/favicon-32x32.png"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
# Only the gateway itself: ReDoc's sidebar logo points at its CDN and Swagger UI's validator
# badge at validator.swagger.io; this keeps both pages from ever leaving the host. The inline
# script (Swagger's init) and styles (ReDoc's styled-components) need 'unsafe-inline'.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; object-src 'none'; frame-ancestors 'none'"
)


def install_docs(app: FastAPI) -> None:
    """Add /docs, its OAuth2 redirect and /redoc; the app must be built with docs_url=None."""
    if app.docs_url is not None or app.redoc_url is not None:
        # FastAPI's own routes would be matched first and load Swagger/ReDoc from a CDN.
        raise ValueError("build the app with FastAPI(docs_url=None, redoc_url=None)")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return _offline(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=f"{app.title} - Swagger UI",
                swagger_js_url=SWAGGER_JS,
                swagger_css_url=SWAGGER_CSS,
                swagger_favicon_url=FAVICON,
                oauth2_redirect_url=OAUTH2_REDIRECT,
                swagger_ui_parameters={"validatorUrl": None},
            )
        )

    @app.get(OAUTH2_REDIRECT, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _offline(
            get_redoc_html(
                openapi_url=openapi_url,
                title=f"{app.title} - ReDoc",
                redoc_js_url=REDOC_JS,
                redoc_favicon_url=FAVICON,
                with_google_fonts=False,
            )
        )


def _offline(response: HTMLResponse) -> HTMLResponse:
    response.headers["content-security-policy"] = DOCS_CSP
    return response
