"""A single-file Django project with a Channels echo consumer, routed as the Channels
tutorial's asgi.py does; MODE picks the origin validator."""

import os

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="wsaudit-framework-battery-not-secret",
    # What a deployment of app.example.com sets; AllowedHostsOriginValidator reads it.
    ALLOWED_HOSTS=["app.example.com"],
    INSTALLED_APPS=["daphne", "channels"],
    ROOT_URLCONF=__name__,
    ASGI_APPLICATION=f"{__name__}.application",
    USE_TZ=True,
)
django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import (  # noqa: E402
    AllowedHostsOriginValidator,
    OriginValidator,
)
from django.core.asgi import get_asgi_application  # noqa: E402
from django.urls import path  # noqa: E402

urlpatterns: list[object] = []


class EchoConsumer(AsyncWebsocketConsumer):
    async def receive(self, text_data=None, bytes_data=None):  # type: ignore[no-untyped-def]
        await self.send(text_data=text_data, bytes_data=bytes_data)


websocket_routes = URLRouter([path("ws/echo/", EchoConsumer.as_asgi())])
if os.environ["MODE"] == "allowlist":
    websocket_app = OriginValidator(websocket_routes, [os.environ["ALLOWED_ORIGIN"]])
else:
    websocket_app = AllowedHostsOriginValidator(websocket_routes)

application = ProtocolTypeRouter({"http": get_asgi_application(), "websocket": websocket_app})
