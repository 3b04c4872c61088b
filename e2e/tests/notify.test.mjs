// Scenarios 1–3: a change by Bob pops up in Alice's browser, text only; Bob (not opted in) gets
// no module and no socket. Real MediaWiki, real Redis, real gateway, headless Chromium.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import {
  ARTIFACTS, join, startEnv, openAs, waitConnected, waitForNotice, notices, moduleState, publish, sleep,
} from '../lib/env.mjs';
import { MwApi } from '../lib/mwapi.mjs';

const HOSTILE = '<img src=x onerror=alert(1)>';

describe('live notices on a real wiki', () => {
  let env, alice, bob, admin;

  before(async () => {
    env = await startEnv('notify');
    admin = await new MwApi(env.wiki).login('Admin');
    // Pages exist before Alice arrives, so Bob's changes below are edits, not creations.
    for (const p of ['Scenario one', 'Scenario two', 'Scenario three']) {
      await admin.edit(p, `Text of ${p}.`, 'setup');
    }
    bob = await new MwApi(env.wiki).login('Bob');
    alice = await openAs(env, 'Alice', 'Main_Page');
    await waitConnected(alice.page);
  });

  after(async () => {
    await env?.stop();
  });

  it('(1) Bob edits through the API: Alice sees who, what and why within 2 s', async (t) => {
    const summary = 'Scenario one: fixed a typo';
    const start = Date.now();
    const result = await bob.edit('Scenario one', 'Better text.', summary);
    assert.equal(result.result, 'Success');
    const saved = Date.now();
    const text = await waitForNotice(alice.page, 'Bob edited Scenario one', 2000);
    const elapsed = Date.now() - start;
    t.diagnostic(`popup ${elapsed} ms after the edit request (${Date.now() - saved} ms after its response)`);
    assert.ok(elapsed < 2000, `popup after ${elapsed} ms`);
    assert.match(text, /^Live change\n/);
    assert.ok(text.includes(summary), text);

    // The page title links to the diff of exactly this revision.
    const notice = alice.page.locator('.mw-notification', { hasText: 'Bob edited Scenario one' });
    const href = await notice.locator('a.ext-realtimenotify-page').getAttribute('href');
    assert.ok(href.startsWith(`${env.wiki}/index.php?`), href);
    assert.match(href, new RegExp(`[?&]diff=${result.newrevid}&oldid=${result.oldrevid}$`));
    assert.equal(await notice.locator('.ext-realtimenotify-user').innerText(), 'Bob');

    await notice.and(alice.page.locator('.mw-notification-visible')).waitFor();
    await sleep(600); // let the fade-in finish
    mkdirSync(ARTIFACTS, { recursive: true });
    await notice.screenshot({ path: join(ARTIFACTS, 'notice.png') });
    await alice.page.screenshot({ path: join(ARTIFACTS, 'notice-page.png') });
  });

  it('(2) Bob, not opted in: no module, no WebSocket', async () => {
    const bobBrowser = await openAs(env, 'Bob', 'Scenario two');
    await bobBrowser.page.waitForLoadState('load');
    // Something happens meanwhile, and Alice does get it: events are flowing.
    await admin.edit('Scenario two', 'Edited while Bob reads.', 'scenario two');
    await waitForNotice(alice.page, 'Admin edited Scenario two');
    await sleep(1000);
    const state = await bobBrowser.page.evaluate(() => ({
      module: mw.loader.getState('ext.realtimenotify'),
      config: mw.config.get('wgRealTimeNotify'),
      hook: !!mw.realtimenotify,
    }));
    assert.equal(state.module, 'registered', 'the module is known to the loader but never loaded');
    assert.equal(state.config, null);
    assert.equal(state.hook, false);
    assert.deepEqual(bobBrowser.sockets.map((s) => s.url), []);
    assert.deepEqual(await notices(bobBrowser.page), []);
    await bobBrowser.context.close();
  });

  it('(3) a hostile summary shows as text: no element, no script', async () => {
    await sleep(1200); // not in the same burst as the notices above
    await bob.edit('Scenario three', 'Edited.', HOSTILE);
    await waitForNotice(alice.page, 'Bob edited Scenario three');
    const notice = alice.page.locator('.mw-notification', { hasText: 'Bob edited Scenario three' });
    assert.equal(await notice.locator('.ext-realtimenotify-summary').textContent(), HOSTILE);
    assert.equal(await notice.locator('img').count(), 0);

    // Straight into Redis, past the extension: markup in every field the popup shows.
    await sleep(1200); // not in the same burst as the edit above
    await publish(env, {
      page_title: '<b id="evil-title">Title</b>',
      user_name: '<script>window.pwned = 1</script>',
      timestamp: new Date().toISOString(),
      summary: '<a href="javascript:window.pwned=2" id="evil-link">click</a>',
      type: 'move',
      target_title: '<img src=x onerror="window.pwned=3">',
    });
    const text = await waitForNotice(alice.page, '<script>window.pwned = 1</script> moved <b id="evil-title">Title</b>');
    assert.ok(text.includes('<img src=x onerror="window.pwned=3">'), text);
    await sleep(500);
    const dom = await alice.page.evaluate(() => ({
      pwned: window.pwned || null,
      bad: document.querySelectorAll(
        '.mw-notification img, .mw-notification script, .mw-notification b, #evil-title, #evil-link').length,
      hrefs: [...document.querySelectorAll('.mw-notification a')].map((a) => a.getAttribute('href')),
    }));
    assert.equal(dom.pwned, null);
    assert.equal(dom.bad, 0);
    for (const h of dom.hrefs) assert.match(h, /^(https?:\/\/|\/)/);
    assert.deepEqual(alice.dialogs, [], 'no alert() ever fired');
  });

  it('does not pop up Alice\'s own edits', async () => {
    await sleep(1200); // not in the same burst as the notices above
    const own = await new MwApi(env.wiki).login('Alice');
    await own.edit('Scenario one', 'Alice was here.', 'own edit');
    // A marker after it, to know the own edit's event has been and gone.
    await bob.edit('Scenario two', 'After Alice.', 'marker after own edit');
    await waitForNotice(alice.page, 'marker after own edit');
    assert.equal((await notices(alice.page)).filter((t) => t.includes('own edit') && !t.includes('marker')).length, 0);
  });

  it('groups a burst into one notice', async () => {
    await sleep(1200); // the previous notice's group is over
    const now = new Date().toISOString();
    for (let i = 1; i <= 7; i++) {
      await publish(env, { page_title: `Burst page ${i}`, user_name: 'Carol', timestamp: now, summary: `burst ${i}` });
    }
    const text = await waitForNotice(alice.page, '7 changes just now');
    assert.ok(text.includes('Burst page 1') && text.includes('Burst page 5'), text);
    assert.ok(!text.includes('Burst page 6'), 'lists only a few titles');
    await sleep(500);
    assert.equal((await notices(alice.page)).filter((t) => t.includes('Burst page')).length, 1);
    const state = await moduleState(alice.page);
    assert.equal(state.role, 'leader');
  });

  it('a popup the reader closed does not come back with the next change', async (t) => {
    await sleep(1200); // the burst above is over
    const now = new Date().toISOString();
    await publish(env, { page_title: 'Closed page', user_name: 'Carol', timestamp: now, summary: 'first' });
    await waitForNotice(alice.page, 'Closed page');
    // The next change comes within the burst gap (1 s) of the first: without the reader's
    // click it would join the first popup ("2 changes just now").
    const start = Date.now();
    // mw.notification closes a popup that is clicked (a DOM click: quicker than a mouse).
    const closed = await alice.page.evaluate(() => {
      const el = [...document.querySelectorAll('.mw-notification.ext-realtimenotify-notice:not(.mw-notification-replaced)')]
        .find((e) => e.innerText.includes('Closed page'));
      el?.click();
      return !!el;
    });
    assert.ok(closed, 'the first popup was there to close');
    await publish(env, { page_title: 'Next page', user_name: 'Carol', timestamp: now, summary: 'second' });
    t.diagnostic(`second change published ${Date.now() - start} ms after the click`);
    const text = await waitForNotice(alice.page, 'Next page');
    assert.ok(!text.includes('Closed page') && !text.includes('2 changes'), `the closed change came back: ${text}`);
  });
});
