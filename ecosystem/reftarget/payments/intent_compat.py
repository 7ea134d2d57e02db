"""Accept ``allowed_payment_method_types`` on localstripe's ``POST /v1/payment_intents``.

Why: the stripe SDK 16.1.0 pins API version ``2026-10-28.endive``, on which real Stripe refuses
the old ``payment_method_types`` parameter (400 ``payment_method_types_no_longer_supported``,
since 2026-09-30.endive) and takes ``allowed_payment_method_types`` instead. localstripe only
knows the old name (and refuses ``automatic_payment_methods``). So A2 sends the name that real
Stripe takes, and the embedded server renames it to the one localstripe takes. For a card-only
micro-charge the two mean the same thing. Server process only (imports localstripe).
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler
from localstripe import resources, server  # type: ignore[import-untyped]
from multidict import MultiDict

__all__ = ["add_intent_compat"]

_PATH = "/v1/payment_intents"
_NEW = "allowed_payment_method_types"
_OLD = "payment_method_types"
_FORM = "application/x-www-form-urlencoded"
_NOT_PARAMS = ("key", "payment_user_agent", "referrer")  # as localstripe's get_post_data


def add_intent_compat(app: web.Application) -> None:
    """Install the rename as the innermost middleware (after localstripe's auth and errors)."""
    app.middlewares.append(_rename_allowed_types)


@web.middleware
async def _rename_allowed_types(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method != "POST" or request.path != _PATH or request.content_type != _FORM:
        return await handler(request)
    form = await request.post()
    if not any(name.startswith(_NEW) for name in form):
        return await handler(request)
    renamed: MultiDict[object] = MultiDict(
        (_OLD + name[len(_NEW) :] if name.startswith(_NEW) else name, value)
        for name, value in form.items()
    )
    # localstripe's handler reads the body itself, so do what it does with the renamed form.
    data = server.unflatten_data(renamed)
    for name in _NOT_PARAMS:
        data.pop(name, None)
    expand = data.pop("expand", None)
    intent = resources.PaymentIntent._api_create(**data)
    response: web.StreamResponse = server.json_response(intent._export(expand=expand))
    return response
