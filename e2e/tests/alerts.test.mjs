// Patrol alerts that persist (issue 17, section 3), without Echo: the extension keeps each alert
// in its own table until someone handles it. Patty is offline while Bob blanks a page; Pat2,
// another patroller, has the wiki open and gets the live alert. Patty signs in later and finds
// the alert waiting on Special:PatrolAlerts; she marks it handled (which patrols the edit); Pat2's
// open popup changes to say that Patty did, without a reload, and the list no longer shows it.
// Version-independent (the table and the special page are the extension's own): runs on 1.39
// only, per the suite's budget.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import {
  ARTIFACTS, MW_VERSION, USERS, join, startEnv, openAs, waitSubscribed, waitFor, launchBrowser, loginInBrowser, sleep,
} from '../lib/env.mjs';
import { MwApi } from '../lib/mwapi.mjs';

const SECRET = 'e2e-alerts-secret-0123456789-abcdefghijklmnop';

describe('patrol alerts that persist (no Echo)', { skip: MW_VERSION !== '1.39' && 'runs on 1.39 only (version-independent)' }, () => {
  let env, bob, pat2;

  before(async () => {
    env = await startEnv('alerts', {
      update: true,
      extraPhp: `$wgRealTimeNotifySecret = '${SECRET}';`,
      gatewayArgs: ['--token-secrets', SECRET, '--wiki-id', 'testwiki'],
    });
    // Pat2: a second patroller, live notifications on, patrol alerts only.
    await env.maint('createAndPromote.php', '--custom-groups', 'patroller', 'Pat2', USERS.Pat2);
    const pat2Api = await new MwApi(env.wiki).login('Pat2');
    const set = await pat2Api.request({
      action: 'options', change: 'realtimenotify-enable=1|realtimenotify-mode=alerts', token: await pat2Api.token('csrf'),
    }, { post: true });
    assert.equal(set.options, 'success', JSON.stringify(set));
    const admin = await new MwApi(env.wiki).login('Admin');
    await admin.edit('Blank me later', 'Some content that Bob will remove. '.repeat(40), 'setup');
    bob = await new MwApi(env.wiki).login('Bob');
    pat2 = await openAs(env, 'Pat2', 'Main_Page');
    await waitSubscribed(pat2.page);
  });

  after(async () => {
    await env?.stop();
  });

  it('Patty, offline while Bob blanks a page, finds the alert waiting, marks it handled; Pat2\'s popup says so live', async () => {
    const result = await bob.edit('Blank me later', '', 'gone');
    assert.equal(result.result, 'Success');

    // Pat2 is online: the live alert.
    const alert = pat2.page.locator('.mw-notification.ext-realtimenotify-alert');
    await waitFor(async () => (await alert.count()) === 1, { timeout: 3000, what: 'Pat2\'s live alert' });
    assert.ok((await alert.innerText()).includes('Page blanked'));
    await pat2.page.evaluate(() => { window.notReloaded = true; });

    // Patty signs in afterwards: the alert waits for her on Special:PatrolAlerts.
    const context = await launchBrowser(env);
    const patty = await loginInBrowser(env, context, 'Patty');
    await patty.goto(`${env.wiki}/index.php?title=Special:PatrolAlerts`);
    const item = patty.locator(`.ext-realtimenotify-alertlist-item[data-rev-id="${result.newrevid}"]`);
    assert.equal(await item.count(), 1, await patty.locator('#mw-content-text').innerText());
    const text = await item.innerText();
    assert.ok(text.includes('Page blanked'), text);
    assert.ok(text.includes('Edit of Blank me later by Bob'), text);
    mkdirSync(ARTIFACTS, { recursive: true });
    await patty.screenshot({ path: join(ARTIFACTS, 'patrol-alerts.png') });

    // She marks it handled (the edit gets patrolled); Pat2's open popup says so, no reload.
    await Promise.all([patty.waitForNavigation(), item.locator('button.ext-realtimenotify-alertlist-handle').click()]);
    const handled = alert.locator('.ext-realtimenotify-handled');
    await waitFor(async () => (await handled.count()) === 1, { timeout: 3000, what: 'Pat2\'s alert to say it was handled' });
    const line = await handled.innerText();
    assert.match(line, /Patty/, line);
    assert.match(line, /patrolled/, line);
    assert.equal(await pat2.page.evaluate(() => window.notReloaded), true);
    // The actions are gone from the handled alert.
    assert.equal(await alert.locator('.ext-realtimenotify-actions button').count(), 0);

    // The list no longer shows it; the edit is patrolled.
    assert.equal(await patty.locator(`.ext-realtimenotify-alertlist-item[data-rev-id="${result.newrevid}"]`).count(), 0);
    // Patrol flags are for those who may patrol: Admin reads them.
    const admin = await new MwApi(env.wiki).login('Admin');
    const flags = await admin.request({
      action: 'query', list: 'recentchanges', rcprop: 'ids|patrolled', rctitle: 'Blank me later', rclimit: 1,
    });
    assert.equal(flags.query.recentchanges[0].revid, result.newrevid);
    assert.equal(flags.query.recentchanges[0].patrolled, true, JSON.stringify(flags));
  });

  it('Pat2\'s open list updates live when someone else handles an alert', async () => {
    await sleep(200);
    const result = await bob.edit('Blank me later', 'Some new content. '.repeat(60), 'refill');
    assert.equal(result.result, 'Success');
    const again = await bob.edit('Blank me later', '', 'gone again');
    await pat2.page.goto(`${env.wiki}/index.php?title=Special:PatrolAlerts`);
    await waitSubscribed(pat2.page);
    const item = pat2.page.locator(`.ext-realtimenotify-alertlist-item[data-rev-id="${again.newrevid}"]`);
    assert.equal(await item.count(), 1);
    // Patty patrols it through the API (as from a diff page).
    const patty = await new MwApi(env.wiki).login('Patty');
    const rc = await patty.request({ action: 'query', list: 'recentchanges', rcprop: 'ids', rctitle: 'Blank me later', rclimit: 1 });
    const patrolled = await patty.request({
      action: 'patrol', rcid: rc.query.recentchanges[0].rcid, token: await patty.token('patrol'),
    }, { post: true });
    assert.ok(patrolled.patrol, JSON.stringify(patrolled));
    await waitFor(async () => (await item.locator('.ext-realtimenotify-handled').count()) === 1,
      { timeout: 3000, what: 'Pat2\'s list to say the alert was handled' });
    assert.match(await item.innerText(), /Patty marked this edit as patrolled/);
    assert.equal(await item.locator('form').count(), 0);
  });
});
