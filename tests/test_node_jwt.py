"""Worker authentication (protocol.md §5.2.1): PyGrid's JWT vectors and tokens minted here."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import vector_path
from syft_rs.node import start_node
from syft_rs.node.auth import AUTH_INVALID, AUTH_REQUIRED, AUTH_THIRD_PARTY, check_token
from test_node_support import client_for

SECRET = "abc"


@pytest.fixture(scope="module")
def rsa_key() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode()


def cfg(**auth: Any) -> dict[str, Any]:
    return {"cycle_length": 10, "authentication": {"type": "jwt", **auth}}


def hs(payload: dict[str, Any], alg: str = "HS256", secret: str = SECRET) -> str:
    # pyjwt warns about the short test secret; it is PyGrid's and irrelevant here
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return jwt.encode(payload, secret, algorithm=alg)


def test_pygrid_vectors() -> None:
    v = json.loads(vector_path("pygrid", "jwt", "pygrid_test_jwt_vectors.json").read_text())
    hs_token, rs_token = (
        v["hs256_token_empty_payload_valid_for_secret"],
        v["rs256_token_empty_payload_valid_for_pub_key"],
    )
    both = cfg(secret=v["secret"], pub_key=v["pub_key_pem"])
    assert check_token(both, hs_token) is None
    assert check_token(both, rs_token) is None
    assert check_token(cfg(secret=v["secret"]), rs_token) == AUTH_INVALID
    assert check_token(cfg(pub_key=v["pub_key_pem"]), hs_token) == AUTH_INVALID
    assert check_token(both, None) == v["expected"]["no token"]
    assert check_token(both, "just kidding!") == v["expected"]["token 'just kidding!'"]
    assert check_token(both, "") == AUTH_INVALID  # "" is a present, invalid token
    assert check_token({"cycle_length": 1}, None) is None  # auth disabled: token ignored
    assert check_token(cfg(secret="", pub_key=None), None) is None


def test_capture_rs256_key() -> None:
    pem = vector_path("pygrid", "capture", "rs256_public.pem").read_text()
    transcript = json.loads(vector_path("pygrid", "capture", "transcript.json").read_text())
    token = transcript[7]["request"]["data"]["auth_token"]
    assert check_token(cfg(pub_key=pem), token) is None
    assert check_token(cfg(secret="abc"), token) == AUTH_INVALID


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_hmac_algorithms(alg: str) -> None:
    assert check_token(cfg(secret=SECRET), hs({}, alg)) is None
    assert check_token(cfg(secret="other"), hs({}, alg)) == AUTH_INVALID


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512"])
def test_rsa_algorithms(alg: str, rsa_key: tuple[bytes, str]) -> None:
    private, public = rsa_key
    token = jwt.encode({"sub": "w"}, private, algorithm=alg)
    assert check_token(cfg(pub_key=public), token) is None
    assert check_token(cfg(secret=SECRET), token) == AUTH_INVALID


def test_refused_tokens(rsa_key: tuple[bytes, str]) -> None:
    private, public = rsa_key
    both = cfg(secret=SECRET, pub_key=public)
    none_token = jwt.encode({}, None, algorithm="none")
    assert check_token(both, none_token) == AUTH_INVALID
    # key confusion: an HS256 token whose HMAC key is the public PEM text
    header = jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = jwt.utils.base64url_encode(b"{}")
    import hashlib
    import hmac

    sig = hmac.new(public.encode(), header + b"." + body, hashlib.sha256).digest()
    confused = (header + b"." + body + b"." + jwt.utils.base64url_encode(sig)).decode()
    assert check_token(cfg(pub_key=public), confused) == AUTH_INVALID
    ps = jwt.encode({}, private, algorithm="PS256")  # another family: refused
    assert check_token(cfg(pub_key=public), ps) == AUTH_INVALID
    now = int(time.time())
    assert check_token(both, hs({"exp": now - 1})) == AUTH_INVALID
    assert check_token(both, hs({"exp": now + 60})) is None
    assert check_token(both, hs({"nbf": now + 60})) == AUTH_INVALID
    assert check_token(both, hs({"nbf": now - 60})) is None
    assert check_token(both, hs({"aud": "anything"})) == AUTH_INVALID
    assert check_token(both, hs({"iat": "yesterday"})) == AUTH_INVALID
    assert check_token(both, hs({"iat": now + 3600})) is None  # only the type of iat is checked
    assert check_token(both, hs({"exp": "soon"})) == AUTH_INVALID
    tampered = hs({"sub": "a"})[:-2] + "xx"
    assert check_token(both, tampered) == AUTH_INVALID


class _Endpoint(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []  # noqa: RUF012

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append({"body": body, "ctype": self.headers["Content-Type"]})
        status = 200 if body.get("auth_token") == "good" else 403
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Endpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/check"
    server.shutdown()
    server.server_close()


def test_external_endpoint(endpoint: str) -> None:
    _Endpoint.seen.clear()
    assert check_token(cfg(endpoint=endpoint), "good") is None
    assert _Endpoint.seen[-1] == {"body": {"auth_token": "good"}, "ctype": "application/json"}
    assert check_token(cfg(endpoint=endpoint), "bad") == AUTH_THIRD_PARTY
    assert check_token(cfg(endpoint=endpoint), None) == AUTH_REQUIRED
    # with JWT keys, the endpoint is asked only after the JWT passed
    calls = len(_Endpoint.seen)
    assert check_token(cfg(secret=SECRET, endpoint=endpoint), "good") == AUTH_INVALID
    assert len(_Endpoint.seen) == calls
    dead = "http://127.0.0.1:9/unreachable"
    assert check_token(cfg(endpoint=dead), "good") == AUTH_THIRD_PARTY


def test_authenticate_through_node(rsa_key: tuple[bytes, str], endpoint: str) -> None:
    private, public = rsa_key
    with start_node() as r, client_for(r.url) as c:
        c.host(name="a", authentication={"secret": SECRET, "pub_key": public})
        c.host(name="e", authentication={"endpoint": endpoint})
        ok = c.call(
            "authenticate",
            {"model_name": "a", "auth_token": jwt.encode({}, private, algorithm="RS384")},
        )
        assert ok["status"] == "success" and len(ok["worker_id"]) == 36
        assert c.call("authenticate", {"model_name": "a"}) == {"error": AUTH_REQUIRED}
        r2 = c.post("authenticate", {"model_name": "a", "auth_token": "just kidding!"})
        assert (r2.status_code, r2.json()) == (400, {"error": AUTH_INVALID})
        r3 = c.post("authenticate", {"model_name": "e", "auth_token": "bad"})
        assert (r3.status_code, r3.json()) == (400, {"error": AUTH_THIRD_PARTY})
        assert c.post("authenticate", {"model_name": "e", "auth_token": "good"}).status_code == 200
