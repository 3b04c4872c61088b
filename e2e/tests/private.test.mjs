// A private wiki: the gateway runs with --auth-mode private, so a WebSocket without a valid
// token is refused at the handshake (upgraded and closed at once with 4401, before any other
// frame: no event can reach it),
// while an opted-in user's page, which fetches a signed token for each connection, connects
// and gets the wiki's changes.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import { startEnv, openAs, waitConnected, waitForNotice, notices } from '../lib/env.mjs';
import { MwApi } from '../lib/mwapi.mjs';

const SECRET = 'e2e-private-secret-0123456789-abcdefghijklmnop';

/**
 * A bare WebSocket handshake: its HTTP status, and, when upgraded (101), the close code the
 * server then closed it with at once (a refused handshake, e.g. 4401), or null when its first
 * frame was not a close frame (the socket was admitted).
 */
function handshake(port, path = '/v1/ws') {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, path,
      headers: {
        Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
      },
    });
    req.on('response', (res) => { res.resume(); resolve({ status: res.statusCode, code: null }); });
    req.on('upgrade', (res, socket, head) => {
      let buf = Buffer.from(head);
      const done = (code) => { socket.destroy(); resolve({ status: 101, code }); };
      const first = () => {
        if (buf.length < 2) return;
        if ((buf[0] & 0x0f) !== 8) done(null); // not a close frame: admitted
        else if (buf.length >= 4) done(buf.readUInt16BE(2)); // a close frame's code
      };
      socket.on('data', (d) => { buf = Buffer.concat([buf, d]); first(); });
      socket.on('close', () => resolve({ status: 101, code: null }));
      first();
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Opens a plain WebSocket from the page (no token, or a made-up one) and keeps it until it
 * closes or `ms` pass; returns what happened to it.
 */
function rawSocket(page, url, protocols, ms) {
  return page.evaluate(([u, p, wait]) => new Promise((resolve) => {
    const out = { opened: false, messages: [], code: null };
    const ws = p ? new WebSocket(u, p) : new WebSocket(u);
    ws.onopen = () => { out.opened = true; };
    ws.onmessage = (m) => { out.messages.push(String(m.data)); };
    ws.onclose = (e) => { out.code = e.code; };
    setTimeout(() => { try { ws.close(); } catch { /* closed */ } resolve(out); }, wait);
  }), [url, protocols, ms]);
}

describe('private wiki: tokens required at the handshake', () => {
  let env, alice, bob;

  before(async () => {
    env = await startEnv('private', {
      extraPhp: `$wgRealTimeNotifySecret = '${SECRET}';`,
      gatewayArgs: ['--auth-mode', 'private', '--token-secrets', SECRET, '--wiki-id', 'testwiki'],
    });
    bob = await new MwApi(env.wiki).login('Bob');
    alice = await openAs(env, 'Alice', 'Main_Page');
    await waitConnected(alice.page);
  });

  after(async () => {
    await env?.stop();
  });

  it('refuses a socket without a token, while the opted-in user\'s page gets the edit', async () => {
    // Node: a handshake without a token is closed with 4401 before any other frame, on both paths.
    assert.deepEqual(await handshake(env.gatewayPort), { status: 101, code: 4401 });
    assert.deepEqual(await handshake(env.gatewayPort, '/'), { status: 101, code: 4401 });

    // The module's socket (the page's newest so far).
    const own = alice.sockets.at(-1);
    assert.ok(own && !own.ws.isClosed(), 'the module\'s socket is open');

    // A browser: sockets without a token, or with a forged one, are closed with 4401 and
    // receive nothing; meanwhile Bob edits, and nothing reaches them.
    const withoutToken = rawSocket(alice.page, env.wsUrl, null, 3000);
    const forged = rawSocket(alice.page, env.wsUrl, ['realtimenotify.v1', 'realtimenotify.token.eyJhbGciOiJIUzI1NiJ9.e30.AAAA'], 3000);
    const result = await bob.edit('Private page', 'Secret text.', 'private edit');
    assert.equal(result.result, 'Success');

    // Alice's page (token fetched through action=realtimenotifytoken) gets it.
    const text = await waitForNotice(alice.page, 'Bob created Private page', 3000);
    assert.ok(text.includes('private edit'), text);
    assert.equal(await alice.page.evaluate(() => mw.config.get('wgRealTimeNotify').tokenApi), true);
    assert.equal(own.ws.isClosed(), false);

    for (const [what, r] of [['no token', await withoutToken], ['a forged token', await forged]]) {
      assert.deepEqual(r.messages, [], `a socket with ${what} receives nothing`);
      assert.equal(r.code, 4401, `a socket with ${what} is refused with 4401 (an HTTP 401 would show as 1006)`);
    }
    assert.equal((await notices(alice.page)).length, 1);
  });
});
