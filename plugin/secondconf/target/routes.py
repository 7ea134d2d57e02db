"""What the hardening checks exercise: each app's mutating routes, read from its OpenAPI document.

A route is covered by the header and idempotency rules of contract §4 when it is a POST,
PUT, PATCH or DELETE that is not exempt. The document decides where it says so
(``x-contract-rules``); otherwise the contract's own exemptions apply: A8's telemetry
ingest and A1's OIDC protocol endpoints. Every covered route needs a request that can
succeed, built from the document alone:

* the body is the operation's JSON example (``example``, else the first of ``examples``;
  an object schema with nothing required stands for ``{}``);
* string fields are made unique per request (a suffix), where the schema allows, so
  two checks never collide on a unique slug and a created resource can be found again;
* a path parameter (``/v1/pages/{page_id}/publish``) is filled with the id of a resource
  that the route's *creator* made: the POST at the path before the parameter
  (``/v1/pages``), whose answer names the id (the field of the parameter's name, else ``id``);
* a body field named like one of the app's path parameters (``page_id``) refers to such
  a resource too, and gets the id of the one most recently prepared.

A covered route without a usable example, or with a parameter no creator can fill, is
listed as untested with the reason: never silently passed.
"""

from __future__ import annotations

import copy
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

MUTATING_METHODS: Final = ("POST", "PUT", "PATCH", "DELETE")
TELEMETRY_INGEST: Final = "/v1/events"
# A1's protocol endpoints follow OIDC, not §4 (used when the document does not say).
OIDC_PATH_PREFIXES: Final = ("/oauth/", "/.well-known/", "/userinfo", "/jwks", "/_admin/")
_PARAM = re.compile(r"\{([^}/]+)\}")


@dataclass(frozen=True)
class ExemptRoute:
    """A mutating route outside the §4 rules, and why."""

    app_id: str
    method: str
    template: str
    reason: str

    @property
    def label(self) -> str:
        return f"{self.app_id} {self.method} {self.template}"


@dataclass(frozen=True)
class MutatingRoute:
    """A covered route and what is needed to send it a request that can succeed."""

    app_id: str
    method: str
    template: str
    example: Any
    schema: Mapping[str, Any] = field(default_factory=dict)
    path_params: tuple[str, ...] = ()
    creator: str | None = None  # template of the POST that creates the path's resource
    collection: str | None = None  # a GET at the same path that lists what it creates
    reader: str | None = None  # a GET of one created resource (``{prefix}/{param}``)
    references: tuple[str, ...] = ()  # body fields naming a resource of the app (``page_id``)

    @property
    def label(self) -> str:
        return f"{self.app_id} {self.method} {self.template}"

    def path(self, values: Mapping[str, str]) -> str:
        """The template with its parameters filled from ``values``."""
        return fill_template(self.template, values)


@dataclass(frozen=True)
class AppRoutes:
    """One app's routes as the hardening checks see them."""

    app_id: str
    covered: tuple[MutatingRoute, ...]
    exempt: tuple[ExemptRoute, ...]
    untested: tuple[ExemptRoute, ...]  # covered, but no request could be built
    readers: Mapping[str, str]  # path parameter -> GET template reading that resource
    reads: tuple[str, ...] = ()  # every GET template with path parameters


def discover_routes(
    app_id: str, document: Mapping[str, Any], *, identity_app: str = "A1", telemetry_app: str = "A8"
) -> AppRoutes:
    """Sort ``app_id``'s operations into covered, exempt and untested routes."""
    paths = document.get("paths")
    operations: dict[tuple[str, str], Mapping[str, Any]] = {}
    if isinstance(paths, Mapping):
        for template, item in paths.items():
            if not isinstance(item, Mapping):
                continue
            for method, operation in item.items():
                if isinstance(operation, Mapping) and method.upper() in (*MUTATING_METHODS, "GET"):
                    operations[(method.upper(), str(template))] = operation
    gets = {template for method, template in operations if method == "GET"}
    readers = _readers(gets)
    app_params = {param for _, template in operations for param in _PARAM.findall(template)}
    covered: list[MutatingRoute] = []
    exempt: list[ExemptRoute] = []
    untested: list[ExemptRoute] = []
    for (method, template), operation in sorted(operations.items(), key=lambda kv: kv[0][1]):
        if method == "GET":
            continue
        reason = _exemption(app_id, template, operation, identity_app, telemetry_app)
        if reason is not None:
            exempt.append(ExemptRoute(app_id, method, template, reason))
            continue
        example, schema = _example(operation)
        if example is _NO_EXAMPLE:
            untested.append(ExemptRoute(app_id, method, template, "no JSON request example"))
            continue
        params = tuple(_PARAM.findall(template))
        creator = _creator(template, operations) if params else None
        if params and creator is None:
            untested.append(
                ExemptRoute(
                    app_id, method, template, f"no POST creates the resource of {{{params[0]}}}"
                )
            )
            continue
        covered.append(
            MutatingRoute(
                app_id=app_id,
                method=method,
                template=template,
                example=example,
                schema=schema,
                path_params=params,
                creator=creator,
                references=tuple(n for n in example if n in app_params)
                if isinstance(example, dict)
                else (),
                collection=template if template in gets and not params else None,
                reader=readers.get(params[-1]) if params else None,
            )
        )
    reads = tuple(sorted(t for t in gets if _PARAM.search(t)))
    return AppRoutes(app_id, tuple(covered), tuple(exempt), tuple(untested), readers, reads)


_NO_EXAMPLE: Final = object()


def _exemption(
    app_id: str,
    template: str,
    operation: Mapping[str, Any],
    identity_app: str,
    telemetry_app: str,
) -> str | None:
    declared = operation.get("x-contract-rules")
    if declared is False:
        return "the document marks it outside the §4 rules (x-contract-rules: false)"
    if declared is True:
        return None
    if app_id == telemetry_app and template == TELEMETRY_INGEST:
        return "A8's telemetry ingest (§4 exemption)"
    if app_id == identity_app and template.startswith(OIDC_PATH_PREFIXES):
        return "an OIDC protocol endpoint (§4 exemption)"
    return None


def _example(operation: Mapping[str, Any]) -> tuple[Any, Mapping[str, Any]]:
    body = operation.get("requestBody")
    content = body.get("content") if isinstance(body, Mapping) else None
    media = content.get("application/json") if isinstance(content, Mapping) else None
    if not isinstance(media, Mapping):
        return (_NO_EXAMPLE, {}) if isinstance(body, Mapping) and body.get("required") else ({}, {})
    found = media.get("schema")
    schema: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    if "example" in media:
        return media["example"], schema
    examples = media.get("examples")
    if isinstance(examples, Mapping):
        for item in examples.values():
            if isinstance(item, Mapping) and "value" in item:
                return item["value"], schema
    if schema.get("type") == "object" and not schema.get("required"):
        return {}, schema
    return _NO_EXAMPLE, schema


def _creator(template: str, operations: Mapping[tuple[str, str], Any]) -> str | None:
    """The POST at the path before the first parameter (``/v1/pages`` for
    ``/v1/pages/{page_id}/publish``), if the document has one without parameters."""
    prefix = template[: template.index("{")].rstrip("/")
    return prefix if ("POST", prefix) in operations and "{" not in prefix else None


def _readers(gets: set[str]) -> dict[str, str]:
    """Path parameter -> the GET that reads one such resource (``/v1/pages/{page_id}``)."""
    readers: dict[str, str] = {}
    for template in sorted(gets):
        params = _PARAM.findall(template)
        if len(params) == 1 and template.endswith("{" + params[0] + "}"):
            readers.setdefault(params[0], template)
    return readers


def fill_template(template: str, values: Mapping[str, str]) -> str:
    """A route template with its parameters filled from ``values`` (all must be given)."""
    return _PARAM.sub(lambda match: values[match.group(1)], template)


def template_params(template: str) -> tuple[str, ...]:
    """The path parameters of a route template, in order."""
    return tuple(_PARAM.findall(template))


def unique_token() -> str:
    """A short random token that marks one request's body (8 lowercase hex digits)."""
    return secrets.token_hex(4)


def prepared_body(route: MutatingRoute, token: str, references: Mapping[str, str]) -> Any:
    """The route's example with its strings made unique by ``token`` and its references
    (``route.references``: fields named like a path parameter of the app) filled from
    ``references``."""
    body = copy.deepcopy(route.example)
    if not isinstance(body, dict):
        return body
    properties = route.schema.get("properties", {}) if isinstance(route.schema, Mapping) else {}
    for name, value in list(body.items()):
        if name in references:
            body[name] = references[name]
        elif isinstance(value, str):
            spec = properties.get(name, {}) if isinstance(properties, Mapping) else {}
            body[name] = _unique_string(value, token, spec if isinstance(spec, Mapping) else {})
    return body


def other_body(route: MutatingRoute, body: Any, token: str) -> Any:
    """A body the route accepts, with another fingerprint than ``body``: another value of
    an enum field, else a string field made unique with ``token``, else an extra field."""
    if not isinstance(body, dict):
        return {"qa_variant": token, "original": body}
    properties = route.schema.get("properties", {}) if isinstance(route.schema, Mapping) else {}
    specs = {
        name: spec
        for name, spec in (properties.items() if isinstance(properties, Mapping) else ())
        if isinstance(spec, Mapping)
    }
    for name, value in body.items():
        enum = specs.get(name, {}).get("enum")
        others = [v for v in enum if v != value] if isinstance(enum, list) else []
        if others:
            return {**body, name: others[0]}
    for name, value in body.items():
        if isinstance(value, str):
            changed = _unique_string(value, token, specs.get(name, {}))
            if changed != value:
                return {**body, name: changed}
    return {**body, "qa_variant": token}


def _unique_string(value: str, token: str, spec: Mapping[str, Any]) -> str:
    """``value-token`` where the schema allows it (no enum or format, length and pattern
    respected); otherwise ``value`` unchanged."""
    if "enum" in spec or "format" in spec or "const" in spec:
        return value
    candidate = f"{value}-{token}"
    max_length = spec.get("maxLength")
    if isinstance(max_length, int) and len(candidate) > max_length:
        return value
    pattern = spec.get("pattern")
    if isinstance(pattern, str):
        try:
            if re.search(pattern, candidate) is None:
                return value
        except re.error:
            return value
    return candidate


def resource_id(answer: Any, param: str) -> str | None:
    """The id a creator's JSON answer gives for ``param``: the field of that name, else ``id``."""
    if not isinstance(answer, Mapping):
        return None
    for name in (param, "id"):
        value = answer.get(name)
        if isinstance(value, str) and value:
            return value
    return None
