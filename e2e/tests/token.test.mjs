// A private gateway: the page fetches a signed token (action=realtimenotifytoken) for each
// connection, passes it as a subprotocol, and renews it on the open socket before it expires.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startEnv, openAs, waitConnected, waitForNotice, waitFor, sleep,
} from '../lib/env.mjs';
import { upgradeRequest } from '../lib/net.mjs';
import { MwApi } from '../lib/mwapi.mjs';

/**
 * A bare WebSocket handshake: its HTTP status, and, when upgraded (101), the close code the
 * server then closed it with at once (a refused handshake, e.g. 4401), or null when its first
 * frame was not a close frame (the socket was admitted).
 */
function handshake(port) {
  return new Promise((resolve, reject) => {
    const req = upgradeRequest(port);
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

const SECRET = 'e2e-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
const TTL = 8;

describe('signed connection tokens (private gateway)', () => {
  let env, alice, bob;

  before(async () => {
    env = await startEnv('token', {
      extraPhp: `$wgRealTimeNotifySecret = '${SECRET}';\n$wgRealTimeNotifyTokenTTL = ${TTL};`,
      gatewayArgs: ['--auth-mode', 'private', '--token-secrets', SECRET, '--wiki-id', 'testwiki', '--token-leeway', '0'],
    });
    bob = await new MwApi(env.wiki).login('Bob');
    alice = await openAs(env, 'Alice', 'Main_Page');
    await waitConnected(alice.page);
  });

  after(async () => {
    await env?.stop();
  });

  it('connects with a token and gets events; a socket without one is refused', async () => {
    // The page's current socket: the newest one (an earlier page's may not be reported closed).
    const ws = alice.sockets.at(-1);
    assert.ok(ws && !ws.ws.isClosed(), 'an open socket');
    assert.ok(ws.ws.url().startsWith(env.wsUrl));
    assert.equal(await alice.page.evaluate(() => mw.config.get('wgRealTimeNotify').tokenApi), true);
    await bob.edit('Private page', 'Secret text.', 'private edit');
    await waitForNotice(alice.page, 'Bob created Private page', 2000);

    // A handshake without a token is refused (4401) before any other frame.
    assert.deepEqual(await handshake(env.gatewayPort), { status: 101, code: 4401 });
  });

  it('renews the token on the open socket before it expires', async () => {
    const { ws } = alice.sockets.at(-1);
    const sent = [];
    const got = [];
    ws.on('framesent', (f) => sent.push(String(f.payload)));
    ws.on('framereceived', (f) => got.push(String(f.payload)));
    await waitFor(() => got.filter((f) => f.includes('"authenticated"')).length >= 2,
      { timeout: 3 * TTL * 1000, interval: 200, what: 'two token renewals' });
    assert.ok(sent.some((f) => JSON.parse(f).op === 'auth'));
    await sleep(1000);
    assert.equal(ws.isClosed(), false, 'still the same socket, never closed with 4001');
    await sleep(1200);
    await bob.edit('Private page', 'Still secret.', 'after renewal');
    await waitForNotice(alice.page, 'after renewal', 2000);
  });
});
