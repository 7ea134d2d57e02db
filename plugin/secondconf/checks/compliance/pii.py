"""What counts as PII in text the run left behind (contract §14), and the run's canaries.

Two kinds of evidence, both reported by *kind and place*, never by value:

* **Canaries**: distinctive values the harness itself typed into its synthetic traffic
  (:class:`Canaries`: an e-mail address, a name, free text, a user agent, a client
  address). Finding one anywhere but in the request that carried it is a leak, whatever
  its shape.
* **Patterns**: anything shaped like an e-mail address, an IPv4 or IPv6 address, a
  payment card number or a phone number, so a leak of a *real* user's data is caught too.

What is not PII, decided here and tested (``tests/plugin/test_pii_patterns.py``):

* an address in the host part of a URL (``https://127.0.0.1:8101/health``,
  ``https://[::1]:8443``): the system map's configuration, not a user's address;
* loopback and unspecified addresses (``127.0.0.0/8``, ``0.0.0.0``, ``::1``, ``::``): no
  user connects from them. (Against the embedded target the harness's own address is
  loopback; that is why it plants a client address of its own, from the documentation
  range 203.0.113.0/24, in ``X-Forwarded-For``.);
* ``user@host`` inside a URL (``https://127.0.0.1:60731@evil.example/``: a URL's
  userinfo, as the OIDC redirect checks send on purpose), not an e-mail address;
* digits inside a longer word or number: trace ids and other hex, decimals, version
  strings (a pattern must stand alone between non-word characters);
* an "IPv6 address" of fewer than three hex groups (``a8::<lambda>``, pytest's name of a
  fixture's finalizer in Allure results; ``dead::beef``): a user's address has a prefix
  and an interface id;
* a digit run that fails the Luhn check or has no card issuer's prefix (Visa 4,
  Mastercard 51-55 and 2221-2720, Amex 34/37, Discover 6011/644-649/65, JCB 3528-3589,
  Diners 300-305/36/38): epoch milliseconds start with 1 and are no card;
* a number is a phone number only in a phone's shape: ``+`` and 8-15 digits
  (E.164, separators allowed), or the North American ``(555) 010-0199`` /
  ``555-010-0199`` / ``555.010.0199``; plain digit groups in a table are not.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

EMAIL: Final = "e-mail address"
IPV4: Final = "IPv4 address"
IPV6: Final = "IPv6 address"
CARD: Final = "card number"
PHONE: Final = "phone number"
PATTERN_KINDS: Final = (EMAIL, IPV4, IPV6, CARD, PHONE)
# A user's IPv6 address has a prefix and an interface id: three hex groups at least.
# Fewer is a name with colons (pytest's ``a8::<lambda>``, ``dead::beef``), not an address.
IPV6_MIN_GROUPS: Final = 3

_DIGIT = re.compile(r"\d")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:]|\.\d)")
_CARD = re.compile(r"(?<![\w.-])\d(?:[ -]?\d){12,18}(?![\w]|[.-]\d)")
_PHONE_E164 = re.compile(r"(?<![\w+])\+\d[\d ().-]{6,20}\d(?![\w]|[.-]\d)")
_PHONE_NANP = re.compile(
    r"(?<![\w.+-])(?:\(\d{3}\) ?\d{3}-\d{4}|\d{3}-\d{3}-\d{4}|\d{3}\.\d{3}\.\d{4})(?![\w]|[.-]\d)"
)
_CARD_PREFIXES: Final = (
    (("4",), (13, 16, 19)),
    (tuple(str(p) for p in range(51, 56)), (16,)),
    (tuple(str(p) for p in range(2221, 2721)), (16,)),
    (("34", "37"), (15,)),
    (("6011", "65", *(str(p) for p in range(644, 650))), (16, 17, 18, 19)),
    (tuple(str(p) for p in range(3528, 3590)), (16, 17, 18, 19)),
    (("36", "38", *(str(p) for p in range(300, 306))), (14, 15, 16, 17, 18, 19)),
)


@dataclass(frozen=True)
class Hit:
    """One place in a text that holds PII: its kind and offset, never the value."""

    kind: str
    offset: int


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check every payment card number passes."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def is_card_number(digits: str) -> bool:
    """A Luhn-valid digit string of a length an issuer with that prefix uses."""
    if not digits.isdigit() or not luhn_valid(digits):
        return False
    return any(
        digits.startswith(prefixes) and len(digits) in lengths
        for prefixes, lengths in _CARD_PREFIXES
    )


_TOKEN_DELIMITERS: Final = " \t\r\n\"'<>`|,()"


def _in_url_host(text: str, start: int) -> bool:
    """Whether ``start`` lies in the authority of a URL (``scheme://user@host:port``),
    which is where the system map's addresses and a URL's userinfo sit."""
    token_start = max(text.rfind(c, 0, start) for c in _TOKEN_DELIMITERS) + 1
    prefix = text[token_start:start]
    scheme_at = prefix.rfind("://")
    return scheme_at != -1 and "/" not in prefix[scheme_at + 3 :]


def _address_is_user_data(text: str, start: int, address: str) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    if parsed.is_loopback or parsed.is_unspecified:
        return False
    return not _in_url_host(text, start)


def _may_hold_a_pattern(text: str) -> bool:
    """A cheap test first: every pattern needs 6+ characters and an ``@``, a digit or two
    colons (the final scan reads every string of every report; most are words)."""
    return len(text) >= 6 and (
        "@" in text or text.count(":") >= 2 or _DIGIT.search(text) is not None
    )


def find_patterns(text: str) -> list[Hit]:
    """Every place in ``text`` shaped like PII (see the module docstring for what is not)."""
    hits: list[Hit] = []
    if not _may_hold_a_pattern(text):
        return hits
    for match in _EMAIL.finditer(text):
        if not _in_url_host(text, match.start()):
            hits.append(Hit(EMAIL, match.start()))
    for match in _IPV4.finditer(text):
        if _address_is_user_data(text, match.start(), match.group()):
            hits.append(Hit(IPV4, match.start()))
    for match in _IPV6.finditer(text):
        candidate = match.group()
        groups = [g for g in candidate.split(":") if g]
        if len(groups) >= IPV6_MIN_GROUPS and _address_is_user_data(text, match.start(), candidate):
            hits.append(Hit(IPV6, match.start()))
    for match in _CARD.finditer(text):
        if is_card_number(re.sub(r"[ -]", "", match.group())):
            hits.append(Hit(CARD, match.start()))
    for match in _PHONE_E164.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 8 <= len(digits) <= 15:
            hits.append(Hit(PHONE, match.start()))
    hits.extend(Hit(PHONE, m.start()) for m in _PHONE_NANP.finditer(text))
    hits.sort(key=lambda h: (h.offset, h.kind))
    return hits


# -- the run's canaries -------------------------------------------------------------------

DOCUMENTATION_NET: Final = "203.0.113"  # RFC 5737 TEST-NET-3: never a real user's address


@dataclass(frozen=True)
class Canaries:
    """Values the harness plants in what a user can type or send, unique to one run.

    ``needles`` are the parts searched for: each distinctive on its own, so a leak of part
    of a value (a surname without the first name) is found too.
    """

    token: str  # 10 lowercase hex digits
    surname: str  # letters only, so it reads as a name

    @classmethod
    def new(cls) -> Canaries:
        letters = "".join(secrets.choice(string.ascii_lowercase) for _ in range(8))
        return cls(token=secrets.token_hex(5), surname="Quarnby" + letters)

    @property
    def email(self) -> str:
        return f"canary.{self.token}@example.org"

    @property
    def name(self) -> str:
        return f"Ottilie {self.surname}"

    @property
    def free_text(self) -> str:
        """What a student might type: a question, with a name, e-mail and phone in it."""
        phone = f"+44 20 7946 0{int(self.token, 16) % 1000:03d}"  # Ofcom's drama range
        return (
            f"Explain the water cycle for my revision. Private note {self.token}: my name is "
            f"{self.name}, write to {self.email} or call {phone}."
        )

    @property
    def user_agent(self) -> str:
        return f"Mozilla/5.0 (X11; Linux x86_64) secondconf-canary/{self.token}"

    @property
    def client_ip(self) -> str:
        return f"{DOCUMENTATION_NET}.{int(self.token, 16) % 254 + 1}"

    def needles(self) -> Mapping[str, str]:
        """What is searched for, by the label a finding names (never the value)."""
        return {
            "canary e-mail address": self.email,
            "canary name": self.surname,
            "canary free text": f"Private note {self.token}",
            "canary user agent": f"secondconf-canary/{self.token}",
        }

    def find(self, text: str) -> Iterator[Hit]:
        """Each place ``text`` holds a canary, raw or URL-encoded; the client address as
        a whole address only (``203.0.113.7`` is not in ``203.0.113.71``)."""
        for label, value in self.needles().items():
            for form in dict.fromkeys((value, quote(value, safe=""))):
                at = text.find(form)
                while at != -1:
                    yield Hit(label, at)
                    at = text.find(form, at + 1)
        for match in _IPV4.finditer(text):
            if match.group() == self.client_ip:
                yield Hit("canary client address", match.start())


def find_pii(text: str, canaries: Canaries | None = None) -> list[Hit]:
    """Canary hits (when the run planted some) and pattern hits, in text order."""
    hits = find_patterns(text)
    if canaries is not None:
        hits.extend(canaries.find(text))
    hits.sort(key=lambda h: (h.offset, h.kind))
    return hits
