// Issue 12, items 5 and 7: desktop notifications (opt-in: preference and browser permission,
// asked from a click only), and graceful degradation: no Web Locks (still one popup per event
// across tabs), no WebSocket (says so once, does no harm), offline/online.
// Screenshots go to e2e/artifacts/.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import {
  ARTIFACTS, join, startEnv, launchBrowser, loginInBrowser, watchSockets, moduleState, notices, waitFor, sleep,
  waitForNotice, gatewayMetric, publish,
} from '../lib/env.mjs';
import { MwApi } from '../lib/mwapi.mjs';

/** Pages of a context see `document.visibilityState` as the test says (window.testHidden). */
function controllableVisibility() {
  Object.defineProperty(Document.prototype, 'visibilityState', {
    configurable: true, get: () => (window.testHidden ? 'hidden' : 'visible'),
  });
  Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => !!window.testHidden });
}

/** Records the system notifications a page makes, and the permission requests. */
function recordNotifications() {
  const Real = window.Notification;
  window.desktopShown = [];
  window.permissionAsked = 0;
  class Recorded extends Real {
    constructor(title, options) {
      super(title, options);
      window.desktopShown.push(this);
    }

    static requestPermission(cb) {
      window.permissionAsked++;
      return Real.requestPermission(cb);
    }
  }
  window.Notification = Recorded;
}

async function hide(page, hidden) {
  await page.evaluate((h) => {
    window.testHidden = h;
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

describe('desktop notifications and graceful degradation', () => {
  let env, bob;

  before(async () => {
    env = await startEnv('degrade');
    bob = await new MwApi(env.wiki).login('Bob');
    const alice = await new MwApi(env.wiki).login('Alice');
    const r = await alice.request({
      action: 'options', change: 'realtimenotify-desktop=1', token: await alice.token('csrf'),
    }, { post: true });
    assert.equal(r.options, 'success', JSON.stringify(r));
    mkdirSync(ARTIFACTS, { recursive: true });
  });

  after(async () => {
    await env?.stop();
  });

  it('desktop: nothing asked on load; the popup\'s button asks, from the click', async () => {
    const context = await launchBrowser(env);
    await context.addInitScript(recordNotifications);
    const page = await loginInBrowser(env, context, 'Alice');
    await waitFor(async () => (await moduleState(page))?.connection === 'open', { what: 'connected' });
    assert.equal(await page.evaluate(() => Notification.permission), 'default');
    assert.equal(await page.evaluate(() => window.permissionAsked), 0, 'never asked on load');
    await bob.edit('Desktop ask', 'Hello.', 'ask me');
    await waitForNotice(page, 'ask me', 3000);
    const button = page.locator('.ext-realtimenotify-notice button.ext-realtimenotify-desktop-ask');
    assert.equal(await button.innerText(), 'Show desktop notifications');
    assert.equal(await page.evaluate(() => window.permissionAsked), 0);
    await sleep(600);
    await page.locator('.ext-realtimenotify-notice', { hasText: 'ask me' }).screenshot({ path: join(ARTIFACTS, 'desktop-ask.png') });
    await button.click();
    await waitFor(() => page.evaluate(() => window.permissionAsked === 1), { what: 'the permission request' });
    assert.equal((await notices(page)).filter((t) => t.includes('ask me')).length, 1, 'the click did not close the popup');
    await context.close();
  });

  it('desktop: with permission, a hidden page gets one system notification per event or burst; a click opens the diff', async () => {
    const context = await launchBrowser(env);
    await context.grantPermissions(['notifications'], { origin: env.wiki });
    await context.addInitScript(controllableVisibility);
    await context.addInitScript(recordNotifications);
    const page = await loginInBrowser(env, context, 'Alice');
    await waitFor(async () => (await moduleState(page))?.connection === 'open', { what: 'connected' });
    assert.equal(await page.evaluate(() => Notification.permission), 'granted');
    assert.equal(await page.locator('.ext-realtimenotify-desktop-ask').count(), 0, 'nothing to ask');

    // Visible: the popup is enough.
    await bob.edit('Desktop page', 'Seen.', 'while visible');
    await waitForNotice(page, 'while visible', 3000);
    await sleep(500);
    assert.equal(await page.evaluate(() => window.desktopShown.length), 0);

    // Hidden: one system notification per event…
    await sleep(1200);
    await hide(page, true);
    const r = await bob.edit('Desktop page', 'Unseen.', 'while hidden');
    await waitFor(() => page.evaluate(() => window.desktopShown.length === 1), { timeout: 3000, what: 'a system notification' });
    const shown = await page.evaluate(() => window.desktopShown.map((n) => ({ title: n.title, body: n.body, tag: n.tag })));
    assert.equal(shown[0].title, 'Live change');
    assert.equal(shown[0].body, 'Bob edited Desktop page\nwhile hidden');
    // …and one for a burst (straight into Redis, so that it comes within a second), redrawn
    // under the same tag.
    await sleep(1500);
    const now = new Date().toISOString();
    for (const i of [1, 2, 3]) {
      await publish(env, { page_title: `Burst ${i}`, user_name: 'Carol', timestamp: now, summary: `burst ${i}` });
    }
    await waitFor(async () => (await page.evaluate(() => window.desktopShown.at(-1).title)) === '3 changes just now',
      { timeout: 3000, what: 'the burst notification' });
    const tags = await page.evaluate(() => window.desktopShown.map((n) => n.tag));
    assert.equal(new Set(tags.slice(1)).size, 1, `a burst is one notification, redrawn: ${tags}`);
    assert.notEqual(tags[0], tags[1]);
    assert.equal(await page.evaluate(() => mw.realtimenotify.state().desktop.shown), tags.length);

    // A click on the single one focuses the tab and opens its diff.
    await page.evaluate(() => window.desktopShown[0].dispatchEvent(new Event('click')));
    await page.waitForURL(new RegExp(`diff=${r.newrevid}`), { timeout: 5000 });
    await page.screenshot({ path: join(ARTIFACTS, 'desktop-click-diff.png') });
    await context.close();
  });

  it('no Web Locks: the tabs elect a leader themselves; one socket, each event once', async (t) => {
    const context = await launchBrowser(env);
    await context.addInitScript(() => { delete Navigator.prototype.locks; });
    const sockets = [];
    context.on('page', (p) => watchSockets(p, sockets));
    const first = context.pages()[0] || await context.newPage();
    watchSockets(first, sockets);
    await loginInBrowser(env, context, 'Alice');
    const second = await context.newPage();
    await second.goto(`${env.wiki}/index.php?title=Second_tab`);
    const tabs = [first, second];
    const states = async () => Promise.all(tabs.filter((p) => !p.isClosed()).map(moduleState));
    await waitFor(async () => {
      const s = await states();
      return s.every(Boolean) && s.filter((x) => x.role === 'leader' && x.connection === 'open').length === 1 &&
        s.filter((x) => x.role === 'follower').length === 1;
    }, { what: 'one leader, one follower' });
    assert.deepEqual((await states()).map((s) => s.election), ['channel', 'channel']);
    assert.equal(await first.evaluate(() => !!navigator.locks), false);
    await sleep(500);
    assert.equal(sockets.filter((s) => !s.ws.isClosed()).length, 1);

    const popups = async (needle) => {
      let n = 0;
      for (const p of tabs.filter((x) => !x.isClosed())) n += (await notices(p)).filter((x) => x.includes(needle)).length;
      return n;
    };
    await bob.edit('No locks page', 'One.', 'no locks one');
    await waitFor(async () => (await popups('no locks one')) > 0, { timeout: 3000, what: 'the popup' });
    await sleep(1500);
    assert.equal(await popups('no locks one'), 1, 'once over both tabs');
    await first.screenshot({ path: join(ARTIFACTS, 'no-web-locks.png') });

    // The leader goes: the other tab takes over at once and resumes.
    const leaderPage = tabs[(await states()).findIndex((s) => s.role === 'leader')];
    const other = tabs.find((p) => p !== leaderPage);
    await leaderPage.close();
    const start = Date.now();
    await waitFor(async () => {
      const s = await moduleState(other);
      return s.role === 'leader' && s.connection === 'open';
    }, { timeout: 5000, what: 'the other tab to lead' });
    t.diagnostic(`took over in ${Date.now() - start} ms`);
    await sleep(1200);
    await bob.edit('No locks page', 'Two.', 'no locks two');
    await waitForNotice(other, 'no locks two', 3000);
    await waitFor(async () => (await gatewayMetric(env.gatewayPort, 'rtn_clients_connected')) === 1, { what: 'one socket' });
    await context.close();
  });

  it('no WebSocket: the module says so once and does nothing else', async () => {
    const context = await launchBrowser(env);
    await context.addInitScript(() => { delete window.WebSocket; });
    const errors = [];
    const warnings = [];
    const page = context.pages()[0] || await context.newPage();
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'warning' && m.text().includes('realtimenotify')) warnings.push(m.text()); });
    await loginInBrowser(env, context, 'Alice');
    await waitFor(() => page.evaluate(() => mw.loader.getState('ext.realtimenotify') === 'ready'), { what: 'the module' });
    assert.deepEqual(await moduleState(page), { supported: false, missing: 'websocket', connection: null, role: null, shown: 0 });
    await bob.edit('No socket page', 'Hi.', 'no socket');
    await sleep(1500);
    assert.deepEqual(await notices(page), []);
    assert.deepEqual(errors, []);
    assert.equal(warnings.length, 1, JSON.stringify(warnings));
    await page.screenshot({ path: join(ARTIFACTS, 'no-websocket.png') });
    await context.close();
  });

  it('offline: no attempts while offline; back online, it reconnects at once', async (t) => {
    const context = await launchBrowser(env);
    const page = await loginInBrowser(env, context, 'Alice');
    await waitFor(async () => (await moduleState(page))?.connection === 'open', { what: 'connected' });
    await context.setOffline(true);
    await waitFor(() => page.evaluate(() => navigator.onLine === false), { what: 'the browser to be offline' });
    // The gateway goes away meanwhile (a restart): the socket closes, and nothing retries.
    await env.restartGateway();
    await waitFor(async () => (await moduleState(page)).connection === 'offline', { timeout: 5000, what: 'state offline' });
    const connects = (await moduleState(page)).connects;
    await sleep(3000);
    assert.equal((await moduleState(page)).connects, connects, 'no attempt while offline');
    await page.screenshot({ path: join(ARTIFACTS, 'offline.png') });
    const start = Date.now();
    await context.setOffline(false);
    await waitFor(async () => (await moduleState(page)).connection === 'open', { timeout: 3000, what: 'reconnected' });
    t.diagnostic(`reconnected ${Date.now() - start} ms after going online`);
    assert.ok(Date.now() - start < 3000);
    await sleep(1200);
    await bob.edit('Offline page', 'Back.', 'after the outage');
    await waitForNotice(page, 'after the outage', 3000);
    await context.close();
  });
});
