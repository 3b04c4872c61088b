#!/usr/bin/env python3
"""Writes the hand-made seed corpus (corpus/<target>/seed-*). Re-run after
changing the schema; `cargo fuzz cmin` may later drop seeds it finds redundant."""
import base64, hashlib, hmac, json, os, sys

here = os.path.dirname(os.path.abspath(__file__))
corpus = os.path.join(here, "..", "corpus")

def write(target, name, data):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)

T = "2026-11-25T01:02:03Z"
def ev(**kw):
    e = {"page_title": "Main Page", "user_name": "Alice", "timestamp": T, "summary": "hi"}
    e.update(kw)
    return json.dumps(e, ensure_ascii=False)

events = {
    "seed-design": '{"page_title":"Main Page","user_name":"Alice","timestamp":"2026-11-25T01:02:03Z","summary":"hi"}',
    "docs-example": '{"schema":1,"type":"edit","page_title":"Main Page","user_name":"Alice","timestamp":"2026-11-25T01:02:03Z","summary":"fix typo","wiki":"testwiki","namespace":0,"page_id":1,"rev_id":42,"old_rev_id":41,"bot":false,"minor":true,"size_delta":-3,"url":"http://127.0.0.1:8090/index.php?diff=42&oldid=41"}',
    "all-fields": ev(schema=1, type="move", wiki="testwiki", namespace=1, page_id=3, rev_id=18446744073709551615,
                     old_rev_id=0, bot=True, minor=True, size_delta=-9223372036854775808, url="HTTPS://example.org/w?x=1",
                     target_title="Talk:New", audience={"users": [3, 4], "rights": ["patrol", "rollback"]}),
    "create": ev(type="create", summary="", timestamp="2024-02-29T23:59:60.123+05:30"),
    "delete": ev(type="delete", timestamp="2026-01-01t00:00:00-00:00"),
    "upload": ev(type="upload", page_title="File:Ünïcødé 😀.png", summary="<script>alert(1)</script>\u0000\n"),
    "alert-audience": ev(type="alert", audience={"users": [7]}),
    "unknown-fields": ev(email="a@b.c", op="x", id="1-1"),
    "escapes": '{"page_title":"\\u00e9\\ud83d\\ude00","user_name":"U\\/V","timestamp":"2026-11-25T01:02:03Z","summary":"\\"\\\\\\b"}',
    # malformed
    "bad-timestamp": ev(timestamp="2025-02-29T00:00:00Z"),
    "bad-offset": ev(timestamp="2026-11-25T01:02:03+0100"),
    "js-url": ev(url="javascript:alert(1)"),
    "schema-2": ev(schema=2),
    "type-nuke": ev(type="nuke"),
    "missing-summary": '{"page_title":"x","user_name":"u","timestamp":"2026-11-25T01:02:03Z"}',
    "control-title": ev(page_title="a\u0007b"),
    "empty-title": ev(page_title=""),
    "too-many-rights": ev(audience={"rights": ["r%d" % i for i in range(17)]}),
    "audience-unknown": ev(audience={"users": [1], "groups": ["x"]}),
    "negative-page-id": ev(page_id=-1),
    "float-ns": ev(namespace=1.5),
    "duplicate-key": '{"page_title":"a","page_title":"b","user_name":"u","timestamp":"2026-11-25T01:02:03Z","summary":""}',
    "array": "[1,2]",
    "not-json": "PUBLISH mediawiki:notifications hello",
    "truncated": ev()[:40],
    "id-full": "1764032523000-0",
    "id-bare": "1764032523000",
    "id-max": "18446744073709551615-18446744073709551615",
    "id-overflow": "18446744073709551616-0",
    "id-bad": "1-2-3",
}
for name, data in events.items():
    write("event_parse", name, data)

def sub(f):
    return json.dumps({"op": "subscribe", "filter": f})
client = {
    "subscribe-docs": '{"op":"subscribe","filter":{"namespaces":[0,1],"types":["edit","create"],"exclude_bots":true,"exclude_minor":true,"titles":["Main Page"]}}',
    "subscribe-empty": '{"op":"subscribe","filter":{}}',
    "subscribe-nofilter": '{"op":"subscribe"}',
    "subscribe-titles": sub({"titles": ["Talk:New", "B", ""], "types": ["move", "alert", "upload", "delete"]}),
    "subscribe-ns-empty": sub({"namespaces": [], "exclude_bots": False}),
    "subscribe-ns-neg": sub({"namespaces": [-1, 6, 9223372036854775807]}),
    "subscribe-too-many-ns": sub({"namespaces": list(range(65))}),
    "subscribe-unknown": sub({"bogus": 1}),
    "subscribe-bad-type": sub({"types": ["nuke"]}),
    "subscribe-null": '{"op":"subscribe","filter":null}',
    "ping": '{"op":"ping"}',
    "ping-extra": '{"op":"ping","x":1}',
    "auth": '{"op":"auth","token":"eyJhbGciOiJIUzI1NiJ9.e30.x"}',
    "auth-missing": '{"op":"auth"}',
    "unknown-op": '{"op":"unsubscribe"}',
    "no-op": '{"filter":{}}',
    "not-json": "hello",
}
for name, data in client.items():
    write("client_message", name, data)

def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def jwt(claims, secret, alg="HS256"):
    h = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    p = b64(json.dumps(claims).encode())
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384}.get(alg)
    sig = b64(hmac.new(secret.encode(), f"{h}.{p}".encode(), digest).digest()) if digest else ""
    return f"{h}.{p}.{sig}"

SECRET = "fuzz-new-secret-0123456789abcdefghijkl"  # as in fuzz_targets/token_verify.rs
FAR = 4102444800  # 2100-01-01
good = {"iss": "realtimenotify", "aud": "testwiki", "sub": "7", "name": "Alice", "rights": ["read", "patrol"],
        "iat": 1764032523, "nbf": 1764032523, "exp": FAR, "jti": "seed-1"}
tokens = {
    "valid": jwt(good, SECRET),
    "valid-aud-list": jwt({**good, "aud": ["otherwiki", "testwiki"], "jti": "seed-2"}, SECRET),
    "wrong-secret": jwt(good, "forged-secret-0123456789abcdefghijkl"),
    "expired": jwt({**good, "exp": 1700000000}, SECRET),
    "hs384": jwt(good, SECRET, "HS384"),
    "alg-none": jwt(good, SECRET, "none"),
    "rs256-header": jwt(good, SECRET, "RS256"),
    "garbage": "not a token",
    "two-parts": "eyJhbGciOiJIUzI1NiJ9.e30",
}
for name, data in tokens.items():
    write("token_verify", name, data)
print("seeds written to", os.path.normpath(corpus))
