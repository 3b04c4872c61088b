// The client side of deploy/test.sh: one round against one proxy (nginx or HAProxy) in front of
// two gateways that read the same Redis stream.
//
//   node [--experimental-websocket] client.mjs '<json options>'
//
// Prints one TAP-like line per check ("ok - ..." / "not ok - ..."), then "stopped <name>" for
// the gateway it stopped, and exits 1 if any check failed. Options (JSON):
//   proxy      "nginx" | "haproxy" (names the round)
//   url        https://127.0.0.1:PORT, the proxy
//   redisPort, streamKey
//   gateways   [{name, port, pid}], as started by test.sh
//   signal     how to stop the gateway under the client: "SIGKILL" or "SIGTERM"
//   events     how many events to publish (a third before the stop, the rest during and after)
//   accessLog  the proxy's access log file (checked for tokens)
//   statsUrl   HAProxy's stats page, to see the active check take the stopped gateway out
//   origin     the origin the gateways allow
import { connect } from 'node:net';
import { request } from 'node:https';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

const opts = JSON.parse(process.argv[2]);
const round = opts.proxy;
const wsUrl = opts.url.replace(/^http/, 'ws') + '/v1/ws';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let failed = 0;
function check(ok, what, detail = '') {
  if (ok) console.log(`ok - ${round}: ${what}`);
  else {
    failed++;
    console.log(`not ok - ${round}: ${what}${detail ? `: ${detail}` : ''}`);
  }
  return ok;
}

// The whole round must finish in time, whatever hangs.
const watchdog = setTimeout(() => {
  check(false, 'round finished in time', 'timed out after 25 s');
  process.exit(1);
}, 25000);

async function waitFor(fn, { timeout = 10000, interval = 50 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch { /* not yet */ }
    if (Date.now() > deadline) return null;
    await sleep(interval);
  }
}

// --- Redis: just enough RESP for XADD -----------------------------------------------------

class Redis {
  constructor(port) {
    this.port = port;
    this.buf = Buffer.alloc(0);
    this.waiting = [];
  }

  open() {
    return new Promise((resolve, reject) => {
      this.sock = connect(this.port, '127.0.0.1', resolve);
      this.sock.on('error', reject);
      this.sock.on('data', (d) => {
        this.buf = Buffer.concat([this.buf, d]);
        this.parse();
      });
    });
  }

  // Replies to XADD are one line (+, -, :) or one bulk string ($).
  parse() {
    for (;;) {
      const eol = this.buf.indexOf('\r\n');
      if (eol < 0) return;
      const type = String.fromCharCode(this.buf[0]);
      const line = this.buf.subarray(1, eol).toString();
      let value;
      let used;
      if (type === '$') {
        const len = Number(line);
        if (len < 0) {
          value = null;
          used = eol + 2;
        } else {
          if (this.buf.length < eol + 2 + len + 2) return;
          value = this.buf.subarray(eol + 2, eol + 2 + len).toString();
          used = eol + 2 + len + 2;
        }
      } else {
        value = type === '-' ? new Error(line) : line;
        used = eol + 2;
      }
      this.buf = this.buf.subarray(used);
      const w = this.waiting.shift();
      if (value instanceof Error) w.reject(value);
      else w.resolve(value);
    }
  }

  cmd(...args) {
    const parts = [`*${args.length}\r\n`];
    for (const a of args) parts.push(`$${Buffer.byteLength(a)}\r\n${a}\r\n`);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.sock.write(parts.join(''));
    });
  }

  close() {
    this.sock.end();
  }
}

// --- HTTP through the proxy ----------------------------------------------------------------

/**
 * One request through the proxy. With `upgrade`, a raw WebSocket handshake: resolves
 * {status: 101, socket} when upgraded (the socket stays open), else {status, body}.
 */
function httpReq(path, { headers = {}, localAddress, upgrade = false } = {}) {
  const u = new URL(opts.url);
  const h = { ...headers };
  if (upgrade) {
    Object.assign(h, {
      Connection: 'Upgrade',
      Upgrade: 'websocket',
      'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    });
  }
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, headers: h, localAddress, agent: false });
    req.setTimeout(5000, () => req.destroy(new Error(`${path}: no answer in 5 s`)));
    req.on('upgrade', (res, socket) => {
      socket.on('error', () => {});
      socket.resume();
      resolve({ status: res.statusCode, socket });
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function metric(port, name) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

/** Clients per live gateway, from their own /metrics (not through the proxy). */
async function clientsPerGateway() {
  const out = {};
  for (const g of opts.gateways) {
    try {
      out[g.name] = await metric(g.port, 'rtn_clients_connected');
    } catch {
      out[g.name] = null; // not running
    }
  }
  return out;
}

// --- The WebSocket client ------------------------------------------------------------------

/** A client as the browser module is one: on a drop it reconnects with ?since=<last id>. */
class Client {
  constructor() {
    this.events = []; // every event frame, in arrival order
    this.frames = []; // every other frame
    this.connections = []; // {url, protocol, openedAt, closedAt, code}
    this.lastId = null;
    this.closing = false;
  }

  connect() {
    const url = this.lastId ? `${wsUrl}?since=${this.lastId}` : wsUrl;
    const c = { url, since: this.lastId, protocol: null, hello: null, code: null, opened: false };
    this.connections.push(c);
    const ws = new WebSocket(url, ['realtimenotify.v1']);
    this.ws = ws;
    ws.onopen = () => {
      c.opened = true;
      c.protocol = ws.protocol;
    };
    ws.onmessage = (m) => {
      const f = JSON.parse(m.data);
      if (f.op === 'hello') {
        c.hello = f;
        c.helloAt = Date.now();
      } else if (f.op === 'event') {
        this.events.push(f);
        this.lastId = f.id;
        c.lastEvent = f.id;
      } else {
        this.frames.push({ ...f, connection: this.connections.length });
      }
    };
    ws.onclose = (e) => {
      c.code = e.code;
      c.closedAt = Date.now();
      if (this.closing) return;
      // Backoff as the browser module does (shorter): the first retry soon, then slower.
      const attempt = this.connections.filter((x) => !x.hello).length;
      setTimeout(() => this.connect(), Math.min(250 * 2 ** attempt, 2000));
    };
    ws.onerror = () => {};
  }

  close() {
    this.closing = true;
    this.ws.close();
  }
}

// --- The round ----------------------------------------------------------------------------

async function main() {
  // Health endpoints through the proxy; the rest of the gateway stays private.
  const healthz = await httpReq('/healthz');
  check(healthz.status === 200, 'GET /healthz through the proxy is 200', `got ${healthz.status}`);
  const readyz = await httpReq('/readyz');
  check(readyz.status === 200 && readyz.body === 'ready\n', 'GET /readyz through the proxy is 200',
    `got ${readyz.status} ${JSON.stringify(readyz.body)}`);
  const metrics = await httpReq('/metrics');
  check(metrics.status === 404, '/metrics is not exposed through the proxy', `got ${metrics.status}`);

  // Start from a clean slate: no client left over from an earlier round.
  const idle = await waitFor(async () => {
    const c = await clientsPerGateway();
    return Object.values(c).every((n) => n === 0) && c;
  });
  check(Boolean(idle), 'both gateways up, no clients yet', JSON.stringify(await clientsPerGateway()));

  const redis = new Redis(opts.redisPort);
  await redis.open();
  const ids = [];
  const publishedAt = [];
  async function publish(i) {
    const event = {
      type: 'edit', page_title: `Deploy test ${round} ${i}`, user_name: 'DeployTest',
      timestamp: new Date().toISOString(), summary: `event ${i} of ${opts.events}`,
      wiki: 'deploytest', namespace: 0, rev_id: i,
    };
    ids[i] = await redis.cmd('XADD', opts.streamKey, 'MAXLEN', '~', '10000', '*', 'event', JSON.stringify(event));
    publishedAt[i] = Date.now();
  }

  // A client through the proxy: the upgrade, the subprotocol, the hello.
  const client = new Client();
  client.connect();
  const first = client.connections[0];
  await waitFor(() => first.hello, { timeout: 5000 });
  check(first.opened && first.hello?.protocol === 1,
    'WebSocket upgrade through the proxy (wss://), hello received', JSON.stringify(first));
  check(first.protocol === 'realtimenotify.v1', 'subprotocol negotiated through the proxy', `got ${first.protocol}`);

  // Which gateway it landed on, from the gateways' own metrics.
  const placed = await waitFor(async () => {
    const c = await clientsPerGateway();
    const on = opts.gateways.filter((g) => c[g.name] === 1);
    return on.length === 1 && Object.values(c).reduce((a, b) => a + b, 0) === 1 && on[0];
  });
  if (!check(Boolean(placed), 'the client is on exactly one gateway', JSON.stringify(await clientsPerGateway()))) {
    throw new Error('cannot tell which gateway to stop');
  }
  const victim = placed;
  const survivor = opts.gateways.find((g) => g !== victim);

  // Live events first.
  const before = Math.floor(opts.events / 3);
  for (let i = 1; i <= before; i++) {
    await publish(i);
    await sleep(10);
  }
  const live = await waitFor(() => client.events.length >= before, { timeout: 5000 });
  check(Boolean(live), `${before} events delivered live through the proxy`, `got ${client.events.length}`);

  // Stop the client's gateway while the publisher carries on.
  process.kill(victim.pid, opts.signal);
  console.log(`stopped ${victim.name}`);
  // New handshakes right away: least_conn/leastconn sends one of them to the stopped instance
  // (as many sockets on each), and the proxy must retry it on the other one.
  const right = [];
  for (let k = 0; k < 2; k++) right.push(await httpReq('/v1/ws', { upgrade: true, localAddress: '127.0.0.7' }));
  check(right.every((r) => r.status === 101), 'handshakes right after the stop succeed (retried on the other instance)',
    right.map((r) => `${r.status} ${r.body ?? ''}`).join(', '));
  for (const r of right) r.socket?.destroy();
  for (let i = before + 1; i <= opts.events; i++) {
    await publish(i);
    await sleep(20);
  }
  const done = await waitFor(() => client.events.length >= opts.events && client.connections.at(-1).hello,
    { timeout: 15000 });
  await sleep(300); // anything extra (a duplicate) would arrive now
  check(Boolean(done), `all ${opts.events} events received across the failover`, `got ${client.events.length}`);

  // Exactly the N events, in order, no gap, no duplicate, with the ids Redis gave them.
  const titles = client.events.map((e) => e.page_title);
  const expected = Array.from({ length: opts.events }, (_, k) => `Deploy test ${round} ${k + 1}`);
  const firstDiff = expected.findIndex((t, k) => titles[k] !== t);
  check(titles.length === expected.length && firstDiff === -1,
    'exactly the published events, in order: no gap, no duplicate',
    `received ${titles.length}, first difference at #${firstDiff + 1}: ${titles[firstDiff]}`);
  const gotIds = client.events.map((e) => e.id);
  const idDiff = ids.slice(1).findIndex((id, k) => gotIds[k] !== id);
  check(gotIds.length === opts.events && idDiff === -1, 'event ids are the stream entry ids',
    `#${idDiff + 1}: got ${gotIds[idDiff]}, XADD said ${ids[idDiff + 1]}`);

  // The proxy's log shows that retry: nginx lists both upstreams it tried, HAProxy counts a
  // retry (%rc) in its log line.
  const retried = opts.proxy === 'nginx'
    ? /^127\.0\.0\.7 .*upstream=\S+, \S+/m
    : /^127\.0\.0\.7:.* \d+\/\d+\/\d+\/\d+\/\+?[1-9]\d* /m;
  const retryLogged = await waitFor(() => retried.test(readFileSync(opts.accessLog, 'utf8')), { timeout: 3000 });
  check(Boolean(retryLogged), "the proxy's log shows a handshake retried away from the stopped instance");

  const conns = client.connections;
  const resumedOn = conns.find((c, k) => k > 0 && c.hello);
  const dropped = conns[0];
  const expectedCode = opts.signal === 'SIGTERM' ? 1001 : 1006;
  check(dropped.code === expectedCode, `the first connection ended with ${expectedCode} (${opts.signal})`,
    `got ${dropped.code}`);
  // (After SIGTERM the old connection may still deliver a few events before its 1001.)
  check(Boolean(resumedOn) && Boolean(dropped.lastEvent) && resumedOn.since === dropped.lastEvent,
    'the client reconnected through the proxy with ?since=<last id it saw>',
    JSON.stringify(conns.map((c) => ({ since: c.since, last: c.lastEvent, code: c.code, hello: Boolean(c.hello) }))));
  const outage = publishedAt.filter((t, i) => i > before && t >= dropped.closedAt && resumedOn && t < resumedOn.helloAt).length;
  check(outage >= 2, 'events were published while the client was away', `${outage} during the outage`);
  const resumed = client.frames.find((f) => f.op === 'resumed');
  check(Boolean(resumed) && resumed.since === dropped.lastEvent && resumed.count >= 1,
    'the new gateway replayed what was missed, then said resumed', JSON.stringify(resumed));
  const lost = client.frames.find((f) => f.op === 'lost');
  check(!lost, 'no lost frame', JSON.stringify(lost));

  const moved = await waitFor(async () => {
    const c = await clientsPerGateway();
    return c[survivor.name] === 1 && c[victim.name] === null && c;
  });
  check(Boolean(moved), `the client now is on the other gateway (${survivor.name})`, JSON.stringify(await clientsPerGateway()));

  // HAProxy's active check on /readyz takes the stopped instance out.
  if (opts.statsUrl) {
    const down = await waitFor(async () => {
      const csv = await (await fetch(`${opts.statsUrl};csv`)).text();
      const row = csv.split('\n').find((l) => l.startsWith(`realtimenotify,${victim.name},`));
      return row && row.split(',')[17].startsWith('DOWN');
    }, { timeout: 10000, interval: 200 });
    check(Boolean(down), `HAProxy's /readyz check marked ${victim.name} DOWN`);
  }

  // With one instance gone, the proxy still answers health checks (from the other).
  let allReady = true;
  for (let k = 0; k < 4; k++) allReady &&= (await httpReq('/readyz')).status === 200;
  check(allReady, '/readyz through the proxy stays 200 with one gateway down');

  // The Origin allow-list works through the proxy (Origin is passed on unchanged).
  const evil = await httpReq('/v1/ws', { upgrade: true, localAddress: '127.0.0.5', headers: { Origin: 'https://evil.example' } });
  check(evil.status === 403, 'a handshake from another origin is refused (403)', `got ${evil.status}`);
  const good = await httpReq('/v1/ws', { upgrade: true, localAddress: '127.0.0.5', headers: { Origin: opts.origin } });
  check(good.status === 101, "a handshake from the wiki's origin is accepted (101)", `got ${good.status}`);
  good.socket?.destroy();

  // X-Forwarded-For reaches the gateway: it counts sockets per *client* address (127.0.0.3),
  // not per proxy, and a client cannot pose as another address by sending the header itself.
  const held = [];
  let refused = null;
  for (let k = 0; k < 6 && !refused; k++) {
    const r = await httpReq('/v1/ws', { upgrade: true, localAddress: '127.0.0.3' });
    if (r.status === 101) held.push(r.socket);
    else refused = r;
  }
  check(refused?.status === 429 && held.length >= 1 && /from 127\.0\.0\.3\b/.test(refused.body),
    'per-IP limit counts the client address from X-Forwarded-For (429 "from 127.0.0.3")',
    `${held.length} accepted, then ${refused?.status} ${refused?.body}`);
  const spoof = await httpReq('/v1/ws', { upgrade: true, localAddress: '127.0.0.3', headers: { 'X-Forwarded-For': '10.9.8.7' } });
  check(spoof.status === 429 && /from 127\.0\.0\.3\b/.test(spoof.body),
    "a client's own X-Forwarded-For is not believed", `got ${spoof.status} ${spoof.body}`);
  spoof.socket?.destroy();
  const other = await httpReq('/v1/ws', { upgrade: true, localAddress: '127.0.0.4' });
  check(other.status === 101, 'another client address is not limited by it', `got ${other.status} ${other.body ?? ''}`);
  other.socket?.destroy();
  for (const s of held) s.destroy();

  // ?token= stays out of the access log (the gateway refuses tokens here: 401, logged at once).
  const marker = `tok${randomBytes(8).toString('hex')}`;
  const withToken = await httpReq(`/v1/ws?since=0-1&token=${marker}`, { upgrade: true, localAddress: '127.0.0.6' });
  check(withToken.status === 401, 'a handshake with ?token= reaches the gateway (401 here)', `got ${withToken.status}`);
  const logged = await waitFor(() => {
    const log = readFileSync(opts.accessLog, 'utf8');
    return log.includes('/v1/ws') && log.includes('127.0.0.6') && log;
  }, { timeout: 3000 });
  check(Boolean(logged) && !logged.includes(marker) && !logged.includes('since='),
    'the access log has the handshakes but no query string (no token)',
    logged ? logged.split('\n').filter((l) => l.includes(marker) || l.includes('since=')).join(' | ') : 'no line for 127.0.0.6');

  client.close();
  redis.close();
}

main()
  .catch((err) => check(false, 'round ran to the end', err.stack))
  .finally(() => {
    clearTimeout(watchdog);
    // Leave sockets and timers behind without waiting for them.
    setTimeout(() => process.exit(failed ? 1 : 0), 50);
  });
