"""The gateway's HTTP server: uvicorn with bounded heads, read timeouts and a connection cap."""

from annas_gift.server.config import ServerLimits, build_config, serve

__all__ = ["ServerLimits", "build_config", "serve"]
