"""A minimal Django application instrumented with django-prometheus: the web's real metric names.

    python -m tests.components.monitoring.django_app <port> [<counter>_total ...]

Serves django-prometheus' export view at /metrics on 127.0.0.1:<port> with the middleware pair
the CRM's settings install, and from a thread keeps requesting its own views through the
middleware: one that answers 200, one that takes 20 ms, and a signup view that increments the
business counters named on the command line (prometheus_client counters, as an application
defines them); and once, at start, one that answers 500 (so the 5xx series exist on a healthy
web, as they do on a real one). Runs until terminated.
"""

from __future__ import annotations

import sys
import threading
import time
from wsgiref.simple_server import WSGIRequestHandler, make_server

from django.conf import settings  # type: ignore[import-untyped]

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    SECRET_KEY="monitoring-test-application-not-a-secret",
    INSTALLED_APPS=["django_prometheus"],
    MIDDLEWARE=[
        "django_prometheus.middleware.PrometheusBeforeMiddleware",
        "django_prometheus.middleware.PrometheusAfterMiddleware",
    ],
    LOGGING_CONFIG=None,
)

import django  # type: ignore[import-untyped]  # noqa: E402

django.setup()

from django.core.wsgi import get_wsgi_application  # type: ignore[import-untyped]  # noqa: E402
from django.http import HttpRequest, HttpResponse  # type: ignore[import-untyped]  # noqa: E402
from django.test import Client  # type: ignore[import-untyped]  # noqa: E402
from django.urls import path  # type: ignore[import-untyped]  # noqa: E402
from django_prometheus.exports import ExportToDjangoView  # type: ignore[import-untyped]  # noqa: E402
from prometheus_client import Counter  # noqa: E402

COUNTERS = [Counter(name.removesuffix("_total"), f"Business counter {name}") for name in sys.argv[2:]]


def contacts(request: HttpRequest) -> HttpResponse:
    return HttpResponse("contacts")


def broken(request: HttpRequest) -> HttpResponse:
    return HttpResponse("server error", status=500)


def slow(request: HttpRequest) -> HttpResponse:
    time.sleep(0.02)
    return HttpResponse("slow")


def signup(request: HttpRequest) -> HttpResponse:
    for counter in COUNTERS:
        counter.inc()
    return HttpResponse("welcome")


urlpatterns = [
    path("contacts/", contacts, name="contacts"),
    path("broken/", broken, name="broken"),
    path("slow/", slow, name="slow"),
    path("signup/", signup, name="signup"),
    path("metrics", ExportToDjangoView, name="prometheus-django-metrics"),
]


def traffic() -> None:
    """Healthy traffic, after one server error at start: the 5xx series exists, but no error is recent."""
    client = Client()
    client.get("/broken/")
    while True:
        for url in ("/contacts/", "/contacts/", "/contacts/", "/slow/", "/signup/"):
            client.get(url)
        time.sleep(0.05)


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    threading.Thread(target=traffic, daemon=True).start()
    server = make_server("127.0.0.1", int(sys.argv[1]), get_wsgi_application(), handler_class=QuietHandler)
    print("serving", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
