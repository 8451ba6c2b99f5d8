"""Worker authentication of the node (protocol.md §5.2.1).

``server_config["authentication"]`` may hold a ``secret`` (HS256/384/512), a ``pub_key``
(PEM; RS256/384/512) and an ``endpoint`` (third-party validation by ``POST``). Signatures are
checked with pyjwt; the claim rules are applied here so that they are exactly the protocol's:
no claim is required, ``exp``/``nbf`` are enforced without leeway, ``iat`` must be an integer,
any ``aud`` is refused.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any

import httpx
import jwt
from jwt.algorithms import HMACAlgorithm, RSAAlgorithm

__all__ = [
    "AUTH_INVALID",
    "AUTH_REQUIRED",
    "AUTH_THIRD_PARTY",
    "auth_enabled",
    "check_token",
    "validate_pub_key",
]

log = logging.getLogger("syft_rs.node")

AUTH_REQUIRED = "Authentication is required, please pass an 'auth_token'."
AUTH_INVALID = "The 'auth_token' you sent is invalid."
AUTH_THIRD_PARTY = "The 'auth_token' you sent did not pass 3rd party validation."

EXTERNAL_TIMEOUT = 10.0

_HS = ("HS256", "HS384", "HS512")
_RS = ("RS256", "RS384", "RS512")


class _HMAC(HMACAlgorithm):
    """HMAC without the short-key warning: the secret is the process owner's choice."""

    def check_key_length(self, key: bytes) -> str | None:
        return None


def _make_jws() -> jwt.PyJWS:
    jws = jwt.PyJWS(algorithms=[])
    hashes = {
        "HS256": HMACAlgorithm.SHA256,
        "HS384": HMACAlgorithm.SHA384,
        "HS512": HMACAlgorithm.SHA512,
    }
    for name, digest in hashes.items():
        jws.register_algorithm(name, _HMAC(digest))
    rs = {"RS256": RSAAlgorithm.SHA256, "RS384": RSAAlgorithm.SHA384, "RS512": RSAAlgorithm.SHA512}
    for name, digest in rs.items():
        jws.register_algorithm(name, RSAAlgorithm(digest))
    return jws


_JWS = _make_jws()


def auth_enabled(server_config: Mapping[str, Any]) -> bool:
    """Whether the process requires an ``auth_token``."""
    auth = server_config.get("authentication")
    if not isinstance(auth, Mapping):
        return False
    return any(bool(auth.get(k)) for k in ("secret", "pub_key", "endpoint"))


def validate_pub_key(pem: str) -> None:
    """Raise ``ValueError`` when ``pem`` is not an RSA public key usable for RS*."""
    try:
        RSAAlgorithm(RSAAlgorithm.SHA256).prepare_key(pem)
    except Exception as exc:
        raise ValueError(str(exc)) from exc


def _claims_ok(payload: bytes) -> bool:
    try:
        claims = json.loads(payload)
    except ValueError:
        return False
    if not isinstance(claims, dict):
        return False
    now = time.time()
    for name in ("exp", "nbf"):
        if name in claims:
            value = claims[name]
            if isinstance(value, bool) or not isinstance(value, int | float):
                return False
            if name == "exp" and now >= value:
                return False
            if name == "nbf" and now < value:
                return False
    if "iat" in claims and (isinstance(claims["iat"], bool) or not isinstance(claims["iat"], int)):
        return False
    return "aud" not in claims


def _verify(token: str, key: str, algorithms: tuple[str, ...]) -> bool:
    try:
        alg = _JWS.get_unverified_header(token).get("alg")
    except jwt.PyJWTError:
        return False
    if alg not in algorithms:
        # `none`, another family (no key confusion: an HS token never meets the PEM key).
        return False
    try:
        payload = _JWS.decode(token, key, algorithms=[alg])
    except (jwt.PyJWTError, ValueError, TypeError):
        return False
    return _claims_ok(payload)


def _external(endpoint: str, token: str) -> bool:
    try:
        response = httpx.post(endpoint, json={"auth_token": token}, timeout=EXTERNAL_TIMEOUT)
    except httpx.HTTPError as exc:
        log.warning("auth endpoint %s failed: %s", endpoint, exc)
        return False
    return response.status_code == 200


def check_token(server_config: Mapping[str, Any], token: object) -> str | None:
    """Check ``token`` against the process's authentication config.

    Returns:
        ``None`` when the worker may proceed, else the error message to answer (400).
        May block up to 10 s on the external endpoint: call it off the event loop.
    """
    if not auth_enabled(server_config):
        return None
    auth = server_config["authentication"]
    if token is None:
        return AUTH_REQUIRED
    if not isinstance(token, str):
        return AUTH_INVALID
    secret, pub_key, endpoint = auth.get("secret"), auth.get("pub_key"), auth.get("endpoint")
    if secret or pub_key:
        ok = bool(secret) and _verify(token, str(secret), _HS)
        if not ok and pub_key:
            ok = _verify(token, str(pub_key), _RS)
        if not ok:
            return AUTH_INVALID
    if endpoint and not _external(str(endpoint), token):
        return AUTH_THIRD_PARTY
    return None
