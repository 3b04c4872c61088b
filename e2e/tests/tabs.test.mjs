// Scenario 5: ten tabs of one browser share one WebSocket, each event pops up once in total,
// and when the leader tab closes another takes over and resumes without losing an event.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startEnv, launchBrowser, loginInBrowser, watchSockets, moduleState, notices, gatewayMetric,
  waitFor, sleep,
} from '../lib/env.mjs';
import { MwApi } from '../lib/mwapi.mjs';

const TABS = 10;

describe('one socket per browser', () => {
  let env, bob, context, pages;
  const sockets = [];

  before(async () => {
    env = await startEnv('tabs');
    bob = await new MwApi(env.wiki).login('Bob');
    context = await launchBrowser(env);
    context.on('page', (p) => watchSockets(p, sockets));
    const first = context.pages()[0] || await context.newPage();
    watchSockets(first, sockets);
    await loginInBrowser(env, context, 'Alice'); // the first tab, now on the Main Page
    pages = [first];
    for (let i = 2; i <= TABS; i++) {
      const p = await context.newPage();
      await p.goto(`${env.wiki}/index.php?title=Tab_${i}`);
      pages.push(p);
    }
  });

  after(async () => {
    await env?.stop();
  });

  const openSockets = () => sockets.filter((s) => !s.ws.isClosed() && !s.page.isClosed());
  const openPages = () => pages.filter((p) => !p.isClosed());
  const states = () => Promise.all(openPages().map(moduleState));

  /** The one tab that holds the connection (fails if there are two). */
  async function leader() {
    return waitFor(async () => {
      const open = openPages();
      const all = await Promise.all(open.map(moduleState));
      const leaders = all.filter((s) => s && s.role === 'leader');
      if (leaders.length > 1) throw new Error(`${leaders.length} leaders`);
      return leaders.length === 1 && leaders[0].connection === 'open' && all.every(Boolean) &&
        open[all.indexOf(leaders[0])];
    }, { what: 'one connected leader' });
  }

  /** How many popups, over all open tabs, mention `needle`. */
  async function popups(needle) {
    let n = 0;
    for (const p of openPages()) {
      n += (await notices(p)).filter((t) => t.includes(needle)).length;
    }
    return n;
  }

  async function oncePerBrowser(t, needle, start) {
    await waitFor(async () => (await popups(needle)) > 0, { timeout: 5000, interval: 25, what: `a popup with ${needle}` });
    t.diagnostic(`"${needle}" popped up ${Date.now() - start} ms after the edit request`);
    await sleep(1500); // time for any duplicate to show up
    assert.equal(await popups(needle), 1, `"${needle}" pops up exactly once over all tabs`);
  }

  it(`(5) ${TABS} tabs: one WebSocket, each event pops up once`, async (t) => {
    await leader();
    assert.equal((await states()).filter((s) => s.role === 'follower').length, TABS - 1);
    await waitFor(async () => openSockets().length === 1 &&
      (await gatewayMetric(env.gatewayPort, 'rtn_clients_connected')) === 1,
    { what: 'exactly one socket' });
    await sleep(500);
    assert.equal(openSockets().length, 1);
    assert.equal(await gatewayMetric(env.gatewayPort, 'rtn_clients_connected'), 1);

    // The tab the reader looks at shows the popup, though it is not the leader.
    const lead = await leader();
    const front = pages.filter((p) => p !== lead)[3];
    await front.bringToFront();
    await front.mouse.click(5, 400); // the reader clicks into it
    await sleep(300);
    const start = Date.now();
    await bob.edit('Tabs page', 'One.', 'tabs one');
    await oncePerBrowser(t, 'tabs one', start);
    assert.equal((await notices(front)).filter((x) => x.includes('tabs one')).length, 1, 'shown in the focused tab');
  });

  it('closing the leader tab: another takes over, the next event still arrives once', async (t) => {
    const old = await leader();
    const lastId = (await moduleState(old)).resumeId;
    const socketsBefore = sockets.length;
    await old.close();
    // Right away, while the new leader may still be connecting.
    const start = Date.now();
    await bob.edit('Tabs page', 'Two.', 'tabs two');
    const next = await leader();
    assert.ok(next !== old, 'another tab leads');
    const fresh = sockets.slice(socketsBefore).filter((s) => !s.ws.isClosed());
    assert.equal(fresh.length, 1);
    assert.equal(new URL(fresh[0].url).searchParams.get('since'), lastId, 'the new leader resumes after the last id');
    await oncePerBrowser(t, 'tabs two', start);
    await waitFor(async () => (await gatewayMetric(env.gatewayPort, 'rtn_clients_connected')) === 1,
      { what: 'still one socket' });
  });

  it('an event published while no tab is connected is not lost', async (t) => {
    await sleep(1200);
    const old = await leader();
    // Hold the next socket back (the page believes it is open) until Bob's edit is out.
    const held = [];
    await context.routeWebSocket(/\/v1\/ws/, (ws) => { held.push(ws); });
    await old.close();
    await waitFor(() => held.length === 1, { what: 'the new leader to try to connect' });
    assert.ok(new URL(held[0].url()).searchParams.get('since'), 'it asks to resume');
    await waitFor(async () => (await gatewayMetric(env.gatewayPort, 'rtn_clients_connected')) === 0,
      { what: 'no client connected' });
    const start = Date.now();
    await bob.edit('Tabs page', 'Three.', 'tabs three');
    await sleep(500);
    assert.equal(await popups('tabs three'), 0);
    held[0].connectToServer(); // now with ?since=: the gateway replays what was missed
    await oncePerBrowser(t, 'tabs three', start);
  });

  // Without Web Locks alone the tabs still share one socket (degrade.test.mjs).
  it('without Web Locks and BroadcastChannel each tab falls back to a socket of its own', async (t) => {
    const solo = await launchBrowser(env);
    await solo.addInitScript(() => {
      delete Navigator.prototype.locks;
      delete window.BroadcastChannel;
    });
    const own = [];
    solo.on('page', (p) => watchSockets(p, own));
    const first = solo.pages()[0] || await solo.newPage();
    watchSockets(first, own);
    await loginInBrowser(env, solo, 'Alice');
    const second = await solo.newPage();
    await second.goto(`${env.wiki}/index.php?title=Solo`);
    for (const p of [first, second]) {
      await waitFor(async () => {
        const s = await moduleState(p);
        return s && s.role === 'solo' && s.connection === 'open';
      }, { what: 'a solo tab connected' });
    }
    assert.equal(own.filter((s) => !s.ws.isClosed()).length, 2);
    await sleep(1200);
    const start = Date.now();
    await bob.edit('Tabs page', 'Solo.', 'tabs solo');
    for (const p of [first, second]) {
      await waitFor(async () => (await notices(p)).some((x) => x.includes('tabs solo')), { what: 'the notice in each tab' });
    }
    t.diagnostic(`both tabs showed it ${Date.now() - start} ms after the edit request`);
    await solo.close();
  });
});
