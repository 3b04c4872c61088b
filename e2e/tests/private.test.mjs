// A private wiki: the gateway runs with --auth-mode private, so a WebSocket without a valid
// token is refused at the handshake (HTTP 401, the socket never opens, no event can reach it),
// while an opted-in user's page, which fetches a signed token for each connection, connects
// and gets the wiki's changes.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import { startEnv, openAs, waitConnected, waitForNotice, notices } from '../lib/env.mjs';
import { MwApi } from '../lib/mwapi.mjs';

const SECRET = 'e2e-private-secret-0123456789-abcdefghijklmnop';

/** Status of a bare WebSocket handshake from node (101 when upgraded). */
function handshake(port, path = '/v1/ws') {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, path,
      headers: {
        Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
      },
    });
    req.on('response', (res) => { res.resume(); resolve(res.statusCode); });
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve(101); });
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
    // Node: a handshake without a token is answered 401, on both paths, before any upgrade.
    assert.equal(await handshake(env.gatewayPort), 401);
    assert.equal(await handshake(env.gatewayPort, '/'), 401);

    // The module's socket (the page's newest so far).
    const own = alice.sockets.at(-1);
    assert.ok(own && !own.ws.isClosed(), 'the module\'s socket is open');

    // A browser: sockets without a token, or with a forged one, never open; meanwhile Bob
    // edits, and nothing reaches them.
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
      assert.equal(r.opened, false, `a socket with ${what} never opens`);
      assert.deepEqual(r.messages, [], `a socket with ${what} receives nothing`);
      assert.equal(r.code, 1006, `a socket with ${what} fails its handshake`);
    }
    assert.equal((await notices(alice.page)).length, 1);
  });
});
