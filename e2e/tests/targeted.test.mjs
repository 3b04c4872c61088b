// Targeted events on a real wiki: the extension addresses each change to the page's watchers
// (and a user talk page's owner) and raises patrol alerts; the gateway delivers by audience;
// the browser subscribes according to the user's mode (Special:Preferences):
//   Alice: mode all (plain user)      Carol, Dave: mode watchlist
//   Patty: mode alerts (patroller)    Bob: makes the changes
// The gateway runs in public mode, so an anonymous socket is admitted too: it must get the
// ordinary changes but never an alert.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import {
  ARTIFACTS, join, startEnv, openAs, waitConnected, waitSubscribed, waitForNotice, notices, publish, sleep, waitFor,
  compareIds,
} from '../lib/env.mjs';
import { MwApi } from '../lib/mwapi.mjs';

const SECRET = 'e2e-targeted-secret-0123456789-abcdefghijklmno';
// How long a browser that should get nothing is watched after the others got their popups.
const QUIET_MS = 1500;

/** Records every frame the page's current socket receives from now on. */
function recordFrames(browser) {
  const frames = [];
  browser.sockets.at(-1).ws.on('framereceived', (f) => {
    try { frames.push(JSON.parse(String(f.payload))); } catch { /* not JSON */ }
  });
  return frames;
}

describe('targeted events: watchlist and patrol alerts', () => {
  let env, bob, alice, carol, dave, patty, aliceFrames, anonymous;

  before(async () => {
    env = await startEnv('targeted', {
      extraPhp: `$wgRealTimeNotifySecret = '${SECRET}';`,
      gatewayArgs: ['--token-secrets', SECRET, '--wiki-id', 'testwiki'],
    });
    const admin = await new MwApi(env.wiki).login('Admin');
    await admin.edit('Watched page', 'Carol watches this page.', 'setup');
    await admin.edit('Blank me', 'Some content that Bob will remove. '.repeat(40), 'setup');
    const carolApi = await new MwApi(env.wiki).login('Carol');
    const watched = await carolApi.request(
      { action: 'watch', titles: 'Watched page', token: await carolApi.token('watch') }, { post: true });
    assert.equal(watched.watch?.[0]?.watched, true, JSON.stringify(watched));
    bob = await new MwApi(env.wiki).login('Bob');

    [alice, carol, dave, patty] = await Promise.all(
      ['Alice', 'Carol', 'Dave', 'Patty'].map((u) => openAs(env, u, 'Main_Page')));
    await waitConnected(alice.page);
    await Promise.all([carol, dave, patty].map((b) => waitSubscribed(b.page)));
    aliceFrames = recordFrames(alice);

    // An anonymous socket (no token) from Alice's page, recording what it gets.
    await alice.page.evaluate((url) => {
      window.anonFrames = [];
      const ws = new WebSocket(url);
      ws.onmessage = (m) => window.anonFrames.push(JSON.parse(m.data));
      window.anonSocket = ws;
    }, env.wsUrl);
    anonymous = () => alice.page.evaluate(() => window.anonFrames);
    await waitFor(async () => (await anonymous()).some((f) => f.op === 'hello'), { what: 'the anonymous socket' });
  });

  after(async () => {
    await env?.stop();
  });

  it('exports each user\'s mode and filter to the page', async () => {
    const cfg = (b) => b.page.evaluate(() => {
      const c = mw.config.get('wgRealTimeNotify');
      return [c.mode, c.filter];
    });
    assert.deepEqual(await cfg(alice), ['all', null]);
    assert.deepEqual(await cfg(carol), ['watchlist', { addressed: true }]);
    assert.deepEqual(await cfg(patty), ['alerts', { types: ['alert', 'handled'] }]);
  });

  it('watchlist mode: Carol gets Bob\'s edit of the page she watches, Dave does not', async () => {
    const start = Date.now();
    await bob.edit('Watched page', 'Bob was here.', 'edit of a watched page');
    const text = await waitForNotice(carol.page, 'Bob edited Watched page', 3000);
    assert.ok(text.includes('edit of a watched page'), text);
    assert.ok(Date.now() - start < 3000);
    await waitForNotice(alice.page, 'Bob edited Watched page', 3000); // mode all: everything
    await sleep(QUIET_MS);
    assert.deepEqual(await notices(dave.page), [], 'Dave does not watch the page');
    assert.deepEqual(await notices(patty.page), [], 'Patty wants alerts only');

    // Dave does get what is addressed to him: a message on his talk page. Carol does not.
    await sleep(1200); // not in the same burst as the previous notice in Alice's browser
    await bob.edit('User talk:Dave', 'Hello Dave!', 'a message for Dave');
    await waitForNotice(dave.page, 'Bob created User talk:Dave', 3000);
    await waitForNotice(alice.page, 'Bob created User talk:Dave', 3000);
    await sleep(QUIET_MS);
    assert.equal((await notices(carol.page)).filter((t) => t.includes('User talk:Dave')).length, 0);
    assert.equal((await notices(dave.page)).length, 1, 'Dave: only his talk page');
    assert.equal((await notices(carol.page)).length, 1, 'Carol: only her watched page');
  });

  it('patrol alert: Patty gets a distinct blanking alert; Alice gets the edit but no alert', async () => {
    await sleep(1200); // a new burst in Alice's browser
    const result = await bob.edit('Blank me', '', 'blanked it');
    assert.equal(result.result, 'Success');

    const alert = patty.page.locator('.mw-notification.ext-realtimenotify-alert');
    await waitFor(async () => (await alert.count()) === 1, { timeout: 3000, what: 'Patty\'s alert' });
    const text = await alert.innerText();
    assert.match(text, /^Patrol alert\n/, text);
    assert.ok(text.includes('Page blanked'), text);
    assert.ok(text.includes('Edit of Blank me by Bob may need checking'), text);
    assert.ok(text.includes('blanked it'), text);
    assert.equal(await alert.evaluate((el) => el.classList.contains('mw-notification-type-warn')), true);
    assert.equal(await alert.locator('.ext-realtimenotify-reason').getAttribute('data-reason'), 'blanking');
    const href = await alert.locator('a.ext-realtimenotify-page').getAttribute('href');
    assert.match(href, new RegExp(`[?&]diff=${result.newrevid}&oldid=${result.oldrevid}$`));
    await alert.and(patty.page.locator('.mw-notification-visible')).waitFor();
    await sleep(600); // let the fade-in finish
    mkdirSync(ARTIFACTS, { recursive: true });
    await alert.screenshot({ path: join(ARTIFACTS, 'alert.png') });

    // Alice (no patrol right) gets the ordinary edit, and no alert: the gateway never sent her one.
    await waitForNotice(alice.page, 'Bob edited Blank me', 3000);
    await sleep(QUIET_MS);
    assert.equal(await alice.page.locator('.ext-realtimenotify-alert').count(), 0);
    assert.equal(aliceFrames.filter((f) => f.type === 'alert').length, 0, 'no alert frame reached Alice');
    assert.ok(aliceFrames.some((f) => f.type === 'edit' && f.page_title === 'Blank me'));
    // Neither did the anonymous socket, which did get the edits; no audience ever leaks.
    const anon = await anonymous();
    assert.ok(anon.some((f) => f.type === 'edit' && f.page_title === 'Blank me'), JSON.stringify(anon));
    assert.equal(anon.filter((f) => f.type === 'alert').length, 0);
    assert.equal([...anon, ...aliceFrames].filter((f) => 'audience' in f).length, 0);
    // Patty saw the alert only: none of the ordinary changes.
    assert.deepEqual((await notices(patty.page)).length, 1);
    // Carol and Dave watch neither the page nor patrol.
    assert.equal((await notices(carol.page)).length, 1);
    assert.equal((await notices(dave.page)).length, 1);
  });

  it('alerts are never merged into a burst, and show as text only', async () => {
    await sleep(1200);
    const now = new Date().toISOString();
    // An alert between two changes, all within a second (straight into Redis, no audience:
    // everyone gets it). Unknown reason codes get a generic headline.
    await publish(env, { page_title: 'Burst one', user_name: 'Eve', timestamp: now, summary: 'one' });
    await publish(env, {
      type: 'alert', page_title: 'Alerted <b>page</b>', user_name: '<img src=x onerror=alert(1)>',
      timestamp: now, summary: 'look', reasons: ['large_removal', 'sneaky_thing'],
    });
    await publish(env, { page_title: 'Burst two', user_name: 'Eve', timestamp: now, summary: 'two' });
    const burst = await waitForNotice(alice.page, '2 changes just now', 3000);
    assert.ok(burst.includes('Burst one') && burst.includes('Burst two') && !burst.includes('Alerted'), burst);
    const alert = alice.page.locator('.mw-notification.ext-realtimenotify-alert');
    await waitFor(async () => (await alert.count()) === 1, { timeout: 3000, what: 'Alice\'s alert' });
    const text = await alert.innerText();
    assert.ok(text.includes('Large removal of content'), text);
    assert.ok(text.includes('Needs checking (sneaky_thing)'), text);
    assert.ok(text.includes('Edit of Alerted <b>page</b> by <img src=x onerror=alert(1)> may need checking'), text);
    assert.equal(await alert.locator('img, b').count(), 0);
    assert.deepEqual(alice.dialogs, []);
  });

  it('watchlist resume: between two page views Carol misses nothing she watches, and gets nothing else', async (t) => {
    await sleep(1200); // a new burst in Alice's browser
    // Every frame of Carol's next page, from its first one.
    const frames = [];
    carol.page.on('websocket', (ws) => ws.on('framereceived', (f) => {
      try { frames.push({ ...JSON.parse(String(f.payload)), socket: ws.url() }); } catch { /* not JSON */ }
    }));
    const since = (await carol.page.evaluate(() => mw.realtimenotify.state())).resumeId;
    assert.ok(since, 'Carol\'s page has a resume point');
    const socketsBefore = carol.sockets.length;
    await carol.page.goto('about:blank'); // no page of the wiki open: no socket
    const away = Date.now();

    // Bob edits the page Carol watches and one she does not; Alice (mode all) sees both, so both
    // have reached the gateway.
    await bob.edit('Watched page', 'Bob again, while Carol was away.', 'watched, while Carol was away');
    await bob.edit('Unwatched page', 'Nobody watches this.', 'unwatched, while Carol was away');
    const missed = (title) => aliceFrames.find((f) => f.op === 'event' && f.page_title === title &&
      f.summary.endsWith('while Carol was away'));
    await waitFor(() => missed('Watched page') && missed('Unwatched page'),
      { timeout: 3000, what: 'both edits to reach Alice\'s browser' });
    const [watchedId, unwatchedId] = [missed('Watched page').id, missed('Unwatched page').id];
    // Both are after Carol's resume point: the replay covers them.
    assert.ok(compareIds(watchedId, since) > 0 && compareIds(unwatchedId, since) > 0);

    // Carol opens a page of the wiki again (well within the resume point's 60 s).
    await carol.page.goto(`${env.wiki}/index.php?title=Main_Page`);
    t.diagnostic(`Carol was away ${Date.now() - away} ms`);
    const socket = await waitFor(() => carol.sockets.slice(socketsBefore).find((s) => s.url.includes('/v1/ws')),
      { what: 'Carol\'s new socket' });
    const query = new URL(socket.url).searchParams;
    assert.equal(query.get('since'), since);
    assert.deepEqual(JSON.parse(query.get('filter')), { addressed: true });

    const text = await waitForNotice(carol.page, 'Bob edited Watched page', 5000);
    assert.ok(text.includes('watched, while Carol was away'), text);
    await waitFor(() => frames.some((f) => f.op === 'resumed'), { what: 'the end of the replay' });
    await sleep(QUIET_MS);
    assert.deepEqual(await notices(carol.page), [text], 'Carol: only the page she watches');
    // The gateway filtered the replay: the unwatched change never reached her browser at all.
    const events = frames.filter((f) => f.op === 'event');
    assert.deepEqual(events.map((f) => f.id), [watchedId], JSON.stringify(events));
    assert.ok(frames.every((f) => f.socket === socket.url));
    assert.equal((await carol.page.evaluate(() => mw.realtimenotify.state())).resumeId, watchedId);
  });
});
