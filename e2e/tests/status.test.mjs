// Special:RealTimeNotifyStatus (issue 15 §1) on a real wiki, gateway and browser: a sysop sees the
// gateway ready, its source, and the connected browsers; the test button's event goes the real
// way (the wiki's API publishes to Redis, the gateway delivers it to the page's own socket) and
// its round trip is shown. A user without the right is refused; a stranger asking the gateway
// directly gets 401 and nothing else. Runs on one MediaWiki version only: nothing here depends on
// it that other tests do not cover.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import {
  ARTIFACTS, MW_VERSION, join, startEnv, launchBrowser, loginInBrowser, waitFor,
} from '../lib/env.mjs';

const SECRET = 'e2e-status-secret-0123456789-abcdefghijklmnopq';
const PAGE = 'Special:RealTimeNotifyStatus';

describe('the status page', { skip: MW_VERSION !== '1.39' && 'runs on 1.39 only' }, () => {
  let env, admin;

  before(async () => {
    env = await startEnv('status', {
      extraPhp: `$wgRealTimeNotifySecret = '${SECRET}';`,
      gatewayArgs: ['--token-secrets', SECRET, '--wiki-id', 'testwiki'],
    });
    admin = await loginInBrowser(env, await launchBrowser(env), 'Admin');
  });

  after(async () => {
    await env?.stop();
  });

  it('a stranger asking the gateway gets 401 and nothing else', async () => {
    const res = await fetch(`http://127.0.0.1:${env.gatewayPort}/v1/status`);
    assert.equal(res.status, 401);
    assert.equal(await res.text(), '');
  });

  it('a sysop sees the gateway ready, its source and the connected browsers', async () => {
    await admin.goto(`${env.wiki}/index.php?title=${PAGE}`);
    const cell = (field) => admin.locator(`.rtn-status [data-rtn-field="${field}"]`);
    assert.equal(await cell('ready').innerText(), 'Ready');
    assert.equal(await cell('source').innerText(), 'redis (connected)');
    assert.equal(await cell('error').innerText(), '');
    // The page's own socket (for the test) is a connected browser; the refresh shows it.
    await waitFor(async () => (await admin.getAttribute('.rtn-status', 'data-rtn-socket')) === 'open',
      { what: 'the page\'s socket' });
    await waitFor(async () => Number(await cell('clients').innerText()) >= 1,
      { timeout: 15000, what: 'a connected browser in the refreshed numbers' });
  });

  it('the test button shows the round trip of an event through wiki, Redis and gateway', async () => {
    const button = admin.locator('.rtn-status-test');
    await waitFor(() => button.isEnabled(), { what: 'the test button' });
    await button.click();
    const result = admin.locator('.rtn-status-test-result');
    await waitFor(async () => /arrived after/.test(await result.innerText()), { timeout: 10000, what: 'the round trip' });
    const ms = Number(await admin.getAttribute('.rtn-status', 'data-rtn-roundtrip'));
    assert.ok(ms > 0 && ms < 10000, `round trip ${ms} ms`);
    // The refresh after the round trip counts the test event, received and delivered once (only
    // this page's socket may see it); the chart needs three samples, 10 s apart.
    const cell = (field) => admin.locator(`.rtn-status [data-rtn-field="${field}"]`);
    await waitFor(async () => /^1 in the last/.test(await cell('events_received').innerText()),
      { timeout: 15000, interval: 250, what: 'the test event in the refreshed numbers' });
    assert.match(await cell('events_delivered').innerText(), /^1 in the last/);
    assert.match(await cell('last_event_age_seconds').innerText(), /s ago$/);
    assert.match(await cell('latency').innerText(), /^[\d.]+ ms \/ [\d.]+ ms$/);
    // The series has a point per finished 10 s interval since the gateway started and the page
    // refreshes every 10 s: up to ~30 s from a fresh gateway before the chart can be drawn.
    await waitFor(async () => (await admin.locator('.rtn-status-chart svg').count()) === 1,
      { timeout: 40000, interval: 500, what: 'the chart' });
    mkdirSync(ARTIFACTS, { recursive: true });
    await admin.locator('.rtn-status').screenshot({ path: join(ARTIFACTS, 'status-page.png') });
  });

  it('a user without the right is refused', async () => {
    const alice = await loginInBrowser(env, await launchBrowser(env), 'Alice');
    await alice.goto(`${env.wiki}/index.php?title=${PAGE}`);
    assert.match(await alice.locator('#firstHeading').innerText(), /Permission error/);
    assert.equal(await alice.locator('.rtn-status').count(), 0, 'no numbers');
    const denied = await alice.evaluate(() => new mw.Api().postWithToken('csrf', { action: 'realtimenotifystatus' })
      .then(() => 'allowed', (code) => code));
    assert.equal(denied, 'permissiondenied');
  });
});
