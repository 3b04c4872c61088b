// Scenario 4: with Redis gone, edits still save; when it is back, notices flow again.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startEnv, startRedis, openAs, waitConnected, waitForNotice, waitFor, sleep,
} from '../lib/env.mjs';
import { MwApi } from '../lib/mwapi.mjs';

describe('Redis outage', () => {
  let env, alice, bob;

  before(async () => {
    env = await startEnv('redisdown');
    bob = await new MwApi(env.wiki).login('Bob');
    alice = await openAs(env, 'Alice', 'Main_Page');
    await waitConnected(alice.page);
  });

  after(async () => {
    await env?.stop();
  });

  it('(4) Bob\'s edit saves while Redis is down', async (t) => {
    await bob.edit('Outage page', 'Before the outage.', 'before');
    await waitForNotice(alice.page, 'before');

    await env.redis.stop('SIGKILL');
    const start = Date.now();
    const result = await bob.edit('Outage page', 'During the outage.', 'during the outage');
    const ms = Date.now() - start;
    t.diagnostic(`edit with Redis down answered in ${ms} ms: ${result.result}`);
    assert.equal(result.result, 'Success');
    assert.ok(result.newrevid > result.oldrevid);
    assert.ok(ms < 3000, `the edit took ${ms} ms`);

    // The text really is saved.
    const check = await bob.request({ action: 'query', prop: 'revisions', titles: 'Outage page', rvprop: 'content', rvslots: 'main' });
    assert.equal(check.query.pages[0].revisions[0].slots.main.content, 'During the outage.');

    // The gateway says it is not ready (no Redis), but keeps Alice connected.
    await waitFor(async () => (await fetch(`http://127.0.0.1:${env.gatewayPort}/readyz`)).status === 503,
      { what: '/readyz 503 without Redis' });
  });

  it('notices flow again once Redis is back', async (t) => {
    env.redis = await startRedis(env.redisPort);
    const start = Date.now();
    await waitFor(async () => (await fetch(`http://127.0.0.1:${env.gatewayPort}/readyz`)).ok,
      { timeout: 40000, interval: 200, what: 'the gateway to resubscribe' });
    t.diagnostic(`gateway ready again ${Date.now() - start} ms after Redis restarted`);
    await sleep(1200);
    await bob.edit('Outage page', 'After the outage.', 'after the outage');
    await waitForNotice(alice.page, 'after the outage', 3000);
  });
});
