from __future__ import annotations

import uvicorn
from starlette.applications import Starlette


def serve(app: Starlette, port: int, host: str = "127.0.0.1") -> None:
    """Serve a sandbox on loopback until interrupted."""
    uvicorn.run(app, host=host, port=port, log_level="warning", lifespan="off")
