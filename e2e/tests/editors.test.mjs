// Issue 12, the editors' experience, on a real wiki: popups as rich as Special:RecentChanges
// (summaries with sections and links, user links, size, markers, time), acting from a patrol
// alert (mark as patrolled, rollback) and seeing others do it (`handled` events), messages in
// the user's language (uselang=de, GENDER in Polish), the gadget hook in every tab, and popups
// that screen readers announce and the keyboard dismisses. Screenshots go to e2e/artifacts/.
//   Alice: mode all        Patty: patroller, mode alerts        Admin: sysop (patrol, rollback)
//   Bob: makes the changes
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import {
  ARTIFACTS, join, startEnv, openAs, launchBrowser, loginInBrowser, waitSubscribed, waitForNotice, notices,
  clearNotices, sleep, waitFor, publish,
} from '../lib/env.mjs';
import { MwApi } from '../lib/mwapi.mjs';

const SECRET = 'e2e-editors-secret-0123456789-abcdefghijklmno';

/** Sets preferences of the API's user (action=options). */
async function setOptions(api, change) {
  const r = await api.request({ action: 'options', change, token: await api.token('csrf') }, { post: true });
  assert.equal(r.options, 'success', JSON.stringify(r));
}

/** A screenshot of one popup, once it has faded in. */
async function shoot(page, locator, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await locator.and(page.locator('.mw-notification-visible')).first().waitFor();
  await sleep(600);
  await locator.first().screenshot({ path: join(ARTIFACTS, name) });
}

/** A URL path of the wiki's page `title` (with or without a pretty article path). */
const pageUrl = (title) => new RegExp(`(title=|/index\\.php/)${title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);

/** The popup that contains `needle`. */
const popup = (page, needle) => page.locator('.mw-notification.ext-realtimenotify-notice:not(.mw-notification-replaced)',
  { hasText: needle });

describe('editors\' experience', () => {
  let env, bob, admin, alice, patty, boss;

  before(async () => {
    env = await startEnv('editors', {
      extraPhp: `$wgRealTimeNotifySecret = '${SECRET}';`,
      gatewayArgs: ['--token-secrets', SECRET, '--wiki-id', 'testwiki'],
    });
    admin = await new MwApi(env.wiki).login('Admin');
    // Admin wants alerts too (a patroller and rollbacker), and says she is a woman ({{GENDER}}).
    await setOptions(admin, 'realtimenotify-enable=1|realtimenotify-mode=alerts|gender=female');
    for (const p of ['Getting started', 'Kleine Seite', 'Strona']) {
      await admin.edit(p, `Text of ${p}. `.repeat(20), 'setup');
    }
    for (const p of ['Blank one', 'Blank two']) {
      await admin.edit(p, 'Some content that Bob will remove. '.repeat(40), 'setup');
    }
    bob = await new MwApi(env.wiki).login('Bob');
    [alice, patty, boss] = await Promise.all([openAs(env, 'Alice'), openAs(env, 'Patty'), openAs(env, 'Admin')]);
    await Promise.all([alice, patty, boss].map((b) => waitSubscribed(b.page)));
  });

  after(async () => {
    await env?.stop();
  });

  it('a summary as MediaWiki shows it, with who, when and how much', async () => {
    const summary = '/* Intro */ fixed a [[Typo|typo]] per [[User talk:Alice]] and [[javascript:alert(1)|click]] <b>x</b>';
    const r = await bob.request({
      action: 'edit', title: 'Getting started', text: 'Shorter.', summary, minor: 1, token: await bob.token('csrf'),
    }, { post: true });
    assert.equal(r.edit?.result, 'Success', JSON.stringify(r));
    const text = await waitForNotice(alice.page, 'Bob edited Getting started', 3000);
    assert.ok(text.includes('→Intro: fixed a typo per User talk:Alice and [[javascript:alert(1)|click]] <b>x</b>'), text);
    const n = popup(alice.page, 'Bob edited Getting started');
    const links = await n.locator('a').evaluateAll((as) => as.map((a) => [a.className, a.textContent, a.getAttribute('href')]));
    const href = (needle) => links.find((l) => l[1] === needle)?.[2];
    assert.match(href('Bob'), pageUrl('User:Bob'), JSON.stringify(links));
    assert.equal(links.find((l) => l[1] === 'Bob')[0], 'mw-userlink');
    assert.match(href('talk'), pageUrl('User_talk:Bob'));
    assert.match(href('contribs'), pageUrl('Special:Contributions/Bob'));
    assert.match(href('→Intro'), pageUrl('Getting_started#Intro'));
    assert.match(href('typo'), pageUrl('Typo'));
    assert.match(href('User talk:Alice'), pageUrl('User_talk:Alice'));
    assert.match(href('Getting started'), new RegExp(`diff=${r.edit.newrevid}&oldid=${r.edit.oldrevid}$`));
    assert.equal(links.filter((l) => /^javascript:/i.test(l[2] || '')).length, 0);
    assert.equal(await n.locator('b, script, img').count(), 0);
    // Size as RecentChanges styles it, the minor marker, and a relative time.
    const size = n.locator('.ext-realtimenotify-size');
    assert.equal(await size.getAttribute('class'), 'mw-plusminus-neg mw-diff-bytes ext-realtimenotify-size');
    assert.match(await size.innerText(), /^−\d+$/);
    assert.match(await size.getAttribute('title'), /^\d+ bytes removed$/);
    assert.equal(await n.locator('abbr.minoredit').innerText(), 'm');
    assert.equal(await n.locator('abbr.minoredit').getAttribute('title'), 'This is a minor edit');
    assert.match(await n.locator('time.ext-realtimenotify-time').innerText(), /^(now|\d+ seconds? ago)$/);
    await shoot(alice.page, n, 'rich-notice.png');
  });

  it('a logged-out editor: the IP links to its contributions; a creation shows N', async () => {
    await sleep(1200);
    const anon = new MwApi(env.wiki);
    const r = await anon.request({ action: 'edit', title: 'Anonymous page', text: 'Hello from an IP.', summary: 'new',
      token: '+\\' }, { post: true });
    assert.equal(r.edit?.result, 'Success', JSON.stringify(r));
    const n = popup(alice.page, 'Anonymous page');
    await waitFor(async () => (await n.count()) === 1, { timeout: 3000, what: 'the anonymous creation' });
    const user = n.locator('a.mw-userlink');
    assert.equal(await user.getAttribute('class'), 'mw-userlink mw-anonuserlink');
    assert.match(await user.getAttribute('href'), pageUrl('Special:Contributions/127.0.0.1'));
    assert.equal(await n.locator('.ext-realtimenotify-contribs').count(), 0, 'the IP link is its contributions already');
    assert.equal(await n.locator('abbr.newpage').innerText(), 'N');
    assert.equal(await n.locator('.mw-plusminus-pos').innerText(), '+17');
    await shoot(alice.page, n, 'notice-ip.png');
  });

  it('screen readers hear each popup; the keyboard dismisses it', async () => {
    await sleep(1200);
    await clearNotices(alice.page);
    await bob.edit('Kleine Seite', 'Keyboard one.', 'keyboard one');
    await waitForNotice(alice.page, 'keyboard one', 3000);
    const live = await alice.page.$$eval('.ext-realtimenotify-live', (els) => els.map((e) => [e.getAttribute('aria-live'), e.innerText]));
    assert.deepEqual(live.map((l) => l[0]), ['polite', 'assertive']);
    assert.match(live[0][1], /Live change: Bob edited Kleine Seite .*keyboard one/);
    // The dismiss button is a real button with a name; Enter on it closes the popup.
    const close = popup(alice.page, 'keyboard one').locator('button.ext-realtimenotify-close');
    assert.equal(await close.getAttribute('aria-label'), 'Dismiss');
    await close.focus();
    await alice.page.keyboard.press('Enter');
    await waitFor(async () => !(await notices(alice.page)).some((t) => t.includes('keyboard one')), { what: 'closed by Enter' });

    await sleep(1200);
    await bob.edit('Kleine Seite', 'Keyboard two.', 'keyboard two');
    await waitForNotice(alice.page, 'keyboard two', 3000);
    await popup(alice.page, 'keyboard two').locator('a.ext-realtimenotify-page').focus();
    await alice.page.keyboard.press('Escape');
    await waitFor(async () => !(await notices(alice.page)).some((t) => t.includes('keyboard two')), { what: 'closed by Escape' });
  });

  it('uselang=de: the popup speaks German, with PLURAL', async () => {
    await sleep(1200);
    await alice.page.goto(`${env.wiki}/index.php?title=Main_Page&uselang=de`);
    await waitSubscribed(alice.page);
    await bob.edit('Kleine Seite', 'Auf Deutsch, bitte.', 'deutsch');
    const text = await waitForNotice(alice.page, 'Bob hat Kleine Seite bearbeitet', 3000);
    assert.match(text, /^Live-Änderung\n/, text);
    const n = popup(alice.page, 'Bob hat Kleine Seite bearbeitet');
    assert.equal(await n.locator('.ext-realtimenotify-size').getAttribute('title'), '6 Bytes hinzugefügt');
    assert.equal(await n.locator('.ext-realtimenotify-talk').innerText(), 'Diskussion');
    assert.equal(await n.locator('.ext-realtimenotify-contribs').innerText(), 'Beiträge');
    assert.match(await n.locator('time').innerText(), /^(jetzt|vor \d+ Sekunden?)$/);
    assert.equal(await n.locator('.ext-realtimenotify-close').getAttribute('aria-label'), 'Schließen');
    await shoot(alice.page, n, 'notice-de.png');

    // A burst, straight into Redis so that it comes within a second: PLURAL.
    await sleep(1200);
    const now = new Date().toISOString();
    for (const i of [1, 2, 3]) {
      await publish(env, { page_title: `Serie ${i}`, user_name: 'Carol', timestamp: now, summary: `serie ${i}`, size_delta: i });
    }
    await waitForNotice(alice.page, '3 Änderungen gerade eben', 3000);
    await shoot(alice.page, popup(alice.page, '3 Änderungen gerade eben'), 'burst-de.png');
  });

  it('uselang=pl: GENDER follows the editor (Admin is a woman)', async () => {
    await sleep(1200);
    await alice.page.goto(`${env.wiki}/index.php?title=Main_Page&uselang=pl`);
    await waitSubscribed(alice.page);
    await admin.edit('Strona', 'Po polsku.', 'po polsku');
    await waitForNotice(alice.page, 'Admin edytowała Strona', 3000);
    await shoot(alice.page, popup(alice.page, 'Admin edytowała'), 'notice-pl-gender.png');
    // Bob set no gender: the neutral form.
    await sleep(1200);
    await bob.edit('Strona', 'Znowu po polsku.', 'znowu');
    await waitForNotice(alice.page, 'Bob edytował(a) Strona', 3000);
    // Polish has three plural forms: 2 zmiany, 5 zmian.
    for (const n of [2, 5]) {
      await sleep(1200);
      const now = new Date().toISOString();
      for (let i = 1; i <= n; i++) {
        await publish(env, { page_title: `Seria ${n}.${i}`, user_name: 'Carol', timestamp: now, summary: '' });
      }
      await waitForNotice(alice.page, `${n} ${n === 2 ? 'zmiany' : 'zmian'} przed chwilą`, 3000);
    }
    await alice.page.goto(`${env.wiki}/index.php?title=Main_Page`);
    await waitSubscribed(alice.page);
  });

  it('act from the alert: Patty patrols, and Admin\'s open alert says so', async () => {
    const r = await bob.edit('Blank one', '', 'blanked it');
    const pattyAlert = popup(patty.page, 'Blank one');
    const bossAlert = popup(boss.page, 'Blank one');
    await waitFor(async () => (await pattyAlert.count()) === 1 && (await bossAlert.count()) === 1,
      { timeout: 3000, what: 'both alerts' });
    // Patty patrols (no rollback right); Admin may do both; both get the diff.
    assert.equal(await pattyAlert.locator('button.ext-realtimenotify-patrol').count(), 1);
    assert.equal(await pattyAlert.locator('button.ext-realtimenotify-rollback').count(), 0);
    assert.equal(await bossAlert.locator('button.ext-realtimenotify-rollback').count(), 1);
    assert.match(await pattyAlert.locator('a.ext-realtimenotify-diff').getAttribute('href'), new RegExp(`diff=${r.newrevid}`));
    await shoot(patty.page, pattyAlert, 'alert-actions.png');

    await pattyAlert.locator('button.ext-realtimenotify-patrol').click();
    await waitFor(async () => (await pattyAlert.locator('.ext-realtimenotify-status').innerText()) === 'Marked as patrolled.',
      { timeout: 5000, what: 'the patrol result' });
    assert.equal(await pattyAlert.count(), 1, 'the click did not close the popup');
    // The wiki agrees: the revision is patrolled.
    const rc = await admin.request({ action: 'query', list: 'recentchanges', rctitle: 'Blank one', rcprop: 'ids|patrolled', rctype: 'edit' });
    assert.equal(rc.query.recentchanges.find((c) => c.revid === r.newrevid)?.patrolled, true, JSON.stringify(rc));
    // Admin's alert, open in another browser, says who did it.
    await waitFor(async () => (await bossAlert.locator('.ext-realtimenotify-handled').count()) === 1,
      { timeout: 3000, what: 'Admin\'s alert to say it was patrolled' });
    assert.equal(await bossAlert.locator('.ext-realtimenotify-handled').innerText(), 'Patty marked this edit as patrolled.');
    assert.equal(await bossAlert.locator('.ext-realtimenotify-actions button').count(), 0, 'no actions left');
    assert.equal(await bossAlert.locator('a.ext-realtimenotify-diff').count(), 1, 'the diff stays');
    await shoot(boss.page, bossAlert, 'alert-handled-patrolled.png');
  });

  it('rollback behind a confirmation; Patty\'s open alert says it was reverted', async () => {
    await clearNotices(patty.page);
    await clearNotices(boss.page);
    const r = await bob.edit('Blank two', '', 'blanked again');
    const pattyAlert = popup(patty.page, 'Blank two');
    const bossAlert = popup(boss.page, 'Blank two');
    await waitFor(async () => (await pattyAlert.count()) === 1 && (await bossAlert.count()) === 1,
      { timeout: 3000, what: 'both alerts' });
    await bossAlert.locator('button.ext-realtimenotify-rollback').click();
    // Nothing happens before the confirmation.
    const confirm = bossAlert.locator('.ext-realtimenotify-confirm');
    assert.equal(await confirm.locator('span').innerText(), 'Roll back the latest edits of Bob on Blank two?');
    await shoot(boss.page, bossAlert, 'alert-rollback-confirm.png');
    const pending = await admin.request({ action: 'query', prop: 'revisions', titles: 'Blank two', rvprop: 'ids' });
    assert.equal(pending.query.pages[0].revisions[0].revid, r.newrevid, 'not rolled back yet');
    await confirm.locator('button.ext-realtimenotify-rollback-yes').click();
    await waitFor(async () => (await bossAlert.locator('.ext-realtimenotify-status').innerText()) === 'Rolled back.',
      { timeout: 5000, what: 'the rollback result' });
    const done = await admin.request({ action: 'query', prop: 'revisions', titles: 'Blank two', rvprop: 'ids|user|size' });
    const latest = done.query.pages[0].revisions[0];
    assert.equal(latest.user, 'Admin');
    assert.ok(latest.size > 0, 'content is back');
    await waitFor(async () => (await pattyAlert.locator('.ext-realtimenotify-handled').count()) === 1,
      { timeout: 3000, what: 'Patty\'s alert to say it was reverted' });
    assert.equal(await pattyAlert.locator('.ext-realtimenotify-handled').innerText(), 'Admin reverted this edit.');
    assert.equal(await pattyAlert.locator('button.ext-realtimenotify-patrol').count(), 0);
    // Admin's own alert says it once (her click), not twice.
    await sleep(500);
    assert.equal(await bossAlert.locator('.ext-realtimenotify-handled').count(), 0);
    await shoot(patty.page, pattyAlert, 'alert-handled-reverted.png');
  });

  it('the gadget hook fires once per event in every tab, with the documented fields', async () => {
    const context = await launchBrowser(env);
    const first = await loginInBrowser(env, context, 'Alice');
    const second = await context.newPage();
    await second.goto(`${env.wiki}/index.php?title=Tab_two`);
    const tabs = [first, second];
    for (const p of tabs) {
      await waitFor(() => p.evaluate(() => !!(window.mw && mw.realtimenotify && mw.realtimenotify.state)), { what: 'the module' });
      await p.evaluate(() => {
        window.gadgetSaw = [];
        mw.hook('ext.realtimenotify.event').add((e) => window.gadgetSaw.push(e));
      });
    }
    await waitFor(async () => (await Promise.all(tabs.map((p) => p.evaluate(() => mw.realtimenotify.state()))))
      .some((s) => s.role === 'leader' && s.connection === 'open'), { what: 'a connected leader' });
    const r = await bob.edit('Hook page', 'For gadgets.', 'hooked');
    for (const p of tabs) {
      await waitFor(() => p.evaluate(() => window.gadgetSaw.some((x) => x.page_title === 'Hook page')),
        { timeout: 3000, what: 'the hook in each tab' });
    }
    await sleep(1000);
    for (const p of tabs) {
      const saw = (await p.evaluate(() => window.gadgetSaw)).filter((x) => x.page_title === 'Hook page');
      assert.equal(saw.length, 1, 'once per tab');
      const e = saw[0];
      assert.equal(e.type, 'create');
      assert.equal(e.user_name, 'Bob');
      assert.equal(e.rev_id, r.newrevid);
      assert.equal(e.summary, 'hooked');
      assert.equal(e.wiki, 'testwiki');
      assert.match(e.id, /^\d+-\d+$/);
      assert.match(e.timestamp, /^\d{4}-\d\d-\d\dT/);
      assert.ok(!('op' in e) && !('audience' in e), JSON.stringify(e));
    }
    const roles = (await Promise.all(tabs.map((p) => p.evaluate(() => mw.realtimenotify.state().role)))).sort();
    assert.deepEqual(roles, ['follower', 'leader'], 'one tab got it through the leader');
    await first.screenshot({ path: join(ARTIFACTS, 'hook-tab.png') });
    await context.close();
  });
});
