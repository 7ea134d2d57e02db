"""A1's OpenID provider and the token verifier every reference app uses.

Modules: ``keys`` (RSA keys in SQLite, rotation, JWKS), ``provider`` (protocol rules),
``routes`` (Starlette routes), ``verifier`` (``TokenVerifier`` for relying apps),
``registry`` (clients, users, synthetic identities), and the stores behind them
(``sessions``, ``codes``, ``storage``). Nothing here imports ``reftarget.core``; the clock
is a ``reftarget.clock.Clock`` (``TargetClock`` fits).

Decisions the contract leaves open (each is enforced by a test in tests/ecosystem/identity):

- One SQLite file per app (WAL, created mode 0600) holds signing keys, sessions and codes;
  the provider opens its stores on ``KeyStore.db_path``.
- ``kid`` = RFC 7638 thumbprint. The newest key signs; ``retire`` refuses the signing key
  (409 on ``/_admin/keys/retire``) and unknown kids (404).
- Issuer: https, no trailing slash, no query; every endpoint URL is the issuer plus a path.
  No ``end_session_endpoint`` is advertised: ``POST /oauth/logout`` clears A1's session
  but does not implement RP-initiated logout.
- Scopes: ``openid`` and ``reftarget`` (API access, the default when none is asked for).
  ``openid`` is only for the code flow, which then also returns an ``id_token``
  (``aud`` = client id, ``nonce`` echoed). Access tokens carry exactly
  ``iss, sub, tid, aud, iat, exp, scope`` and ``kid`` in the header.
- ``client_credentials`` without ``subject``: ``sub`` = the client id (``qa-harness``),
  ``tid`` = ``tenant_qa_b2c``. A ``subject`` that is not a synthetic identity →
  400 ``invalid_request``. A wrong secret → 401 ``invalid_client``.
- Authorization codes: 60 s, single use, consumed by their first presentation even if it
  fails; reuse → ``invalid_grant`` (tokens already issued stay valid: they are stateless).
  PKCE S256 is mandatory for every client; ``plain`` and a missing method are refused.
- redirect_uri: byte-exact match against the registered list, at authorize and at token;
  no loopback-port exception. A mismatch or an unknown client → HTML 400 at A1 with no
  ``Location``; later errors redirect with ``error``, ``state`` and ``iss`` (RFC 9207).
- Login: a failed login re-shows the form with 401 (no ``WWW-Authenticate``: no HTTP
  scheme applies to a form); unknown users cost a decoy scrypt check. A successful login
  always starts a new session. A live session skips the form (the code is issued at once);
  ``max_age`` and every ``prompt`` but ``create`` are ignored.
- Sign-up (``prompt=create``, OpenID Connect Prompt Create; ``accounts``): the form
  ``form#signup`` (username, password, age, optional parental_consent) always shows, live
  session or not. It creates accounts in the synthetic namespace only (403
  ``synthetic-namespace`` otherwise), with the synthetic identities' password (a wrong one
  re-shows the form with 401, an age that is not whole years with 400); an existing
  account just logs in. Under 13 without a parental-consent record is 403
  ``coppa-age-gate``: nothing stored but the ``coppa_refusals`` counter. Signed-up accounts
  may be the ``subject`` of a ``client_credentials`` token like the named identities.
- Session: absolute expiry ``session_ttl_s`` after login, checked server-side on every read;
  ``GET /oauth/session`` (200 ``{sub, tid, expires_at}`` or 401) lets a harness observe it.
  Cookie ``a1_session``: ``Max-Age`` = TTL, ``Expires`` = the session's expiry on the
  provider's clock, ``Path=/; Secure; HttpOnly; SameSite=None``; host-only unless
  ``cookie_domain`` is set. Logout: 204 with ``Max-Age=0`` and the same Path/Domain.
- Form posts (``POST /oauth/authorize``, ``/oauth/logout``) with an ``Origin`` other than
  the issuer's are refused (403): ``SameSite=None`` gives no CSRF protection.
- Userinfo accepts any valid access token (no ``openid`` scope needed), GET or POST,
  and answers ``{sub, tid}``.
- Verifier: RS256 only, no leeway, ``iat`` not compared with the clock; JWKS cached up to
  300 s, refetched on an unknown kid; all fetches at least ``refetch_cooldown_s`` apart;
  a failed fetch keeps the cached keys (``jwks_unavailable`` only when none are cached).
"""

from reftarget.identity.keys import KeyStore, SigningKey
from reftarget.identity.passwords import hash_password, verify_password
from reftarget.identity.provider import IdentityProvider, OAuthError
from reftarget.identity.registry import (
    CLIENT_TENANT,
    QA_CLIENT_ID,
    STUDENT_CLIENT_ID,
    SYNTHETIC_IDENTITIES,
    OidcClient,
    User,
    default_clients,
    synthetic_users,
)
from reftarget.identity.routes import identity_routes
from reftarget.identity.verifier import AUDIENCE, Claims, InvalidToken, TokenVerifier

__all__ = [
    "AUDIENCE",
    "CLIENT_TENANT",
    "QA_CLIENT_ID",
    "STUDENT_CLIENT_ID",
    "SYNTHETIC_IDENTITIES",
    "Claims",
    "IdentityProvider",
    "InvalidToken",
    "KeyStore",
    "OAuthError",
    "OidcClient",
    "SigningKey",
    "TokenVerifier",
    "User",
    "default_clients",
    "hash_password",
    "identity_routes",
    "synthetic_users",
    "verify_password",
]
