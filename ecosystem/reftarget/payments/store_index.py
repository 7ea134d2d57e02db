"""An index of localstripe's store by object type (server process only: imports localstripe).

Why: localstripe 1.15.10 keeps every object in one dict keyed ``"<type>:<id>"`` and lists a
type (``StripeObject._api_list_all``) by testing every key in it. A Charge's export lists its
refunds three times (``refunds``, ``amount_refunded``, ``refunded``), and a PaymentIntent's
export and each of its events export the charge, so one confirmed micro-charge scanned the
whole store a dozen times. A charge therefore cost time in proportion to everything the
server had stored before it: 6 ms (p50) after 250 charges, 52 ms after 1,500
(``perf/bench_stripe_store.py``), and the gate's billing load, which comes after the funnels'
checkouts, measured a p95 over the SLO for a cost that is the fake's, not the platform's.

With the index a type's list costs that type's size; order and contents are the store's own
(insertion order, a re-set key keeps its place), so every answer is unchanged.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

__all__ = ["index_store_by_type", "objects_of_type"]

# type ("charge") -> store key ("charge:ch_…") -> object, in the store's insertion order.
_by_type: dict[str, dict[str, Any]] = {}


def objects_of_type(kind: str) -> list[Any]:
    """Every stored object of ``kind`` (the part of its store key before ``:``), oldest first."""
    return list(_by_type.get(kind, {}).values())


def index_store_by_type(resources: ModuleType) -> None:
    """Keep the index in step with ``resources.Store`` and list types from it.

    Call before the server serves. localstripe writes its store only through ``store[k] = v``,
    ``del store[k]`` and ``store.clear()`` (``DELETE /_config/data``), the three operations
    patched here; objects already stored are indexed now.
    """
    store_class = resources.Store
    _by_type.clear()
    for key, value in resources.store.items():
        _index(key, value)

    def set_item(store: dict[str, Any], key: str, value: Any) -> None:
        dict.__setitem__(store, key, value)
        _index(key, value)

    def del_item(store: dict[str, Any], key: str) -> None:
        dict.__delitem__(store, key)
        kind, separator, _ = key.partition(":")
        if separator:
            _by_type.get(kind, {}).pop(key, None)

    def clear(store: dict[str, Any]) -> None:
        dict.clear(store)
        _by_type.clear()

    def list_all(
        cls: Any,
        url: str,
        limit: Any = None,
        starting_after: Any = None,
        **kwargs: Any,
    ) -> Any:
        # localstripe's own body, with the index in place of the scan.
        if kwargs:
            raise resources.UserError(400, "Unexpected " + ", ".join(kwargs.keys()))
        listing = resources.List(url, limit=limit, starting_after=starting_after)
        listing._list = objects_of_type(cls.object)
        return listing

    store_class.__setitem__ = set_item
    store_class.__delitem__ = del_item
    store_class.clear = clear
    resources.StripeObject._api_list_all = classmethod(list_all)


def _index(key: str, value: Any) -> None:
    kind, separator, _ = key.partition(":")
    if separator:  # singletons such as "balance" have no id and are never listed
        _by_type.setdefault(kind, {})[key] = value
