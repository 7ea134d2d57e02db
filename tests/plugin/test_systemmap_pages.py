"""The system map's ``pages`` (harness extension of contract §10): parsed, validated, written
back; a bad entry is one error line naming the field, never echoing its value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from secondconf.target.map import (
    SystemMapError,
    dump_system_map,
    load_system_map,
    write_system_map,
)

from tests.plugin.test_systemmap import map_dir, valid_map_data, write_map

__all__ = ["map_dir"]  # the fixture, imported for this module's tests

PAGES = {
    "b2c.landing": "https://127.0.0.1:8107/p/micro-course",
    "b2c.checkout": "https://127.0.0.1:8102/checkout",
    "b2b.landing": "https://127.0.0.1:8107/providers",
    "b2b.portal": "https://127.0.0.1:8106/portal",
}


def with_pages(pages: Any) -> dict[str, Any]:
    return valid_map_data() | {"pages": pages}


def test_pages_load_and_round_trip(map_dir: Path) -> None:
    loaded = load_system_map(write_map(map_dir, with_pages(PAGES)), environ={})
    assert dict(loaded.pages) == PAGES
    copy_path = map_dir / "copy.json"
    write_system_map(loaded, copy_path)
    assert load_system_map(copy_path, environ={}) == loaded
    assert dump_system_map(loaded)["pages"] == PAGES


def test_a_map_without_pages_has_none_and_dumps_none(map_dir: Path) -> None:
    loaded = load_system_map(write_map(map_dir, valid_map_data()), environ={})
    assert dict(loaded.pages) == {}
    assert "pages" not in dump_system_map(loaded)


def test_a_default_port_matches_the_app_origin(map_dir: Path) -> None:
    data = with_pages({"b2c.landing": "https://a7.example:443/p/x"})
    data["apps"]["A7"]["base_url"] = "https://A7.example"
    loaded = load_system_map(write_map(map_dir, data), environ={})
    assert loaded.pages["b2c.landing"] == "https://a7.example:443/p/x"


BAD_PAGES: dict[str, tuple[Any, str]] = {
    "not an object": (["https://127.0.0.1:8107/p"], "pages: must be a JSON object"),
    "unknown step": ({"b2c.signup": PAGES["b2c.landing"]}, "pages.b2c.signup: unknown step"),
    "not a string": ({"b2c.landing": 7}, "pages.b2c.landing: must be a string"),
    "relative": ({"b2c.landing": "/p/micro-course"}, "pages.b2c.landing: is not an http(s) URL"),
    "elsewhere": (
        {"b2c.checkout": "https://evil.example/checkout"},
        "pages.b2c.checkout: is not on the origin of an app of the map",
    ),
    "other port": (
        {"b2c.checkout": "https://127.0.0.1:9999/checkout"},
        "pages.b2c.checkout: is not on the origin of an app of the map",
    ),
    "http for an https app": (
        {"b2b.portal": "http://127.0.0.1:8106/portal"},
        "pages.b2b.portal: is not on the origin of an app of the map",
    ),
    "credentials": (
        {"b2b.portal": "https://user:pw@127.0.0.1:8106/portal"},
        "pages.b2b.portal: credentials in a URL are secrets",
    ),
}


@pytest.mark.parametrize(("pages", "message"), BAD_PAGES.values(), ids=BAD_PAGES.keys())
def test_a_bad_page_is_one_line_naming_the_field(map_dir: Path, pages: Any, message: str) -> None:
    path = write_map(map_dir, with_pages(pages))
    with pytest.raises(SystemMapError) as caught:
        load_system_map(path, environ={})
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(f"system map {path}: ")
    assert message in text
    assert "evil.example" not in text  # the value is never echoed
    assert "pw@" not in text
