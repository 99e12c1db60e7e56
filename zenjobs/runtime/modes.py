"""The one mode switch: which executor ``ZENJOBS_MODE`` asks for, and when to refuse.

:meth:`ZenJobsExecutor.from_env <zenjobs.runtime.executor.ZenJobsExecutor.from_env>`
reads the mode through :func:`resolve_mode`; the rules live here, apart from
the executor, so they can be read and tested on their own:

* ``ZENJOBS_MODE`` unset, empty or ``development`` → development;
  ``production`` → production. Surrounding whitespace is ignored; any other
  value (``prod``, ``Production``, ...) is refused, naming the variable and the
  allowed values: a typo must never fall back to the unauthenticated mode.
* Development is refused on Cloud Run (``K_SERVICE`` set, as Cloud Run sets it
  in every service): its webhook has no authentication, so a deployment that
  forgot ``ZENJOBS_MODE=production`` fails at start instead of serving it.

Production's settings (:data:`PRODUCTION_ENV`, :func:`resolve_production_settings`)
are resolved here too: every missing one is named at once.

See ``docs/integration.md``.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import ConfigurationError

#: The environment variable naming the executor's mode.
MODE_ENV = "ZENJOBS_MODE"
DEVELOPMENT = "development"
PRODUCTION = "production"
#: The values ``ZENJOBS_MODE`` may take (unset or empty means development).
MODES = (DEVELOPMENT, PRODUCTION)
#: Set by Cloud Run in every service's environment: development is refused there.
CLOUD_RUN_ENV = "K_SERVICE"


def resolve_mode(environ: Mapping[str, str]) -> str:
    """``"development"`` or ``"production"``, as ``environ`` asks; :class:`ConfigurationError`
    for an unknown value, or for development on Cloud Run."""
    raw = environ.get(MODE_ENV, "")
    mode = raw.strip() or DEVELOPMENT
    if mode not in MODES:
        allowed = " or ".join(repr(m) for m in reversed(MODES))
        raise ConfigurationError(
            f"{MODE_ENV}={raw!r}: expected {allowed} (or unset, meaning "
            f"{DEVELOPMENT!r})")
    if mode == DEVELOPMENT and environ.get(CLOUD_RUN_ENV):
        raise ConfigurationError(
            f"{MODE_ENV} is not {PRODUCTION!r} but {CLOUD_RUN_ENV}="
            f"{environ[CLOUD_RUN_ENV]!r} says this is Cloud Run: refusing to serve the "
            f"unauthenticated development webhook (set {MODE_ENV}={PRODUCTION})")
    return mode


#: Environment variables production reads, in order of precedence, per setting.
PRODUCTION_ENV: dict[str, tuple[str, ...]] = {
    "project": ("ZENJOBS_PROJECT", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT"),
    "location": ("ZENJOBS_LOCATION",),
    "service_url": ("ZENJOBS_SERVICE_URL",),
    "invoker_service_account": ("ZENJOBS_INVOKER_SA",),
}


def resolve_production_settings(given: Mapping[str, str | None], environ: Mapping[str, str],
                                *, needs_location: bool = True) -> dict[str, str]:
    """Each production setting from its argument, else its environment variables.

    Raises :class:`ConfigurationError` naming every missing setting at once.
    """
    resolved: dict[str, str] = {}
    missing: list[str] = []
    for name, variables in PRODUCTION_ENV.items():
        value = given.get(name) or next((environ[v] for v in variables if environ.get(v)), None)
        if value:
            resolved[name] = value
        elif name != "location" or needs_location:
            missing.append(f"{name} (argument {name}=, or env {' / '.join(variables)})")
    if missing:
        where = ""
        if environ.get("K_SERVICE"):
            where = f" on Cloud Run service {environ['K_SERVICE']!r}"
        raise ConfigurationError(
            f"ZenJobsExecutor.production{where} is missing: " + "; ".join(missing))
    url = resolved["service_url"].rstrip("/")
    if not url.startswith("https://") and not is_loopback_http(url):
        raise ConfigurationError(
            f"service_url must be an https:// URL (Cloud Run serves https; plain http is "
            f"accepted only for a loopback host, e.g. local emulators), got {url!r}")
    resolved["service_url"] = url
    return resolved


def is_loopback_http(url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
