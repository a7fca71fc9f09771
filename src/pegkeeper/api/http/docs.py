"""`/docs`: Swagger UI from the package's own copy (static/vendor/swagger-ui), never a CDN, so
the API's documentation renders on a machine with no internet."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from pegkeeper.api.web import STATIC_DIR

ASSETS_PATH = "/docs-assets"
SWAGGER_UI_DIR = STATIC_DIR / "vendor" / "swagger-ui"


def add_offline_docs(app: FastAPI) -> None:
    """Serve `/docs` from local assets; the app must be created with `docs_url=None`."""
    app.mount(ASSETS_PATH, StaticFiles(directory=SWAGGER_UI_DIR), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title}: API",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
        )
