"""Writes the seed corpus of each fuzz target into corpus/<target>/ (run from fuzz/).

Seeds are inputs a target should get past its first checks with: request targets from
../shared/security/CASES.md's kinds of attack, the shipped policies and the project's
conformance cases, tokens signed with the fuzz keys, and the admin API's example bodies.
"""
import base64, hashlib, hmac, json, os, pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
OUT = ROOT / "fuzz" / "corpus"
DEMO_SECRET = b"portcullis fuzz demo secret, 32b"
API_TOKEN = "pcat_" + "0" * 62 + "aa"


def write(target, name, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / ("seed-" + name)).write_bytes(data if isinstance(data, bytes) else data.encode())


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims, kid="portcullis-demo"):
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(DEMO_SECRET, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


TARGETS = [
    "/", "/v1/orgs/acme/projects/web/containers/c-1", "/v1/orgs/acme/projects/web/containers/c-1?x=1&y",
    "/v1/orgs/acme/storage/datasets/caf%c3%a9/", "/public/../admin", "/public/%2e%2e/admin",
    "/a/%2f/b", "/a%5cb", "/a;b=c", "/a//b", "/%252e", "/a/%ef%bc%8f", "/a/b#frag", "/a/%00",
    "/v1/orgs/acme/secrets/s-1?token=abc", "http://evil/v1/orgs/acme", "*", "/a/%7e%7E~",
]
for i, t in enumerate(TARGETS):
    write("request_target", f"target-{i}", b"\x00" + t.encode())
    write("request_target", f"head-{i}", b"\x01" + f"GET {t} HTTP/1.1\r\nHost: gw.example\r\n\r\n".encode())
for i, h in enumerate([
    "POST /v1/orgs/acme/projects/web/containers HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "PUT /x HTTP/1.1\r\nHost: A.Example.\r\nContent-Length: 3, 3\r\n\r\n",
    "GET /x HTTP/1.1\r\nHost: [::1]:8080\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
]):
    write("request_target", f"framing-{i}", b"\x01" + h.encode())

for i, t in enumerate(TARGETS[:6] + ["/v1/orgs/acme/billing", "/v1/orgs/acme/projects/web/cronjobs",
                                     "/v1/orgs/globex/storage/a/b/c", "/v1/orgs/acme/registries/r1"]):
    for m in range(3):
        write("route", f"{i}-{m}", bytes([m * 3]) + t.encode())

for f in sorted((ROOT / "policies").glob("*.toml")) + sorted((ROOT / "tests" / "conformance").glob("*.toml")):
    write("policy", f.parent.name + "-" + f.name, f.read_bytes())

for i, v in enumerate([
    "Bearer " + jwt({"sub": "alice", "exp": 4102444800}),
    "Bearer " + jwt({"sub": "sa:acme/ci-bot", "exp": 4102444800}),
    "Bearer " + jwt({"sub": "bob", "exp": 1}),
    "Bearer " + jwt({"sub": "alice", "exp": 4102444800}, kid="test"),
    "Bearer " + API_TOKEN, "bearer  " + API_TOKEN, "Basic YWxpY2U6cGFzcw==", "Bearer", "sa:acme/ci-bot",
    "access_token=x&a=b",
]):
    write("credentials", str(i), v)

for i, b in enumerate([
    {"id": "globex", "owner": "gina"}, {"id": "dave"}, {"name": "ops", "members": ["dave", "sa:acme/x"]},
    {"id": "web", "restricted": True}, {"restricted": False},
    {"name": "shipper", "permissions": ["project:containers:create,update,delete", "org:*:read"]},
    {"permissions": ["project:storage:/datasets/*:read", "project:containers:owned:write"]},
    {"subject": "team:ops", "role": "viewer", "project": "web"},
    {"subject": "dave", "kind": "containers", "project": "web", "id": "c-1", "verbs": ["read", "update"]},
    {"method": "GET", "path": "/v1/orgs/acme", "token": "x"}, {"to": "bob", "step_down_to": "admin"},
    {"id": 1}, {"id": "x", "unknown": 2},
]):
    write("admin_body", str(i), json.dumps(b))
