"""A1's OpenID provider: the protocol rules, with no HTTP in them (``routes`` adds that).

- Authorization requests are checked in RFC 6749 §4.1.2.1 order: an unknown client or a
  ``redirect_uri`` that is not byte-equal to a registered one is shown as an error at A1
  (``RedirectUriError``), never redirected; every later problem is redirected back to the
  client as ``error=…`` (``AuthorizationRejected``). PKCE S256 is required of every client.
- A code is consumed by the first token request that presents it, whether or not that
  request succeeds, so a stolen code cannot be retried against the verifier.
- Token endpoint failures are ``OAuthError`` (RFC 6749 §5.2 codes); ``invalid_client`` is 401.
- ``client_credentials`` without ``subject`` yields ``sub`` = the client id and
  ``tid`` = ``CLIENT_TENANT``; ``subject`` may name a synthetic identity only, anything else
  is ``invalid_request``.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt

from reftarget.clock import Clock
from reftarget.identity.accounts import COPPA_REFUSALS, AccountStore, synthetic_tenant
from reftarget.identity.codes import CodeGrant, CodeStore, is_s256_challenge, verifier_matches
from reftarget.identity.keys import KeyStore
from reftarget.identity.passwords import decoy_hash, verify_password
from reftarget.identity.registry import (
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    CLIENT_TENANT,
    SYNTHETIC_IDENTITIES,
    OidcClient,
    User,
)
from reftarget.identity.sessions import Session, SessionStore
from reftarget.identity.verifier import ALGORITHM, AUDIENCE, decode_access_token

__all__ = [
    "AuthorizationRejected",
    "AuthorizationRequest",
    "IdentityProvider",
    "OAuthError",
    "OidcClient",
    "RedirectUriError",
    "SignUpRefused",
    "User",
]

SCOPES_SUPPORTED = ("openid", "reftarget")
DEFAULT_SCOPE = "reftarget"
MAX_SESSION_TTL_S = 400 * 24 * 3600  # browsers cap cookie lifetime at 400 days
COPPA_MIN_AGE = 13  # §14: under 13 needs verifiable parental consent on record
MAX_AGE = 130


class OAuthError(Exception):
    """A token endpoint error (RFC 6749 §5.2)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


class RedirectUriError(Exception):
    """The authorization request cannot safely be sent back: show an error page at A1."""


class SignUpRefused(Exception):
    """A sign-up the provider refuses: ``slug`` names the problem type, ``status`` its code."""

    def __init__(self, status: int, slug: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail


class AuthorizationRejected(Exception):
    """The authorization request failed after its redirect URI was verified."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


@dataclass(frozen=True)
class AuthorizationRequest:
    """A validated authorization request (client and redirect URI already checked)."""

    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str
    state: str | None
    nonce: str | None

    def form_fields(self) -> dict[str, str]:
        """The request as parameters, for the login form to submit again."""
        fields = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "code_challenge": self.code_challenge,
            "code_challenge_method": "S256",
        }
        optional = {"state": self.state, "nonce": self.nonce}
        return fields | {name: value for name, value in optional.items() if value is not None}


class IdentityProvider:
    """Clients, users, sessions, codes and tokens of A1."""

    def __init__(
        self,
        issuer: str,
        keys: KeyStore,
        clients: dict[str, OidcClient],
        users: dict[str, User],
        clock: Clock,
        session_ttl_s: int = 3600,
        token_ttl_s: int = 900,
        *,
        cookie_domain: str | None = None,
        signup_password_hash: str | None = None,
        coppa_gate: Callable[[], bool] = lambda: True,
    ) -> None:
        parts = urlsplit(issuer)
        if parts.scheme != "https" or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"issuer must be an https URL without query or fragment: {issuer!r}")
        if issuer.endswith("/"):
            raise ValueError(
                f"issuer must not end with '/' (iss is compared byte for byte): {issuer!r}"
            )
        if not 0 < session_ttl_s <= MAX_SESSION_TTL_S:
            raise ValueError(f"session_ttl_s must be in (0, {MAX_SESSION_TTL_S}]")
        if token_ttl_s <= 0:
            raise ValueError("token_ttl_s must be positive")
        if cookie_domain is not None and (
            not cookie_domain or any(c in cookie_domain for c in "; ,")
        ):
            raise ValueError(f"cookie_domain is not a domain: {cookie_domain!r}")
        self.issuer = issuer
        self.keys = keys
        self.clock = clock
        self.session_ttl_s = session_ttl_s
        self.token_ttl_s = token_ttl_s
        self.cookie_domain = cookie_domain
        self._clients = clients
        self._users = users
        self._sessions = SessionStore(keys.db_path, clock)
        self._codes = CodeStore(keys.db_path, clock)
        self.accounts = AccountStore(keys.db_path, clock)
        self._signup_password_hash = signup_password_hash
        self._coppa_gate = coppa_gate

    # -- metadata -------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        """The OpenID provider metadata; every URL starts with the byte-exact issuer."""
        grant_types = sorted({g for client in self._clients.values() for g in client.grant_types})
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/oauth/authorize",
            "token_endpoint": f"{self.issuer}/oauth/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks.json",
            "response_types_supported": ["code"],
            "grant_types_supported": grant_types,
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "subject_types_supported": ["public"],
            "scopes_supported": list(SCOPES_SUPPORTED),
            "claims_supported": ["iss", "sub", "tid", "aud", "iat", "exp", "scope", "nonce"],
            "authorization_response_iss_parameter_supported": True,
        }

    # -- tokens ---------------------------------------------------------------------------

    def issue_token(self, sub: str, tid: str, scope: str) -> str:
        """An RS256 access token for the platform's APIs (``aud`` = ``reftarget``)."""
        return self._sign({"sub": sub, "tid": tid, "aud": AUDIENCE, "scope": scope})

    def userinfo(self, access_token: str) -> dict[str, str]:
        """``sub`` and ``tid`` of a valid access token; raises ``InvalidToken`` otherwise."""
        claims = decode_access_token(
            access_token,
            self.keys.public_keys(),
            issuer=self.issuer,
            audience=AUDIENCE,
            now=self.clock.time(),
        )
        return {"sub": claims.sub, "tid": claims.tid}

    def _sign(self, claims: dict[str, Any]) -> str:
        key = self.keys.current()
        iat = int(self.clock.time())
        payload = {"iss": self.issuer, "iat": iat, "exp": iat + self.token_ttl_s} | claims
        return jwt.encode(payload, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})

    # -- token endpoint -------------------------------------------------------------------

    def authenticate_client(self, client_id: str | None, secret: str | None) -> OidcClient:
        """The client named by ``client_id``, if ``secret`` is right for it (none for public)."""
        client = self._clients.get(client_id or "")
        if client is None:
            raise OAuthError("invalid_client", "unknown client", 401)
        if client.secret is None:
            if secret:
                raise OAuthError("invalid_client", "a public client has no secret", 401)
            return client
        if secret is None or not hmac.compare_digest(secret.encode(), client.secret.encode()):
            raise OAuthError("invalid_client", "client authentication failed", 401)
        return client

    def grant(self, client: OidcClient, params: Mapping[str, str]) -> dict[str, Any]:
        """The token response for an authenticated client's grant request."""
        grant_type = params.get("grant_type")
        if not grant_type:
            raise OAuthError("invalid_request", "grant_type is required")
        if grant_type not in (AUTHORIZATION_CODE, CLIENT_CREDENTIALS):
            raise OAuthError(
                "unsupported_grant_type", f"grant_type {grant_type!r} is not supported"
            )
        if grant_type not in client.grant_types:
            raise OAuthError("unauthorized_client", f"client may not use {grant_type}")
        if grant_type == CLIENT_CREDENTIALS:
            return self._client_credentials(client, params)
        return self._authorization_code(client, params)

    def _client_credentials(self, client: OidcClient, params: Mapping[str, str]) -> dict[str, Any]:
        scope = _scope(params.get("scope"), token_endpoint=True)
        subject = params.get("subject")
        if subject is None:
            sub, tid = client.client_id, CLIENT_TENANT
        elif subject in SYNTHETIC_IDENTITIES:
            sub, tid = subject, SYNTHETIC_IDENTITIES[subject]
        elif (tenant := self.accounts.tenant(subject)) is not None:
            sub, tid = subject, tenant
        else:
            raise OAuthError("invalid_request", "subject must name a synthetic identity")
        return self._token_response(sub, tid, scope)

    def _authorization_code(self, client: OidcClient, params: Mapping[str, str]) -> dict[str, Any]:
        code, redirect_uri = params.get("code"), params.get("redirect_uri")
        verifier = params.get("code_verifier")
        if not (code and redirect_uri and verifier):
            raise OAuthError("invalid_request", "code, redirect_uri and code_verifier are required")
        grant = self._codes.redeem(code)
        if grant is None:
            raise OAuthError("invalid_grant", "code is invalid, expired or already used")
        if grant.client_id != client.client_id:
            raise OAuthError("invalid_grant", "code was issued to another client")
        if grant.redirect_uri != redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri differs from the authorization request")
        if not verifier_matches(verifier, grant.code_challenge):
            raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
        response = self._token_response(grant.sub, grant.tid, grant.scope)
        if "openid" in grant.scope.split():
            id_claims = {"sub": grant.sub, "tid": grant.tid, "aud": client.client_id}
            if grant.nonce is not None:
                id_claims["nonce"] = grant.nonce
            response["id_token"] = self._sign(id_claims)
        return response

    def _token_response(self, sub: str, tid: str, scope: str) -> dict[str, Any]:
        return {
            "access_token": self.issue_token(sub, tid, scope),
            "token_type": "Bearer",
            "expires_in": self.token_ttl_s,
            "scope": scope,
        }

    # -- authorization endpoint -----------------------------------------------------------

    def authorization_request(self, params: Mapping[str, str]) -> AuthorizationRequest:
        """Validate an authorization request (see the module docstring for the order)."""
        client = self._clients.get(params.get("client_id", ""))
        if client is None:
            raise RedirectUriError("unknown client_id")
        redirect_uri = params.get("redirect_uri")
        if redirect_uri is None or redirect_uri not in client.redirect_uris:
            raise RedirectUriError("redirect_uri is not registered for this client")
        state = params.get("state")

        def reject(error: str, description: str) -> AuthorizationRejected:
            fields = {"error": error, "error_description": description}
            return AuthorizationRejected(self._redirect(redirect_uri, fields, state))

        if params.get("response_type") != "code":
            raise reject("unsupported_response_type", "response_type must be code")
        if AUTHORIZATION_CODE not in client.grant_types:
            raise reject("unauthorized_client", "client may not use authorization_code")
        challenge = params.get("code_challenge", "")
        if params.get("code_challenge_method") != "S256" or not is_s256_challenge(challenge):
            raise reject("invalid_request", "PKCE with code_challenge_method=S256 is required")
        try:
            scope = _scope(params.get("scope"), token_endpoint=False)
        except OAuthError as exc:
            raise reject(exc.error, exc.description) from exc
        return AuthorizationRequest(
            client.client_id, redirect_uri, scope, challenge, state, params.get("nonce")
        )

    def complete_authorization(self, request: AuthorizationRequest, session: Session) -> str:
        """Where to send the browser: the redirect URI with a fresh code, state and iss."""
        code = self._codes.issue(
            CodeGrant(
                request.client_id,
                request.redirect_uri,
                request.code_challenge,
                session.username,
                session.tid,
                request.scope,
                request.nonce,
            )
        )
        return self._redirect(request.redirect_uri, {"code": code}, request.state)

    def _redirect(self, redirect_uri: str, fields: dict[str, str], state: str | None) -> str:
        if state is not None:
            fields = fields | {"state": state}
        separator = "&" if urlsplit(redirect_uri).query else "?"
        return f"{redirect_uri}{separator}{urlencode(fields | {'iss': self.issuer})}"

    # -- login sessions -------------------------------------------------------------------

    def login(self, username: str, password: str) -> tuple[str, Session] | None:
        """A new session and its cookie token when the password is right, else None."""
        user = self._user(username)
        matches = verify_password(password, user.password_hash if user else decoy_hash())
        if user is None or not matches:
            return None
        return self._sessions.create(user.username, user.tenant, self.session_ttl_s)

    def _user(self, username: str) -> User | None:
        """A configured user, or a signed-up account (it shares the synthetic password)."""
        user = self._users.get(username)
        if user is not None or self._signup_password_hash is None:
            return user
        tenant = self.accounts.tenant(username)
        return None if tenant is None else User(username, self._signup_password_hash, tenant)

    def sign_up(
        self, username: str, password: str, age: str
    ) -> tuple[str, Session, bool] | None:
        """Create the account (or log in to an existing one) and start a session.

        Returns (cookie token, session, created), or None for a wrong password. Raises
        ``SignUpRefused`` for a name outside the synthetic namespace, an age that is not a
        whole number of years, and an under-13 sign-up without parental consent on record
        (which stores nothing but one count). The password is checked first, so nothing
        is decided for someone who does not hold the synthetic identities' password.
        """
        tenant = SYNTHETIC_IDENTITIES.get(username) or synthetic_tenant(username)
        if tenant is None or self._signup_password_hash is None:
            raise SignUpRefused(
                403,
                "synthetic-namespace",
                "Sign-up creates test_student_e2e_NN or test_provider_e2e_NN (NN 01-99) only.",
            )
        if not verify_password(password, self._signup_password_hash):
            return None
        existing = username in SYNTHETIC_IDENTITIES or self.accounts.tenant(username) is not None
        if not existing:
            years = _whole_years(age)
            if (
                years < COPPA_MIN_AGE
                and self._coppa_gate()
                and not self.accounts.has_consent(username)
            ):
                self.accounts.count(COPPA_REFUSALS)
                raise SignUpRefused(
                    403,
                    "coppa-age-gate",
                    f"Under {COPPA_MIN_AGE}, sign-up needs verifiable parental consent on "
                    "record. Nothing was stored.",
                )
            self.accounts.create(username, tenant)
        token, session = self._sessions.create(username, tenant, self.session_ttl_s)
        return token, session, not existing

    def owned(self, username: str) -> int:
        """How many records A1 holds for ``username``: account, consent record, sessions
        (outstanding codes live 60 s; they are deleted with the rest but not counted)."""
        return self.accounts.owned(username) + self._sessions.count_for(username)

    def delete_identity(self, username: str) -> int:
        """Delete the account, its consent record, its sessions and outstanding codes."""
        deleted = self.accounts.delete(username) + self._sessions.delete_for(username)
        return deleted + self._codes.delete_for(username)

    def session(self, token: str) -> Session | None:
        """The live session behind a cookie token, or None."""
        return self._sessions.get(token)

    def logout(self, token: str) -> None:
        """End the session behind a cookie token."""
        self._sessions.delete(token)


def _whole_years(age: str) -> int:
    """The form's age attestation as whole years; ``SignUpRefused`` (400) otherwise."""
    text = age.strip()
    if not text.isdigit() or not 0 <= int(text) <= MAX_AGE:
        raise SignUpRefused(400, "invalid-age", f"age must be whole years from 0 to {MAX_AGE}.")
    return int(text)


def _scope(requested: str | None, *, token_endpoint: bool) -> str:
    """The granted scope: the request's (deduplicated) when all supported, else invalid_scope."""
    names = list(dict.fromkeys((requested or "").split()))
    if not names:
        return DEFAULT_SCOPE
    unknown = [name for name in names if name not in SCOPES_SUPPORTED]
    if unknown:
        raise OAuthError("invalid_scope", f"unsupported scope: {' '.join(unknown)}")
    if token_endpoint and "openid" in names:
        raise OAuthError("invalid_scope", "openid needs the authorization code flow")
    return " ".join(names)
