"""create_app(): the Litestar application with its routers, error handlers and lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from service.api import deps
from service.api.channel import ChannelController
from service.api.errors import HANDLERS
from service.api.insights import InsightsController
from service.api.ops import OpsController
from service.api.reviewer import ReviewerController
from service.api.transfers import PresenceController, TransferController
from service.logs import configure_logging
from service.runtime import Runtime
from service.settings import Settings
from ui import routes as ui_routes
from ui.security import session_middleware


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings()
    configure_logging()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        runtime = await Runtime.start(settings, detect=True)
        app.state.runtime = runtime
        runtime.watch_policy()
        try:
            yield
        finally:
            runtime.unwatch_policy()
            await runtime.close()

    return Litestar(
        route_handlers=[
            ChannelController,
            ReviewerController,
            TransferController,
            PresenceController,
            InsightsController,
            OpsController,
            ui_routes.ui_router(),
        ],
        middleware=[session_middleware],
        on_shutdown=[ui_routes.on_shutdown],
        dependencies={
            "runtime": Provide(deps.provide_runtime, sync_to_thread=False),
            # Not "channel": Litestar treats a body error on a field named like a dependency
            # ("channel": "") as the dependency's failure, a 500.
            "key_channel": Provide(deps.provide_channel),
            "caller": Provide(deps.provide_caller),
            "principal": Provide(deps.provide_principal),
        },
        exception_handlers=HANDLERS,
        lifespan=[lifespan],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(title="hitl", version="1", path="/schema"),
        logging_config=None,
    )
