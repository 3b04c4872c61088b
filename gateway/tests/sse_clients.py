"""Real, unmodified SSE clients from PyPI against the gateway's EventStreams-compatible feed.

requests-sse (what pywikibot's EventStreams is built on) and sseclient read
/v2/stream/recentchange from the real gateway on a real redis-server; every message they get is
validated with the jsonschema package against contract/recentchange-1.0.1.schema.json. Both
resume with Last-Event-ID (the id of the last message they saw) and get exactly what followed.

Run by scripts/test.sh with the venv of scripts/py-venv.sh:
    "$(bash scripts/py-venv.sh)" gateway/tests/sse_clients.py
The gateway binary: RTN_GATEWAY_BIN, else target/debug/realtimenotify (built by cargo test).
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from datetime import timedelta

import jsonschema
import sseclient
from requests_sse import EventSource

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHANNEL = "mediawiki:notifications"
SCHEMA = json.load(open(os.path.join(REPO, "contract", "recentchange-1.0.1.schema.json")))
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(what, check, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Servers:
    """A redis-server and the gateway on free ports, stopped by close()."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="rtn-sse-")
        self.redis_port = free_port()
        self.port = free_port()
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait("redis-server", lambda: socket.create_connection(("127.0.0.1", self.redis_port)).close() or True)
        binary = os.environ.get("RTN_GATEWAY_BIN") or os.path.join(REPO, "target", "debug", "realtimenotify")
        self.log = open(os.path.join(self.dir, "gateway.log"), "w")
        self.gateway = subprocess.Popen(
            [binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--redis-url",
             f"redis://127.0.0.1:{self.redis_port}", "--ping-interval", "1", "--idle-timeout", "3"],
            stdout=self.log, stderr=self.log)
        wait("the gateway", lambda: urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz").status == 200)
        self.url = f"http://127.0.0.1:{self.port}/v2/stream/recentchange"

    def publish(self, event):
        out = subprocess.run(["redis-cli", "-p", str(self.redis_port), "PUBLISH", CHANNEL, json.dumps(event)],
                             check=True, capture_output=True, text=True).stdout.strip()
        assert out == "1", f"the gateway is the one subscriber, got {out!r}"

    def sse_readers(self):
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics").read().decode()
        line = next(l for l in text.splitlines() if l.startswith("rtn_sse_clients_connected "))
        return float(line.split()[1])

    def close(self):
        for p in (self.gateway, self.redis):
            p.kill()
            p.wait()
        self.log.close()


def change(n, **extra):
    event = {"page_title": f"Page {n}", "user_name": "Alice", "timestamp": "2026-11-25T01:02:03Z",
             "summary": f"edit {n}", "wiki": "testwiki", "namespace": 0, "rev_id": 100 + n, "old_rev_id": 99 + n,
             "url": f"http://127.0.0.1:8090/index.php?diff={100 + n}&oldid={99 + n}"}
    event.update(extra)
    return event


def check(data):
    """One message's data: valid against the schema, with what we always emit."""
    rc = json.loads(data)
    errors = sorted(VALIDATOR.iter_errors(rc), key=str)
    assert not errors, f"{rc} is not a valid mediawiki/recentchange 1.0.1 event: {errors[0].message}"
    for key in ("uri", "id", "dt", "domain", "stream"):
        assert isinstance(rc["meta"].get(key), str), f"meta.{key} in {rc}"
    assert rc["type"] in ("edit", "new", "log", "categorize"), rc
    return rc


def messages(iterator, count):
    """The next `count` messages of type message, as (id, recentchange)."""
    out = []
    for event in iterator:
        if getattr(event, "type", getattr(event, "event", None)) != "message" or not event.data:
            continue
        out.append((getattr(event, "last_event_id", None) or getattr(event, "id", None), check(event.data)))
        if len(out) == count:
            return out
    raise AssertionError(f"the stream ended after {len(out)} of {count} messages")


def test_requests_sse_reads_and_resumes_with_last_event_id(s):
    with EventSource(s.url, timeout=10, reconnection_time=timedelta(milliseconds=200)) as source:
        wait("the reader", lambda: s.sse_readers() >= 1)
        for n in range(5):
            s.publish(change(n, minor=n % 2 == 0))
        s.publish(change(5, type="create", old_rev_id=0))
        s.publish(change(6, type="move", target_title="Moved 6"))
        got = messages(source, 7)
    assert [rc["title"] for _, rc in got] == [f"Page {n}" for n in range(7)]
    assert [rc["type"] for _, rc in got][-2:] == ["new", "log"]
    ids = [i for i, _ in got]
    assert all(ids), ids
    # Resume as pywikibot does after a connection error: latest_event_id → Last-Event-ID.
    with EventSource(s.url, timeout=10, latest_event_id=ids[2]) as source:
        again = messages(source, 4)
    assert [i for i, _ in again] == ids[3:], (again, ids)


def test_sseclient_reads_and_resumes_with_last_id(s):
    client = sseclient.SSEClient(s.url, timeout=10)
    wait("the reader", lambda: s.sse_readers() >= 1)
    s.publish(change(10))
    s.publish(change(11, bot=True))
    first = messages(client, 2)
    assert [rc["title"] for _, rc in first] == ["Page 10", "Page 11"]
    assert first[1][1]["bot"] is True
    client.resp.close()
    s.publish(change(12))
    resumed = sseclient.SSEClient(s.url, last_id=first[0][0], timeout=10)
    got = messages(resumed, 2)
    assert [rc["title"] for _, rc in got] == ["Page 11", "Page 12"]
    resumed.resp.close()


def test_core_rcfeed_messages_reach_the_clients(s):
    with EventSource(s.url, timeout=10) as source:
        wait("the reader", lambda: s.sse_readers() >= 1)
        ts = int(time.time())
        s.publish({"id": 7, "type": "log", "namespace": 2, "title": "User:Vandal", "comment": "spam",
                   "timestamp": ts, "user": "Admin", "bot": False, "log_id": 3, "log_type": "block",
                   "log_action": "block", "log_params": {"duration": "1 day"}, "log_action_comment": "blocked",
                   "server_url": "http://wiki.example", "server_name": "wiki.example", "server_script_path": "/w",
                   "wiki": "examplewiki"})
        [(_, rc)] = messages(source, 1)
    assert (rc["type"], rc["log_type"], rc["id"], rc["timestamp"]) == ("log", "block", 7, ts), rc
    assert rc["title_url"] == "http://wiki.example/w/index.php?title=User:Vandal", rc


def main():
    tests = [(name, fn) for name, fn in sorted(globals().items()) if name.startswith("test_")]
    passed = failed = 0
    for name, fn in tests:
        s = Servers()
        try:
            fn(s)
            passed += 1
            print(f"ok - {name}")
        except Exception:  # noqa: BLE001 - report every failure, then go on
            failed += 1
            print(f"FAIL - {name}\n{traceback.format_exc()}gateway log: {open(s.log.name).read()[-3000:]}")
        finally:
            s.close()
    print(f"sse clients: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
