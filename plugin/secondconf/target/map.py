"""The system map: which deployment of A1–A8 the harness checks (contract §2).

A system map is a JSON file naming every app's base URL, role, health and readiness
paths, version and routes, plus A8's telemetry URL, A1's identity settings, an optional
Stripe API base and an optional CA bundle. ``identity.browser_login`` is a harness
extension (optional): what the contract leaves unsaid about A1's browser login (the
browser client and its registered redirect URI, the session TTL, the cookie domain, the
login form's field names and the variable holding the synthetic identities' password),
which the cookie and ``redirect_uri`` checks need. ``pages`` is another harness extension
(optional): the browser pages a funnel journey starts from or passes through
(:data:`PAGE_STEPS`), each an absolute URL on the origin of an app of the map.
:func:`load_system_map` reads and validates
one, once, at the edge: a bad map is a :class:`SystemMapError` whose one-line message
names the file and the field (the wiring layer turns it into a ``pytest.UsageError``).

Secrets never belong in the map, only the names of the environment variables that hold
them (:data:`SECRET_ENV_VARS`). The loader refuses a map that carries one: a key named
like a secret with a value, a value that looks like a Stripe key, or a key or value that
contains one of those variables' current values (as it is, URL-encoded or base64-encoded,
among the forms :func:`secondconf.core.redact.encodings` lists), naming the variable.

No error message repeats a value from the map: any field may be where a secret was pasted
by mistake, so a message says which field is wrong and why. The file is read with limits,
so a wrong file is one error line and not a long stall: at most :data:`MAX_MAP_BYTES`
(1 MiB; a real map is a few KiB), a regular file only (a FIFO would block), and JSON
nested at most :data:`MAX_NESTING` levels deep (a real map needs four). A ``ca_bundle``
must load as a PEM CA bundle.

Building a map by asking each app what it serves is :mod:`secondconf.target.discovery`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import ssl
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import urlsplit

from secondconf.contract.platform import APP_IDS, APP_ROLES, ENVS, SECRET_ENV_VARS
from secondconf.core.files import write_atomic
from secondconf.core.redact import encodings

HEALTH_PATH: Final = "/health"
READY_PATH: Final = "/ready"
OPENAPI_PATH: Final = "/openapi.json"
MAX_MAP_BYTES: Final = 1024 * 1024
MAX_NESTING: Final = 16

_SECRET_ADVICE: Final = (
    "secrets never belong in the system map; name the environment variable instead "
    f"({', '.join(SECRET_ENV_VARS)})"
)
# Key names that say "this holds a secret"; suffixes that say "this names or locates one".
_SECRET_KEY_MARKERS: Final = (
    "secret",
    "password",
    "passwd",
    "token",
    "api_key",
    "apikey",
    "private_key",
    "publishable_key",
    "telemetry_key",
    "credential",
)
# ``_field`` names a form field (``password_field: "password"``), not a secret.
_NAMING_SUFFIXES: Final = (
    "_url",
    "_uri",
    "_endpoint",
    "_env",
    "_env_var",
    "_var",
    "_name",
    "_field",
)
_ENV_VAR_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
_SECRET_VALUE_PREFIXES: Final = (
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "rk_test_",
    "pk_live_",
    "pk_test_",
    "whsec_",
)
_MIN_SECRET_MATCH_LENGTH: Final = 8  # shorter env values would match innocent strings
# The funnel steps a map may list a browser page for (harness extension of contract §10).
PAGE_STEPS: Final = ("b2c.landing", "b2c.checkout", "b2b.landing", "b2b.portal")


class SystemMapError(Exception):
    """A system map, targets file or discovery input that cannot be used.

    The message is one line that names the file (or source) and the field at fault.
    """


@dataclass(frozen=True)
class AppEntry:
    """One app of the deployment: where it is and what it serves."""

    app_id: str
    base_url: str
    role: str
    health: str
    ready: str
    version: str
    routes: tuple[str, ...]

    @property
    def health_url(self) -> str:
        return self.base_url + self.health

    @property
    def ready_url(self) -> str:
        return self.base_url + self.ready


@dataclass(frozen=True)
class BrowserLogin:
    """A1's browser login as the cookie and redirect checks drive it (harness extension).

    ``password_env`` names the variable holding the synthetic identities' password (never
    the password itself); ``cookie_domain`` ``None`` means a host-only cookie (no
    ``Domain``); ``cookie_name`` ``None`` means "the one cookie the login sets".
    """

    client_id: str
    redirect_uri: str
    session_ttl_s: int
    cookie_domain: str | None = None
    username_field: str = "username"
    password_field: str = "password"
    password_env: str = "OIDC_CLIENT_SECRET"
    cookie_name: str | None = None


@dataclass(frozen=True)
class SystemMap:
    """A validated system map. ``ca_bundle`` is absolute; base URLs have no trailing slash."""

    env: str
    generated_at: str
    apps: Mapping[str, AppEntry]
    telemetry_base_url: str
    identity_base_url: str
    qa_client_id: str
    stripe_api_base: str | None
    ca_bundle: Path | None
    telemetry_app_id: str = "A8"
    identity_app_id: str = "A1"
    browser_login: BrowserLogin | None = None
    pages: Mapping[str, str] = dataclasses.field(default_factory=dict)  # step -> page URL

    def __post_init__(self) -> None:
        # A read-only view: a map is validated once and then shared, never edited.
        object.__setattr__(self, "apps", MappingProxyType(dict(self.apps)))
        object.__setattr__(self, "pages", MappingProxyType(dict(self.pages)))


# --- loading -------------------------------------------------------------------------------


class Document:
    """One JSON document being validated (a map, a targets file, discovery's input);
    every error names its source and field."""

    def __init__(self, label: str, error_type: type[SystemMapError] = SystemMapError) -> None:
        self.label = label
        self.error_type = error_type

    def error(self, field: str, problem: str) -> SystemMapError:
        return self.error_type(f"{self.label}: {field}: {problem}")

    def object(self, value: Any, field: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.error(field, f"must be a JSON object, got {_json_type(value)}")
        return value

    def string(
        self, parent: Mapping[str, Any], key: str, field: str, default: str | None = None
    ) -> str:
        if key not in parent:
            if default is None:
                raise self.error(field, "missing")
            return default
        value = parent[key]
        if not isinstance(value, str):
            raise self.error(field, f"must be a string, got {_json_type(value)}")
        return value

    def url(self, value: Any, field: str) -> str:
        if not isinstance(value, str):
            raise self.error(field, f"must be a string, got {_json_type(value)}")
        problem = url_problem(value)
        if problem is not None:
            raise self.error(field, problem)
        return value.rstrip("/")

    def path(self, parent: Mapping[str, Any], key: str, field: str, default: str) -> str:
        value = self.string(parent, key, field, default)
        if not value.startswith("/"):
            raise self.error(field, "must be a path starting with '/'")
        return value


def url_problem(value: str) -> str | None:
    """Why ``value`` is not a usable http(s) base URL, or ``None`` when it is.

    The message never repeats the value: it may be a secret pasted in the wrong place.
    """
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "is not a valid URL (malformed host or port)"
    if parts.username is not None or parts.password is not None:
        return f"credentials in a URL are secrets; {_SECRET_ADVICE}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "is not an http(s) URL (scheme http or https, then a host)"
    if parts.query or parts.fragment:
        return "must not carry a query or fragment"
    return None


def load_system_map(path: Path | str, *, environ: Mapping[str, str] | None = None) -> SystemMap:
    """Read and validate a system map file; relative ``ca_bundle`` paths are resolved
    against the map file's folder.

    ``environ`` (default: ``os.environ``) supplies the current values of
    :data:`SECRET_ENV_VARS`, so a map that pastes one in is refused by value too.
    """
    path = Path(path)
    doc = Document(f"system map {path}")
    top = doc.object(read_json_document(path, doc.label), "(top level)")
    check_no_secrets(top, doc.label, environ=os.environ if environ is None else environ)
    return _parse_map(top, doc, path.parent)


def read_json_document(path: Path, label: str) -> Any:
    """The parsed JSON of ``path`` (a map or a targets file) within the stated limits:
    a regular file of at most :data:`MAX_MAP_BYTES`, nested at most :data:`MAX_NESTING`
    levels. Anything else is a one-line :class:`SystemMapError` that starts with ``label``.
    """
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise SystemMapError(f"{label}: cannot be read: not a regular file")
        with path.open("rb") as file:
            data = file.read(MAX_MAP_BYTES + 1)
    except OSError as error:
        raise SystemMapError(f"{label}: cannot be read: {error_line(error)}") from None
    if len(data) > MAX_MAP_BYTES:
        raise SystemMapError(
            f"{label}: larger than {MAX_MAP_BYTES // 1024} KiB; a system map is a few KiB"
        )
    too_deep = f"{label}: nested deeper than {MAX_NESTING} levels; a system map needs four"
    try:
        raw = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise SystemMapError(f"{label}: cannot be read: not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise SystemMapError(
            f"{label}: not valid JSON at line {error.lineno} column {error.colno}: {error.msg}"
        ) from None
    except RecursionError:
        raise SystemMapError(too_deep) from None
    if _deeper_than(raw, MAX_NESTING):
        raise SystemMapError(too_deep)
    return raw


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests objects and arrays more than ``limit`` levels (no recursion:
    the depth is what is being checked)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return False


def _parse_map(top: Mapping[str, Any], doc: Document, base_dir: Path) -> SystemMap:
    env = doc.string(top, "env", "env")
    if env not in ENVS:
        raise doc.error("env", f"unknown environment; valid values: {', '.join(ENVS)}")
    generated_at = doc.string(top, "generated_at", "generated_at")
    if not _is_rfc3339(generated_at):
        raise doc.error("generated_at", "is not an RFC 3339 timestamp with a time zone")

    if "apps" not in top:
        raise doc.error("apps", "missing (the map must name every app A1..A8)")
    apps_raw = doc.object(top["apps"], "apps")
    unknown = sorted(set(apps_raw) - set(APP_IDS))
    if unknown:
        raise doc.error(f"apps.{unknown[0]}", "unknown app id; valid ids: A1..A8")
    apps: dict[str, AppEntry] = {}
    for app_id in APP_IDS:
        field = f"apps.{app_id}"
        if app_id not in apps_raw:
            raise doc.error(field, "missing (the map must name every app A1..A8)")
        apps[app_id] = _parse_app(app_id, doc.object(apps_raw[app_id], field), doc)

    telemetry = _section(top, "telemetry", doc, "A8's telemetry base_url")
    telemetry_app = _app_ref(telemetry, "telemetry", doc, default="A8")
    if "base_url" not in telemetry:
        raise doc.error("telemetry.base_url", "missing")
    telemetry_url = doc.url(telemetry["base_url"], "telemetry.base_url")

    identity = _section(top, "identity", doc, "A1's app_id and qa_client_id")
    identity_app = _app_ref(identity, "identity", doc, default="A1")
    qa_client_id = doc.string(identity, "qa_client_id", "identity.qa_client_id")
    if not qa_client_id:
        raise doc.error("identity.qa_client_id", "must not be empty")
    identity_url = apps[identity_app].base_url
    if "base_url" in identity:
        identity_url = doc.url(identity["base_url"], "identity.base_url")
    browser_login = None
    if identity.get("browser_login") is not None:
        browser_login = _parse_browser_login(identity["browser_login"], doc)

    stripe_api_base: str | None = None
    if top.get("stripe") is not None:
        stripe = doc.object(top["stripe"], "stripe")
        if stripe.get("api_base") is not None:
            stripe_api_base = doc.url(stripe["api_base"], "stripe.api_base")

    ca_bundle = None if top.get("ca_bundle") is None else _ca_bundle(top, doc, base_dir)
    pages = {} if top.get("pages") is None else _parse_pages(top["pages"], apps, doc)

    return SystemMap(
        env=env,
        generated_at=generated_at,
        apps=apps,
        telemetry_base_url=telemetry_url,
        identity_base_url=identity_url,
        qa_client_id=qa_client_id,
        stripe_api_base=stripe_api_base,
        ca_bundle=ca_bundle,
        telemetry_app_id=telemetry_app,
        identity_app_id=identity_app,
        browser_login=browser_login,
        pages=pages,
    )


def _parse_pages(raw: Any, apps: Mapping[str, AppEntry], doc: Document) -> dict[str, str]:
    """``pages``: each known step's page, an absolute URL on the origin of an app of the map
    (a page elsewhere would send the journey's synthetic headers to a stranger)."""
    section = doc.object(raw, "pages")
    origins = {_origin(entry.base_url) for entry in apps.values()}
    pages: dict[str, str] = {}
    for step, value in section.items():
        field = f"pages.{step}"
        if step not in PAGE_STEPS:
            raise doc.error(field, f"unknown step; valid steps: {', '.join(PAGE_STEPS)}")
        if not isinstance(value, str):
            raise doc.error(field, f"must be a string, got {_json_type(value)}")
        problem = url_problem(value)
        if problem is not None:
            raise doc.error(field, problem)
        if _origin(value) not in origins:
            raise doc.error(field, "is not on the origin of an app of the map (apps.*.base_url)")
        pages[step] = value
    return pages


def _origin(url: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` with the scheme's default port made explicit."""
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


def _ca_bundle(top: Mapping[str, Any], doc: Document, base_dir: Path) -> Path:
    """The map's CA bundle, resolved against the map's folder; it must load as PEM here,
    where a bad one is one error line, not later inside an HTTPS client."""
    path = (base_dir / doc.string(top, "ca_bundle", "ca_bundle")).resolve()
    if not path.is_file():
        raise doc.error("ca_bundle", "no such file (a relative path is read from the map's folder)")
    try:
        ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError):
        raise doc.error(
            "ca_bundle", "is not a PEM CA bundle (no certificate loads from it)"
        ) from None
    return path


_MAX_SESSION_TTL_S: Final = 400 * 24 * 3600  # browsers cap a cookie's lifetime at 400 days


def _parse_browser_login(raw: Any, doc: Document) -> BrowserLogin:
    field = "identity.browser_login"
    section = doc.object(raw, field)
    known = {f.name for f in dataclasses.fields(BrowserLogin)}
    unknown = sorted(set(section) - known)
    if unknown:
        raise doc.error(
            f"{field}.{unknown[0]}", f"unknown field; valid: {', '.join(sorted(known))}"
        )

    def text(key: str, default: str | None = None) -> str:
        value = doc.string(section, key, f"{field}.{key}", default)
        if not value:
            raise doc.error(f"{field}.{key}", "must not be empty")
        return value

    def optional_text(key: str) -> str | None:
        return None if section.get(key) is None else text(key)

    redirect_uri = text("redirect_uri")
    parts = urlsplit(redirect_uri)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        raise doc.error(
            f"{field}.redirect_uri", "must be an absolute http(s) URL without a fragment"
        )
    if parts.username is not None or parts.password is not None:
        raise doc.error(
            f"{field}.redirect_uri", f"credentials in a URL are secrets; {_SECRET_ADVICE}"
        )
    ttl = section.get("session_ttl_s")
    if ttl is None:
        raise doc.error(f"{field}.session_ttl_s", "missing")
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 0 < ttl <= _MAX_SESSION_TTL_S:
        raise doc.error(
            f"{field}.session_ttl_s", f"must be an integer in 1..{_MAX_SESSION_TTL_S} (seconds)"
        )
    password_env = text("password_env", "OIDC_CLIENT_SECRET")
    if _ENV_VAR_NAME.fullmatch(password_env) is None:
        raise doc.error(f"{field}.password_env", "must name an environment variable (A_NAME)")
    cookie_domain = optional_text("cookie_domain")
    if cookie_domain is not None and any(c in cookie_domain for c in "; ,/"):
        raise doc.error(f"{field}.cookie_domain", "is not a domain (no ';', ',', '/' or space)")
    return BrowserLogin(
        client_id=text("client_id"),
        redirect_uri=redirect_uri,
        session_ttl_s=ttl,
        cookie_domain=cookie_domain,
        username_field=text("username_field", "username"),
        password_field=text("password_field", "password"),
        password_env=password_env,
        cookie_name=optional_text("cookie_name"),
    )


def _parse_app(app_id: str, raw: Mapping[str, Any], doc: Document) -> AppEntry:
    field = f"apps.{app_id}"
    if "base_url" not in raw:
        raise doc.error(f"{field}.base_url", "missing")
    routes_raw = raw.get("routes", [])
    if not isinstance(routes_raw, list) or not all(isinstance(r, str) for r in routes_raw):
        raise doc.error(f"{field}.routes", "must be a JSON array of strings")
    return AppEntry(
        app_id=app_id,
        base_url=doc.url(raw["base_url"], f"{field}.base_url"),
        role=doc.string(raw, "role", f"{field}.role", APP_ROLES[app_id]),
        health=doc.path(raw, "health", f"{field}.health", HEALTH_PATH),
        ready=doc.path(raw, "ready", f"{field}.ready", READY_PATH),
        version=doc.string(raw, "version", f"{field}.version", "unknown"),
        routes=tuple(routes_raw),
    )


def _section(top: Mapping[str, Any], key: str, doc: Document, what: str) -> Mapping[str, Any]:
    if top.get(key) is None:
        raise doc.error(key, f"missing (the map must name {what})")
    return doc.object(top[key], key)


def _app_ref(section: Mapping[str, Any], name: str, doc: Document, *, default: str) -> str:
    app_id = doc.string(section, "app_id", f"{name}.app_id", default)
    if app_id not in APP_IDS:
        raise doc.error(f"{name}.app_id", "is not an app id; valid ids: A1..A8")
    return app_id


def check_no_secrets(
    value: Any, label: str, *, environ: Mapping[str, str], field: str = ""
) -> None:
    """Raise :class:`SystemMapError` if ``value`` (a parsed JSON document) holds a secret.

    A secret is a key named like one (``secret``, ``token``, ``password``, …) with a
    value that is not the name of an environment variable; a string shaped like a
    Stripe key; or a key or string that contains the current value of one of
    :data:`SECRET_ENV_VARS` in any of its encodings (raw, URL-encoded, base64, …).
    The message names the field and the variable, never the value.
    """
    needles = {
        needle: (name, encoding)
        for name in SECRET_ENV_VARS
        if len(environ.get(name, "")) >= _MIN_SECRET_MATCH_LENGTH
        for needle, encoding in encodings(environ[name]).items()
    }
    _scan_for_secrets(value, label, field, needles)


def _scan_for_secrets(
    value: Any, label: str, field: str, needles: Mapping[bytes, tuple[str, str]]
) -> None:
    where = field or "(top level)"
    if isinstance(value, dict):
        for key, item in value.items():
            found = _secret_in(str(key), needles)
            if found is not None:
                raise SystemMapError(f"{label}: {where}: a key {found}; {_SECRET_ADVICE}")
            child = f"{field}.{key}" if field else str(key)
            if _names_a_secret(str(key)) and _holds_a_value(item):
                raise SystemMapError(f"{label}: {child}: {_SECRET_ADVICE}")
            _scan_for_secrets(item, label, child, needles)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _scan_for_secrets(item, label, f"{field}[{index}]", needles)
    elif isinstance(value, str):
        found = _secret_in(value, needles)
        if found is not None:
            raise SystemMapError(f"{label}: {where}: {found}; {_SECRET_ADVICE}")
        if value.startswith(_SECRET_VALUE_PREFIXES):
            raise SystemMapError(f"{label}: {where}: {_SECRET_ADVICE}")


def _secret_in(text: str, needles: Mapping[bytes, tuple[str, str]]) -> str | None:
    """``holds the value of NAME (encoding)`` if ``text`` contains a secret, else ``None``."""
    data = text.encode("utf-8", "surrogatepass")
    for needle, (name, encoding) in needles.items():
        if needle in data:
            return f"holds the value of {name} ({encoding})"
    return None


def _names_a_secret(key: str) -> bool:
    name = key.lower().replace("-", "_")
    if name.endswith(_NAMING_SUFFIXES):
        return False
    return name in {v.lower() for v in SECRET_ENV_VARS} or any(
        marker in name for marker in _SECRET_KEY_MARKERS
    )


def _holds_a_value(item: Any) -> bool:
    """Whether a secret-named key holds a string that is not an environment variable's name."""
    if not isinstance(item, str) or item == "":
        return False  # null, numbers and flags are no secrets; containers are scanned inside
    return _ENV_VAR_NAME.fullmatch(item) is None


# --- writing -------------------------------------------------------------------------------


def dump_system_map(system_map: SystemMap) -> dict[str, Any]:
    """The map as the JSON shape of contract §2 (what :func:`load_system_map` reads)."""
    apps = {
        app_id: {
            "base_url": entry.base_url,
            "role": entry.role,
            "health": entry.health,
            "ready": entry.ready,
            "version": entry.version,
            "routes": list(entry.routes),
        }
        for app_id, entry in system_map.apps.items()
    }
    identity: dict[str, Any] = {
        "app_id": system_map.identity_app_id,
        "qa_client_id": system_map.qa_client_id,
    }
    if system_map.identity_base_url != system_map.apps[system_map.identity_app_id].base_url:
        identity["base_url"] = system_map.identity_base_url
    if system_map.browser_login is not None:
        identity["browser_login"] = dataclasses.asdict(system_map.browser_login)
    data: dict[str, Any] = {
        "env": system_map.env,
        "generated_at": system_map.generated_at,
        "apps": apps,
        "telemetry": {
            "app_id": system_map.telemetry_app_id,
            "base_url": system_map.telemetry_base_url,
        },
        "identity": identity,
    }
    if system_map.stripe_api_base is not None:
        data["stripe"] = {"api_base": system_map.stripe_api_base}
    if system_map.ca_bundle is not None:
        data["ca_bundle"] = str(system_map.ca_bundle)
    if system_map.pages:
        data["pages"] = dict(system_map.pages)
    return data


def write_system_map(system_map: SystemMap, path: Path | str) -> None:
    """Write the map atomically: a reader never sees half a file."""
    text = json.dumps(dump_system_map(system_map), indent=2) + "\n"
    write_atomic(Path(path), text)


def _is_rfc3339(text: str) -> bool:
    if "T" not in text.upper():
        return False
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return False
    return moment.tzinfo is not None


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


def error_line(error: BaseException) -> str:
    """An exception as a short single line (messages here must stay one line)."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:200]
