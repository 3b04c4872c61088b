// Scenario 6: the gateway restarts under an open page; the page reconnects by itself (resuming
// with ?since=) and the next change pops up.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  publish, startEnv, openAs, waitConnected, waitForNotice, waitFor, notices, clearNotices, sleep,
} from '../lib/env.mjs';
import { MwApi } from '../lib/mwapi.mjs';

describe('gateway restart', () => {
  let env, alice, bob;

  before(async () => {
    env = await startEnv('reconnect');
    bob = await new MwApi(env.wiki).login('Bob');
    alice = await openAs(env, 'Alice', 'Main_Page');
    await waitConnected(alice.page);
  });

  after(async () => {
    await env?.stop();
  });

  async function restartAndEdit(t, how, n) {
    // An event first, so that the page has an id to resume from.
    const seen = await bob.edit('Restart page', `Before ${how}.`, `before ${how}`);
    await waitForNotice(alice.page, `before ${how}`);
    const socketsBefore = alice.sockets.length;
    const lastId = (await alice.page.evaluate(() => mw.realtimenotify.state())).resumeId;
    assert.ok(lastId, 'the page knows the last event id');

    await clearNotices(alice.page);
    const start = Date.now();
    if (how === 'SIGTERM') {
      await env.restartGateway(); // clients get close code 1001
    } else {
      await env.gateway.stop('SIGKILL'); // no close frame at all: 1006
      await sleep(300);
      await env.restartGateway();
    }

    // The page reconnects by itself: a new WebSocket, resuming after the last id it saw.
    const ws = await waitFor(() => alice.sockets.slice(socketsBefore).find((s) => !s.ws.isClosed()),
      { timeout: 35000, interval: 100, what: 'the page to reconnect' });
    assert.equal(new URL(ws.url).searchParams.get('since'), lastId);
    await waitFor(async () => (await alice.page.evaluate(() => mw.realtimenotify.state())).connection === 'open',
      { what: 'open' });
    t.diagnostic(`reconnected ${Date.now() - start} ms after the restart began (resumed after ${lastId}, event ${seen.newrevid})`);

    // The restarted gateway cannot vouch for what happened while it was down: the page says so, once.
    await waitForNotice(alice.page, 'Some live notifications were missed');
    assert.equal((await notices(alice.page)).filter((x) => x.includes('were missed')).length, 1);

    // Reported once: the next page (a new socket, resuming before any new event) does not
    // report the same loss again.
    await alice.page.reload();
    await waitFor(async () => (await alice.page.evaluate(() => mw.realtimenotify.state())).connection === 'open',
      { what: 'open after reload' });
    assert.ok(new URL(alice.sockets.at(-1).url).searchParams.get('since'), 'the new page resumes too');
    await sleep(1000);
    assert.deepEqual((await notices(alice.page)).filter((x) => x.includes('were missed')), []);

    await sleep(200);
    const editStart = Date.now();
    await bob.edit('Restart page', `After ${how}.`, `after restart ${n}`);
    await waitForNotice(alice.page, `after restart ${n}`, 2000);
    t.diagnostic(`popup ${Date.now() - editStart} ms after the edit`);
  }

  it('(6) graceful restart (close 1001): reconnects and resumes', async (t) => {
    await restartAndEdit(t, 'SIGTERM', 1);
  });

  it('crash (no close frame): reconnects and resumes', async (t) => {
    await sleep(1200);
    await restartAndEdit(t, 'SIGKILL', 2);
  });

  it('lagged (close 4000): reconnects with since and gets what it missed', async (t) => {
    await sleep(1200);
    // Route the page's sockets through playwright, to close one with 4000 as the gateway does to
    // a client that falls behind, and to hold the reconnection until an event has gone by.
    const live = [];
    const held = [];
    let hold = false;
    await alice.page.routeWebSocket(/\/v1\/ws/, (ws) => {
      if (hold) {
        held.push(ws);
      } else {
        ws.connectToServer();
        live.push(ws);
      }
    });
    await alice.page.reload();
    await waitFor(async () => live.length === 1 &&
      (await alice.page.evaluate(() => mw.realtimenotify.state())).connection === 'open', { what: 'open' });
    await publish(env, { page_title: 'Lag A', user_name: 'Carol', timestamp: new Date().toISOString(), summary: 'seen before the lag' });
    await waitForNotice(alice.page, 'seen before the lag');
    const lastId = (await alice.page.evaluate(() => mw.realtimenotify.state())).resumeId;

    hold = true;
    await live[0].close({ code: 4000, reason: 'lagged' });
    const start = Date.now();
    const route = await waitFor(() => held[0], { timeout: 35000, interval: 50, what: 'the page to reconnect' });
    t.diagnostic(`reconnect attempt ${Date.now() - start} ms after the 4000 close`);
    assert.equal(new URL(route.url()).searchParams.get('since'), lastId);

    await publish(env, { page_title: 'Lag B', user_name: 'Carol', timestamp: new Date().toISOString(), summary: 'sent while away' });
    await sleep(300);
    route.connectToServer(); // the gateway replays what came after `since`
    await waitForNotice(alice.page, 'Lag B', 3000); // the title: alone or in a burst with Lag A
  });
});
