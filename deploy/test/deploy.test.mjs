// The deployment examples, run for real on 127.0.0.1 (free ports, a temporary directory):
//
//   redis-server (no persistence) ── stream mediawiki:events ──┬─ gateway gw1 ─┐
//                                                              └─ gateway gw2 ─┴─ nginx  (wss)
//                                                                               └─ HAProxy (wss)
//
// The gateways run with deploy/realtimenotify.example.toml as it is; nginx with
// deploy/nginx/realtimenotify.conf and HAProxy with deploy/haproxy/realtimenotify.cfg, each with
// only ports, certificate (self-signed, made here) and log paths substituted. Through each proxy:
//
// - failover: a client receives events, its gateway is stopped under it (kill -9 behind nginx,
//   SIGTERM behind HAProxy) while events keep coming, and it resumes through the proxy on the
//   other gateway with exactly every event, in order;
// - the rolling restart of deploy/README.md: 12 clients, each from its own address, spread over
//   both gateways; SIGTERM one gateway, start it again a second later, wait for its /readyz (and,
//   behind HAProxy, for HAProxy to take it back), then the same with the other, while events keep
//   coming. Every client must resume within 2 s
//   of each close, no handshake may be refused, and every client must end with exactly every
//   event;
// - health endpoints, the Origin allow-list and the per-IP limit through the proxy (close codes
//   4403 and 4429: X-Forwarded-For reaches the gateway), tokens kept out of access logs, HAProxy's
//   /readyz checks.
//
// Also, statically: the example TOML (every flag listed, every optional line valid) and the
// systemd unit (systemd-analyze verify).
//
//   node --test deploy/test/deploy.test.mjs      (deploy/test.sh builds the binary and runs this)
//
// Environment: RTN_GATEWAY_BIN (the binary under test, required), RTN_KEEP=1 (keep the
// temporary directory with every log and rendered configuration).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  sleep, waitFor, Redis, Publisher, httpReq, clientsPerGateway, WsClient, trust,
} from './client.mjs';
import { freePorts, httpStatus, waitReady } from '../../e2e/lib/net.mjs';

const DEPLOY = dirname(dirname(fileURLToPath(import.meta.url)));
const BIN = process.env.RTN_GATEWAY_BIN;
const STREAM = 'mediawiki:events';
const ORIGIN = 'https://wiki.example.org';
const ROLLING_CLIENTS = 12;
const RESUME_WITHIN = 2000;
/** How long a gateway stays stopped during the rolling restart. */
const DOWNTIME = 1000;

// nginx and haproxy live in /usr/sbin, which is not on a normal user's PATH on Debian.
const PATH = `${process.env.PATH}:/usr/sbin:/sbin`;
// RTN_* settings from the caller's environment would win over the files under test.
const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RTN_')));
ENV.PATH = PATH;

const TMP = mkdtempSync(join(process.env.TMPDIR || tmpdir(), 'rtn-deploy.'));
const procs = [];
const failures = [];

/** A test case that records its failure (for the log tails printed at the end). */
function check(name, fn, opts = {}) {
  return it(name, { timeout: 30000, ...opts }, async (t) => {
    try {
      await fn(t);
    } catch (err) {
      failures.push(name);
      throw err;
    }
  });
}

// --- Processes -----------------------------------------------------------------------------

/** A child process whose output goes to TMP/<name>.log; `exited` resolves {code, signal}. */
class Proc {
  constructor(name, cmd, args, { env = ENV } = {}) {
    this.name = name;
    this.log = join(TMP, `${name}.log`);
    const out = openSync(this.log, 'a');
    this.child = spawn(cmd, args, { env, stdio: ['ignore', out, out] });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => resolve({ code, signal }));
      this.child.on('error', (err) => resolve({ code: null, signal: null, error: err }));
    });
    this.done = false;
    this.exited.then(() => { this.done = true; });
    procs.push(this);
  }

  get pid() {
    return this.child.pid;
  }

  kill(signal = 'SIGTERM') {
    if (!this.done) this.child.kill(signal);
  }
}

function run(cmd, args, opts = {}) {
  return spawnSync(cmd, args, { env: ENV, encoding: 'utf8', ...opts });
}

const waitStatus = (port, path, status, ms) => waitFor(async () => (await httpStatus(port, path)) === status,
  { timeout: ms, interval: 100 });

/**
 * Copies src to dest with each [from, to] replacement applied; throws if one did not match
 * (the shipped file changed and the test would no longer run what it claims to).
 */
function render(src, dest, rules) {
  let text = readFileSync(src, 'utf8');
  for (const [from, to] of rules) {
    assert.ok(text.includes(from), `render: '${from}' not found in ${src}`);
    text = text.split(from).join(to);
  }
  writeFileSync(dest, text);
}

function tail(file, n = 15) {
  if (!existsSync(file)) return;
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  if (!lines.join('')) return;
  console.log(`--- last lines of ${file}`);
  console.log(lines.slice(-n).join('\n'));
}

// --- The setup -----------------------------------------------------------------------------

let ports;
const gateways = {}; // name -> {name, port, proc}
let redis;

async function startGateway(name) {
  const g = gateways[name];
  g.proc = new Proc(name, BIN, [
    'serve', '--config', join(DEPLOY, 'realtimenotify.example.toml'),
    '--listen', `127.0.0.1:${g.port}`, '--redis-url', `redis://127.0.0.1:${ports.redis}`,
    '--max-connections-per-ip', '2',
  ], { env: { ...ENV, RTN_LOG: 'info' } });
  return waitReady(g.port, { timeout: 10000, interval: 100 });
}

const gatewayList = () => Object.values(gateways).map((g) => ({ name: g.name, port: g.port }));

async function haproxyStats() {
  return (await fetch(`http://127.0.0.1:${ports.stats}/stats;csv`)).text();
}

/** HAProxy's view of a gateway: UP, DOWN, ... (the status column of its stats CSV). */
async function haproxyStatus(name) {
  const row = (await haproxyStats()).split('\n').find((l) => l.startsWith(`realtimenotify,${name},`));
  return row ? row.split(',')[17] : null;
}

before(async () => {
  assert.ok(BIN, 'RTN_GATEWAY_BIN names the gateway binary under test (deploy/test.sh sets it)');
  const [r, g1, g2, nginx, haproxy, stats, spare] = await freePorts(7);
  ports = { redis: r, nginx, haproxy, stats, spare };
  gateways.gw1 = { name: 'gw1', port: g1 };
  gateways.gw2 = { name: 'gw2', port: g2 };
  console.log(`deploy test: redis :${r}, gateways :${g1} :${g2}, nginx :${nginx}, haproxy :${haproxy} (${TMP})`);
});

after(async () => {
  for (const p of procs) p.kill('SIGTERM');
  await Promise.race([Promise.all(procs.map((p) => p.exited)), sleep(3000)]);
  for (const p of procs) p.kill('SIGKILL');
  redis?.close();
  if (failures.length) {
    for (const p of procs) tail(p.log);
    tail(join(TMP, 'nginx', 'error.log'));
    tail(join(TMP, 'nginx', 'access.log'));
  }
  if (process.env.RTN_KEEP) console.log(`deploy test: kept ${TMP}`);
  else rmSync(TMP, { recursive: true, force: true });
});

// --- Static checks of the example files ------------------------------------------------------

describe('the example files', () => {
  check("the example TOML lists every setting of 'serve --help'", () => {
    const help = run(BIN, ['serve', '--help']).stdout;
    const flags = [...help.matchAll(/^ +--([a-z][a-z-]*)/gm)].map((m) => m[1]).filter((f) => !['config', 'help'].includes(f));
    const toml = readFileSync(join(DEPLOY, 'realtimenotify.example.toml'), 'utf8');
    const unlisted = flags.filter((f) => !new RegExp(`^#?${f} = `, 'm').test(toml));
    assert.ok(flags.length > 20, `flags found in --help: ${flags}`);
    assert.deepEqual(unlisted, [], 'every flag has a line');
  });

  check('the example TOML with every optional line switched on is accepted', async () => {
    const all = join(TMP, 'all-settings.toml');
    writeFileSync(all, readFileSync(join(DEPLOY, 'realtimenotify.example.toml'), 'utf8').replace(/^#([a-z-]+ = )/gm, '$1'));
    const p = new Proc('all-settings', BIN, ['serve', '--config', all, '--listen', `127.0.0.1:${ports.spare}`,
      '--redis-url', `redis://127.0.0.1:${ports.redis}`]);
    try {
      assert.ok(await waitStatus(ports.spare, '/healthz', 200, 10000), `see ${p.log}`);
    } finally {
      p.kill('SIGTERM');
    }
  });

  const analyze = run('systemd-analyze', ['--version']).status === 0;
  check('systemd-analyze verify: realtimenotify@.service is clean', () => {
    const dir = join(TMP, 'systemd');
    mkdirSync(dir, { recursive: true });
    const unit = readFileSync(join(DEPLOY, 'systemd', 'realtimenotify@.service'), 'utf8')
      .split('/usr/local/bin/realtimenotify').join(BIN);
    writeFileSync(join(dir, 'realtimenotify@.service'), unit);
    writeFileSync(join(dir, 'realtimenotify@gw1.service'), unit);
    const out = run('systemd-analyze', ['verify', './realtimenotify@gw1.service'], { cwd: dir });
    assert.equal(out.status, 0, out.stderr);
    assert.equal(`${out.stdout}${out.stderr}`.trim(), '');
  }, { skip: !analyze && 'systemd-analyze not installed' });
});

// --- Redis and two gateways ----------------------------------------------------------------

describe('two gateways on one stream', () => {
  check('redis-server starts', async () => {
    mkdirSync(join(TMP, 'redis'));
    new Proc('redis', 'redis-server', ['--port', String(ports.redis), '--bind', '127.0.0.1', '--save', '',
      '--appendonly', 'no', '--dir', join(TMP, 'redis')]);
    redis = await waitFor(async () => {
      const r = new Redis(ports.redis);
      await r.open();
      return r;
    }, { timeout: 5000 });
    assert.ok(redis);
  });
  check('gateway gw1 ready with deploy/realtimenotify.example.toml (redis-stream)', async () => {
    assert.ok(await startGateway('gw1'), `see ${gateways.gw1.proc.log}`);
  });
  check('gateway gw2 ready with deploy/realtimenotify.example.toml (redis-stream)', async () => {
    assert.ok(await startGateway('gw2'), `see ${gateways.gw2.proc.log}`);
  });
  check('TLS material', () => {
    const out = run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', join(TMP, 'key.pem'), '-out', join(TMP, 'cert.pem')]);
    assert.equal(out.status, 0, out.stderr);
    writeFileSync(join(TMP, 'haproxy.pem'), readFileSync(join(TMP, 'cert.pem'), 'utf8') + readFileSync(join(TMP, 'key.pem'), 'utf8'));
    trust(readFileSync(join(TMP, 'cert.pem'), 'utf8'));
  });
});

// --- The rounds through a proxy ------------------------------------------------------------

/**
 * One proxy's checks: `signal` stops the gateway under the failover client; `accessLog` is the
 * proxy's log (checked for tokens and retries); `haproxy` adds the checks of its stats page.
 */
function proxyRound(proxy, { base, signal, accessLog, haproxy = false }) {
  const ctx = {};
  // Whatever failed, no client of this round reconnects into the next one.
  after(() => ctx.client?.close());

  check(`${proxy}: health endpoints through the proxy; /metrics is not exposed`, async () => {
    const healthz = await httpReq(base(), '/healthz');
    assert.equal(healthz.status, 200);
    const readyz = await httpReq(base(), '/readyz');
    assert.deepEqual([readyz.status, readyz.body], [200, 'ready\n']);
    const metrics = await httpReq(base(), '/metrics');
    assert.equal(metrics.status, 404);
  });

  check(`${proxy}: both gateways up, no clients yet`, async () => {
    const idle = await waitFor(async () => {
      const c = await clientsPerGateway(gatewayList());
      return Object.values(c).every((n) => n === 0) && c;
    });
    assert.ok(idle, JSON.stringify(await clientsPerGateway(gatewayList())));
  });

  check(`${proxy}: a WebSocket through the proxy (wss://): upgrade, subprotocol, hello; on exactly one gateway`, async () => {
    ctx.publisher = new Publisher(redis, STREAM, proxy);
    ctx.client = new WsClient(base());
    ctx.client.connect();
    const first = ctx.client.connections[0];
    await waitFor(() => first.hello, { timeout: 5000 });
    assert.equal(first.hello?.protocol, 1, JSON.stringify(first));
    assert.equal(first.protocol, 'realtimenotify.v1');
    const placed = await waitFor(async () => {
      const c = await clientsPerGateway(gatewayList());
      const on = gatewayList().filter((g) => c[g.name] === 1);
      return on.length === 1 && Object.values(c).reduce((a, b) => a + b, 0) === 1 && on[0];
    });
    assert.ok(placed, JSON.stringify(await clientsPerGateway(gatewayList())));
    ctx.victim = gateways[placed.name];
    ctx.survivor = Object.values(gateways).find((g) => g !== ctx.victim);
  });

  check(`${proxy}: events arrive live, and across a ${signal} of the client's gateway with no gap and no duplicate`, async () => {
    const { client, publisher, victim } = ctx;
    const total = 60;
    const before = total / 3;
    for (let i = 1; i <= before; i++) {
      await publisher.publish();
      await sleep(10);
    }
    assert.ok(await waitFor(() => client.events.length >= before, { timeout: 5000 }),
      `${before} events delivered live: got ${client.events.length}`);
    ctx.before = before;
    victim.proc.kill(signal);
    ctx.stoppedAt = Date.now();
    // New handshakes right away: least_conn/leastconn sends one of them to the stopped instance
    // (as many sockets on each), and the proxy must retry it on the other one.
    const right = [];
    for (let k = 0; k < 2; k++) right.push(await httpReq(base(), '/v1/ws', { upgrade: true, localAddress: '127.0.0.7' }));
    for (const r of right) r.socket?.destroy();
    assert.deepEqual(right.map((r) => r.status), [101, 101], 'handshakes right after the stop succeed (retried on the other instance)');
    for (let i = before + 1; i <= total; i++) {
      await publisher.publish();
      await sleep(20);
    }
    const done = await waitFor(() => client.events.length >= total && client.open(), { timeout: 15000 });
    await sleep(300); // anything extra (a duplicate) would arrive now
    assert.ok(done, `all ${total} events received across the failover: got ${client.events.length}`);
    const titles = client.events.map((e) => e.page_title);
    assert.deepEqual(titles, publisher.ids.map((_, k) => publisher.title(k + 1)), 'exactly the published events, in order');
    assert.deepEqual(client.events.map((e) => e.id), publisher.ids, 'event ids are the stream entry ids');
  });

  check(`${proxy}: the proxy's log shows a handshake retried away from the stopped instance`, async () => {
    // nginx lists both upstreams it tried; HAProxy counts a retry (%rc) in its log line.
    const retried = proxy === 'nginx' ? /^127\.0\.0\.7 .*upstream=\S+, \S+/m : /^127\.0\.0\.7:.* \d+\/\d+\/\d+\/\d+\/\+?[1-9]\d* /m;
    assert.ok(await waitFor(() => retried.test(readFileSync(accessLog(), 'utf8')), { timeout: 3000 }));
  });

  check(`${proxy}: the client saw the drop, reconnected with ?since=<last id>, and was replayed what it missed`, async () => {
    const { client, publisher } = ctx;
    const conns = client.connections;
    const dropped = conns[0];
    const resumedOn = conns.find((c, k) => k > 0 && c.hello);
    assert.equal(dropped.code, signal === 'SIGTERM' ? 1001 : 1006, `the first connection ended with the ${signal}'s code`);
    const history = JSON.stringify(conns.map((c) => ({ since: c.since, last: c.lastEvent, code: c.code, hello: Boolean(c.hello) })));
    // (After SIGTERM the old connection may still deliver a few events before its 1001.)
    assert.ok(resumedOn && dropped.lastEvent && resumedOn.since === dropped.lastEvent, history);
    const outage = publisher.at.filter((t, i) => i >= ctx.before && t >= dropped.closedAt && t < resumedOn.helloAt).length;
    assert.ok(outage >= 2, `events were published while the client was away: ${outage}`);
    const resumed = client.frames.find((f) => f.op === 'resumed');
    assert.ok(resumed && resumed.since === dropped.lastEvent && resumed.count >= 1, JSON.stringify(resumed));
    assert.equal(client.frames.find((f) => f.op === 'lost'), undefined, 'no lost frame');
  });

  check(`${proxy}: the client now is on the other gateway`, async () => {
    const { victim, survivor } = ctx;
    const moved = await waitFor(async () => {
      const c = await clientsPerGateway(gatewayList());
      return c[survivor.name] === 1 && c[victim.name] === null && c;
    });
    assert.ok(moved, JSON.stringify(await clientsPerGateway(gatewayList())));
  });

  if (haproxy) {
    check(`${proxy}: HAProxy's /readyz check marks the stopped gateway DOWN`, async () => {
      assert.ok(await waitFor(async () => (await haproxyStatus(ctx.victim.name))?.startsWith('DOWN'),
        { timeout: 10000, interval: 200 }));
    });
  }

  check(`${proxy}: /readyz through the proxy stays 200 with one gateway down`, async () => {
    for (let k = 0; k < 4; k++) assert.equal((await httpReq(base(), '/readyz')).status, 200);
  });

  check(`${proxy}: a handshake from another origin is refused (close 4403), from the wiki's accepted`, async () => {
    const evil = await httpReq(base(), '/v1/ws', { upgrade: true, firstFrame: true, localAddress: '127.0.0.5', headers: { Origin: 'https://evil.example' } });
    assert.equal(evil.status, 101);
    assert.equal(evil.first?.code, 4403, JSON.stringify(evil.first));
    const good = await httpReq(base(), '/v1/ws', { upgrade: true, firstFrame: true, localAddress: '127.0.0.5', headers: { Origin: ORIGIN } });
    assert.equal(good.status, 101);
    assert.match(good.first?.text ?? '', /"op":"hello"/);
  });

  check(`${proxy}: the per-IP limit counts the client address from X-Forwarded-For (close 4429 "from 127.0.0.3")`, async () => {
    // X-Forwarded-For reaches the gateway: it counts sockets per *client* address (127.0.0.3),
    // not per proxy, and a client cannot pose as another address by sending the header itself.
    const held = [];
    let refused = null;
    for (let k = 0; k < 6 && !refused; k++) {
      const r = await httpReq(base(), '/v1/ws', { upgrade: true, firstFrame: true, keepOpen: true, localAddress: '127.0.0.3' });
      if (r.first?.opcode === 1) held.push(r.socket);
      else refused = r;
    }
    try {
      assert.ok(held.length >= 1, `${held.length} accepted`);
      assert.equal(refused?.first?.code, 4429, JSON.stringify(refused?.first));
      assert.match(refused.first.reason, /from 127\.0\.0\.3\b/);
      const spoof = await httpReq(base(), '/v1/ws', { upgrade: true, firstFrame: true, localAddress: '127.0.0.3', headers: { 'X-Forwarded-For': '10.9.8.7' } });
      assert.equal(spoof.first?.code, 4429, "a client's own X-Forwarded-For is not believed");
      assert.match(spoof.first.reason, /from 127\.0\.0\.3\b/);
      const other = await httpReq(base(), '/v1/ws', { upgrade: true, firstFrame: true, localAddress: '127.0.0.4' });
      assert.match(other.first?.text ?? '', /"op":"hello"/, 'another client address is not limited by it');
    } finally {
      for (const s of held) s.destroy();
    }
  });

  check(`${proxy}: ?token= reaches the gateway (close 4401 here) and stays out of the access log`, async () => {
    const marker = `tok${Math.random().toString(16).slice(2)}`;
    const withToken = await httpReq(base(), `/v1/ws?since=0-1&token=${marker}`, { upgrade: true, firstFrame: true, localAddress: '127.0.0.6' });
    assert.equal(withToken.status, 101);
    assert.equal(withToken.first?.code, 4401, JSON.stringify(withToken.first));
    const logged = await waitFor(() => {
      const log = readFileSync(accessLog(), 'utf8');
      return log.includes('/v1/ws') && log.includes('127.0.0.6') && log;
    }, { timeout: 3000 });
    assert.ok(logged, 'a line for 127.0.0.6');
    assert.ok(!logged.includes(marker) && !logged.includes('since='),
      logged.split('\n').filter((l) => l.includes(marker) || l.includes('since=')).join(' | '));
  });

  check(`${proxy}: the stopped gateway exited as a ${signal} ends it, and restarts`, async () => {
    ctx.client.close();
    const exit = await Promise.race([ctx.victim.proc.exited, sleep(15000).then(() => 'still running')]);
    if (signal === 'SIGKILL') assert.equal(exit.signal, 'SIGKILL', JSON.stringify(exit));
    else assert.equal(exit.code, 0, `exit status 0 after SIGTERM: ${JSON.stringify(exit)}`);
    assert.ok(await startGateway(ctx.victim.name), `see ${ctx.victim.proc.log}`);
    if (haproxy) {
      assert.ok(await waitFor(async () => (await haproxyStatus(ctx.victim.name)) === 'UP', { timeout: 10000, interval: 100 }),
        'HAProxy takes the restarted gateway back in (UP)');
    }
  });

  rollingRestart(proxy, { base, haproxy, subnet: proxy === 'nginx' ? '127.0.1' : '127.0.2' });
}

/**
 * deploy/README.md's upgrade procedure under load: SIGTERM one gateway, wait until it is ready
 * again, then the other, with ROLLING_CLIENTS clients connected through the proxy.
 */
function rollingRestart(proxy, { base, haproxy, subnet }) {
  const ctx = {};
  after(async () => {
    await ctx.publisher?.stop();
    for (const client of ctx.clients ?? []) client.close();
  });

  check(`${proxy}: rolling restart: ${ROLLING_CLIENTS} clients through the proxy, on both gateways`, async () => {
    assert.ok(await waitFor(async () => Object.values(await clientsPerGateway(gatewayList())).every((n) => n === 0)));
    ctx.clients = [];
    for (let k = 1; k <= ROLLING_CLIENTS; k++) {
      const client = new WsClient(base(), { localAddress: `${subnet}.${k}` });
      client.connect();
      ctx.clients.push(client);
    }
    assert.ok(await waitFor(() => ctx.clients.every((c) => c.open()), { timeout: 10000 }), 'all connected');
    const spread = await waitFor(async () => {
      const c = await clientsPerGateway(gatewayList());
      return c.gw1 + c.gw2 === ROLLING_CLIENTS && c.gw1 > 0 && c.gw2 > 0 && c;
    });
    assert.ok(spread, JSON.stringify(await clientsPerGateway(gatewayList())));
    console.log(`# ${proxy} rolling restart: clients per gateway before: ${JSON.stringify(spread)}`);
  });

  check(`${proxy}: rolling restart: SIGTERM gw1, wait for /readyz, then gw2, under a steady stream of events`, async () => {
    ctx.publisher = new Publisher(redis, STREAM, `${proxy} rolling`);
    ctx.publisher.start(25);
    assert.ok(await waitFor(() => ctx.clients.every((c) => c.events.length >= 5), { timeout: 5000 }), 'events flow');
    ctx.timeline = [];
    for (const name of ['gw1', 'gw2']) {
      const g = gateways[name];
      const stopped = Date.now();
      g.proc.kill('SIGTERM');
      const exit = await Promise.race([g.proc.exited, sleep(15000).then(() => 'still running')]);
      assert.equal(exit.code, 0, `${name} exits 0 after SIGTERM: ${JSON.stringify(exit)}`);
      const exited = Date.now();
      // What an upgrade takes between stop and start (a new binary, systemd's restart): its
      // clients reconnect meanwhile, some of them through the proxy to this very instance.
      await sleep(DOWNTIME);
      assert.ok(await startGateway(name), `${name} ready again; see ${g.proc.log}`);
      const ready = Date.now();
      let up = ready;
      if (haproxy) {
        assert.ok(await waitFor(async () => (await haproxyStatus(name)) === 'UP', { timeout: 10000, interval: 100 }),
          `HAProxy takes ${name} back (UP)`);
        up = Date.now();
      }
      ctx.timeline.push(`${name}: exited after ${exited - stopped} ms, down ${DOWNTIME} ms, ready ${ready - exited - DOWNTIME} ms after its start` +
        (haproxy ? `, UP in HAProxy ${up - ready} ms after that` : ''));
      await sleep(1000);
    }
    await sleep(1000);
    await ctx.publisher.stop();
    console.log(`# ${proxy} rolling restart: ${ctx.timeline.join('; ')}`);
  });

  check(`${proxy}: rolling restart: every client resumed within ${RESUME_WITHIN} ms of each close, no handshake refused`, () => {
    const gaps = [];
    const refused = [];
    for (const client of ctx.clients) {
      const conns = client.connections;
      for (const [k, c] of conns.entries()) {
        if (c.status !== null && c.status !== 101) refused.push(`${client.localAddress}: ${c.status} ${c.body ?? ''}`.trim());
        if (k === 0 || !conns[k - 1].hello) continue;
        const next = conns.slice(k).find((x) => x.resumedAt);
        gaps.push({ client: client.localAddress, code: conns[k - 1].code, ms: next ? next.resumedAt - conns[k - 1].closedAt : Infinity });
      }
    }
    const sorted = gaps.map((g) => g.ms).sort((a, b) => a - b);
    console.log(`# ${proxy} rolling restart: ${gaps.length} reconnects, close → resumed: median ${sorted[sorted.length >> 1]} ms, ` +
      `max ${sorted.at(-1)} ms; refused handshakes: ${refused.length}`);
    assert.deepEqual(refused, [], 'no handshake refused by the proxy');
    assert.ok(ctx.clients.every((c) => c.connections.filter((x) => x.hello).length >= 2), 'every client was moved at least once');
    assert.deepEqual(gaps.filter((g) => g.code !== 1001), [], 'every close was a 1001 from a stopping gateway');
    assert.deepEqual(gaps.filter((g) => g.ms > RESUME_WITHIN), [], `every client resumed within ${RESUME_WITHIN} ms`);
  });

  check(`${proxy}: rolling restart: every client has every event, in order, no duplicate, no lost`, async () => {
    const { publisher, clients } = ctx;
    const want = publisher.ids;
    assert.ok(await waitFor(() => clients.every((c) => c.events.length >= want.length), { timeout: 10000 }),
      clients.map((c) => c.events.length).join(' '));
    await sleep(300); // a duplicate would arrive now
    for (const client of clients) {
      const got = client.events.map((e) => e.id);
      assert.deepEqual(got, want, `${client.localAddress}: exactly the stream's events, in order`);
      assert.deepEqual(client.frames.filter((f) => f.op === 'lost'), [], `${client.localAddress}: no lost frame`);
    }
    for (const client of clients) client.close();
  });
}

describe('nginx (deploy/nginx/realtimenotify.conf)', () => {
  const base = () => `https://127.0.0.1:${ports.nginx}`;
  const accessLog = () => join(TMP, 'nginx', 'access.log');

  check('nginx -t accepts deploy/nginx/realtimenotify.conf', () => {
    mkdirSync(join(TMP, 'nginx', 'tmp'), { recursive: true });
    render(join(DEPLOY, 'nginx', 'realtimenotify.conf'), join(TMP, 'nginx', 'realtimenotify.conf'), [
      ['server 127.0.0.1:8081 ', `server 127.0.0.1:${gateways.gw1.port} `],
      ['server 127.0.0.1:8082 ', `server 127.0.0.1:${gateways.gw2.port} `],
      ['listen 443 ssl;', `listen 127.0.0.1:${ports.nginx} ssl;`],
      ['listen [::]:443 ssl;', ''],
      ['/etc/ssl/certs/notify.example.org.pem', join(TMP, 'cert.pem')],
      ['/etc/ssl/private/notify.example.org.key', join(TMP, 'key.pem')],
      ['/var/log/nginx/realtimenotify.access.log', accessLog()],
    ]);
    // The main context Debian's /etc/nginx/nginx.conf would provide, minus what needs root or /var.
    // As root, nginx would switch its workers to "nobody", which cannot enter TMP (mode 700).
    const root = process.getuid() === 0;
    const user = root ? `user ${run('id', ['-un']).stdout.trim()} ${run('id', ['-gn']).stdout.trim()};\n` : '';
    const t = join(TMP, 'nginx', 'tmp');
    writeFileSync(join(TMP, 'nginx', 'nginx.conf'), `${user}worker_processes 1;
events { worker_connections 1024; }
http {
    client_body_temp_path ${t}/body;
    proxy_temp_path       ${t}/proxy;
    fastcgi_temp_path     ${t}/fastcgi;
    uwsgi_temp_path       ${t}/uwsgi;
    scgi_temp_path        ${t}/scgi;
    access_log            ${join(TMP, 'nginx', 'other-access.log')};
    include               ${join(TMP, 'nginx', 'realtimenotify.conf')};
}
`);
    const out = run('nginx', nginxArgs(['-t', '-q']));
    assert.equal(out.status, 0, out.stderr);
  });

  // As installed: in Debian's stock nginx.conf, beside its default site (nginx -t binds nothing;
  // only the pid, log and sites paths are moved into TMP). Needs root for /var/lib/nginx.
  const stock = existsSync('/etc/nginx/nginx.conf') && process.getuid() === 0;
  check("nginx -t: the site file in Debian's stock nginx.conf, beside the default site", () => {
    const dir = join(TMP, 'stock');
    mkdirSync(join(dir, 'sites-enabled'), { recursive: true });
    mkdirSync(join(dir, 'log'), { recursive: true });
    const conf = readFileSync('/etc/nginx/nginx.conf', 'utf8')
      .split('/etc/nginx/sites-enabled/').join(`${dir}/sites-enabled/`)
      .split('/var/log/nginx/').join(`${dir}/log/`)
      .split('/run/nginx.pid').join(`${dir}/nginx.pid`);
    writeFileSync(join(dir, 'nginx.conf'), conf);
    if (existsSync('/etc/nginx/sites-available/default')) {
      copyFileSync('/etc/nginx/sites-available/default', join(dir, 'sites-enabled', 'default'));
    }
    copyFileSync(join(TMP, 'nginx', 'realtimenotify.conf'), join(dir, 'sites-enabled', 'realtimenotify.conf'));
    const out = run('nginx', ['-q', '-t', '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'log', 'error.log')]);
    assert.equal(out.status, 0, out.stderr);
  }, { skip: !stock && "needs root and /etc/nginx/nginx.conf" });

  check(`nginx listens`, async () => {
    new Proc('nginx', 'nginx', nginxArgs([]));
    assert.ok(await waitFor(async () => (await httpReq(base(), '/healthz')).status === 200, { timeout: 5000, interval: 100 }));
  });

  proxyRound('nginx', { base, signal: 'SIGKILL', accessLog });
});

function nginxArgs(extra) {
  const dir = join(TMP, 'nginx');
  return ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log'),
    '-g', `daemon off; pid ${join(dir, 'nginx.pid')}; error_log ${join(dir, 'error.log')} info;`, ...extra];
}

describe('HAProxy (deploy/haproxy/realtimenotify.cfg)', () => {
  const base = () => `https://127.0.0.1:${ports.haproxy}`;
  const accessLog = () => join(TMP, 'haproxy.log');

  check('haproxy -c accepts deploy/haproxy/realtimenotify.cfg', () => {
    render(join(DEPLOY, 'haproxy', 'realtimenotify.cfg'), join(TMP, 'haproxy.cfg'), [
      ['    chroot /var/lib/haproxy\n', ''],
      ['    stats socket /run/haproxy/admin.sock mode 660 level admin\n', ''],
      ['    stats timeout 30s\n', ''],
      ['    user haproxy\n', ''],
      ['    group haproxy\n', ''],
      ['    daemon\n', ''],
      ['    log /dev/log local0\n    log /dev/log local1 notice', '    log stdout format raw local0'],
      ['    maxconn 100000', '    maxconn 4096'],
      ['bind :443 ssl crt /etc/haproxy/certs/notify.example.org.pem', `bind 127.0.0.1:${ports.haproxy} ssl crt ${join(TMP, 'haproxy.pem')}`],
      ['server gw1 127.0.0.1:8081', `server gw1 127.0.0.1:${gateways.gw1.port}`],
      ['server gw2 127.0.0.1:8082', `server gw2 127.0.0.1:${gateways.gw2.port}`],
      ['bind 127.0.0.1:8404', `bind 127.0.0.1:${ports.stats}`],
    ]);
    const out = run('haproxy', ['-q', '-c', '-f', join(TMP, 'haproxy.cfg')]);
    assert.equal(out.status, 0, out.stderr + out.stdout);
  });

  check('HAProxy listens and sees both gateways UP (GET /readyz checks)', async () => {
    new Proc('haproxy', 'haproxy', ['-db', '-f', join(TMP, 'haproxy.cfg')]);
    assert.ok(await waitFor(async () => (await haproxyStatus('gw1')) === 'UP' && (await haproxyStatus('gw2')) === 'UP',
      { timeout: 10000, interval: 200 }));
  });

  proxyRound('haproxy', { base, signal: 'SIGTERM', accessLog, haproxy: true });
});
