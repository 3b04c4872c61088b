// Handshake refusals reach the module as close codes it can act on (docs/protocol.md,
// policy.js): an unusable token (4401) is replaced at once, a forbidden origin (4403) stops the
// module for good, too many connections from this address (4429) backs off for seconds.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startEnv, openAs, waitFor, waitConnected, moduleState, sleep,
} from '../lib/env.mjs';
import { upgradeRequest } from '../lib/net.mjs';

const SECRET = 'e2e-secret-0123456789-abcdefghijklmnopqrstuvwxyz';

/**
 * A bare WebSocket from this test (the same address as the browser), held open; resolves once
 * the gateway greeted it, null if it was refused instead (the first frame was a close frame).
 */
function holdSocket(port) {
  return new Promise((resolve, reject) => {
    const req = upgradeRequest(port);
    req.on('upgrade', (res, socket, head) => {
      const first = (buf) => {
        if (buf.length === 0) return false;
        if ((buf[0] & 0x0f) === 8) { socket.destroy(); resolve(null); } else resolve(socket);
        return true;
      };
      if (!first(head)) socket.once('data', first);
    });
    req.on('response', (res) => reject(new Error(`not upgraded: ${res.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
}

/** Times (ms) at which the page opened sockets to the gateway. */
function socketTimes(page, wsUrl) {
  const times = [];
  page.on('websocket', (ws) => {
    if (ws.url().startsWith(wsUrl)) times.push(Date.now());
  });
  return times;
}

describe('handshake refusals as close codes', () => {
  let env;

  before(async () => {
    env = await startEnv('refusals', {
      extraPhp: `$wgRealTimeNotifySecret = '${SECRET}';`,
      gatewayArgs: ['--token-secrets', SECRET, '--wiki-id', 'testwiki'],
    });
  });

  after(async () => {
    await env?.stop();
  });

  it('4401: an unusable token is replaced by a fresh one at once', async () => {
    const alice = await openAs(env, 'Alice', 'Special:BlankPage');
    await waitConnected(alice.page);
    // The next token the API hands out is spoilt (as if it had expired on a sleeping laptop);
    // the ones after it are good.
    let spoilt = 0;
    await alice.page.route('**/api.php*', async (route) => {
      const body = route.request().postData() || '';
      if (spoilt === 0 && body.includes('action=realtimenotifytoken')) {
        spoilt++;
        const response = await route.fetch();
        const data = await response.json();
        data.realtimenotifytoken.token = data.realtimenotifytoken.token.replace(/\.[^.]+$/, '.AAAA');
        await route.fulfill({ response, json: data });
        return;
      }
      await route.continue();
    });
    const times = socketTimes(alice.page, env.wsUrl);
    await alice.page.reload();
    await waitFor(async () => (await moduleState(alice.page))?.lastClose === 4401,
      { timeout: 10000, what: 'the spoilt token to be refused with 4401' });
    const s = await waitConnected(alice.page, 5000);
    assert.equal(spoilt, 1);
    assert.equal(s.stopped, null);
    assert.ok(times.length >= 2, `two sockets: the refused one and its replacement (${times.length})`);
    const gap = times[1] - times[0];
    assert.ok(gap < 1500, `the replacement followed at once, not after a backoff: ${gap} ms`);
    await alice.context.close();
  });

  it('4429: too many connections from this address backs off for seconds, then connects', async () => {
    env.gatewayArgs = ['--token-secrets', SECRET, '--wiki-id', 'testwiki', '--max-connections-per-ip', '1'];
    await env.restartGateway();
    // Another client from this address holds the one socket allowed. (Every connection from
    // the address counts, from accept: the harness's own keep-alive /readyz probe may hold the
    // slot for a few seconds after the restart.)
    const other = await waitFor(() => holdSocket(env.gatewayPort), { timeout: 15000, interval: 500, what: 'a socket of our own' });
    const alice = await openAs(env, 'Alice', 'Special:BlankPage');
    const times = socketTimes(alice.page, env.wsUrl);
    await waitFor(async () => (await moduleState(alice.page))?.lastClose === 4429,
      { timeout: 10000, what: 'the handshake to be refused with 4429' });
    const refusedAt = Date.now();
    const attempts = times.length;
    await sleep(4000);
    assert.equal(times.length, attempts, 'no new attempt within 4 s of a 4429 (it waits at least 5 s)');
    assert.equal((await moduleState(alice.page)).stopped, null, 'it has not given up');
    other.destroy();
    await waitConnected(alice.page, 15000);
    assert.ok(Date.now() - refusedAt >= 5000, 'connected only after the long backoff');
    await alice.context.close();
  });

  it('4403: a forbidden origin stops the module, which says so', async () => {
    env.gatewayArgs = ['--token-secrets', SECRET, '--wiki-id', 'testwiki', '--allowed-origins', 'https://elsewhere.example'];
    await env.restartGateway();
    const alice = await openAs(env, 'Alice', 'Special:BlankPage');
    const times = socketTimes(alice.page, env.wsUrl);
    const s = await waitFor(async () => {
      const st = await moduleState(alice.page);
      return st?.stopped && st;
    }, { timeout: 10000, what: 'the module to stop' });
    assert.equal(s.stopped, 'forbidden');
    assert.equal(s.lastClose, 4403);
    const attempts = times.length;
    await sleep(3000);
    assert.equal(times.length, attempts, 'no further attempt after 4403');
    await alice.context.close();
  });
});
