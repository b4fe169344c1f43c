"""`monitor serve`: the dashboard, the API and /metrics alone, against the watchlist's database
(`monitor run` serves them too, beside the daemon, when `web` is set)."""

import logging
import signal
from typing import Annotated, Optional

import typer
from pydantic import ValidationError

from ..settings.config import DEFAULT_CONFIG, WebConfig
from .app import ConfigOption, app, fail, load, runtime_for


@app.command()
def serve(config: ConfigOption = DEFAULT_CONFIG,
          listen: Annotated[Optional[str], typer.Option(help="host:port instead of web.listen")] = None
          ) -> None:
    """Serve the dashboard, the REST API and /metrics until SIGTERM or Ctrl-C (no polling, no sending)."""
    from ..web.app import create_app
    from ..web.server import WebServer
    from ..web.server import listen as bind
    loaded = load(config)
    web = loaded.web or WebConfig()
    if listen:
        try:
            web = WebConfig.model_validate({**web.model_dump(), "listen": listen, "token": web.token})
        except ValidationError as exc:
            fail(f"--listen: {exc.errors()[0]['msg'].removeprefix('Value error, ')}")
    runtime = runtime_for(loaded)
    try:
        sock = bind(web)
    except OSError as exc:
        fail(f"cannot listen on {web.listen}: {exc.strerror or exc}")
    server = WebServer(create_app(lambda: runtime, web), web, sock)
    logging.getLogger("monitor.web").info("serving the dashboard and API on %s%s", server.url,
                                          "" if web.token else " (no token: loopback only)")
    for stop_signal in (signal.SIGTERM, signal.SIGINT):  # uvicorn handles them while it serves, then
        signal.signal(stop_signal, lambda *_: None)  # raises them again: here, a stop is a clean exit
    server.run()
    logging.getLogger("monitor.web").info("stopped")
