// Issue 10 item 16: Redis is down while Bob saves three edits. The saves stay fast; each event
// waits in the wiki's job queue (stock JobQueueDB, jobs run by page views: $wgJobRunRate = 1);
// a job that runs while Redis is still down fails and is kept; once Redis is back the jobs
// publish, and every change pops up exactly once in Alice's open browser.
//
// "Exactly once" does not lean on the gateway's de-duplication by uuid: here a publish either
// fails to connect (nothing sent) or succeeds, and a job that succeeded is deleted, so no
// duplicate can happen. One could where a try reaches Redis but looks failed (a reply lost to
// the read timeout, a runner killed between the publish and marking the job done): the event then
// carries the same uuid again, which is what the gateway's de-duplication is for. The raw
// messages on the channel are checked too (three, three different uuids).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import {
  join, startEnv, startRedis, openAs, waitConnected, waitForNotice, waitFor, sleep, wikiJobs, pageView,
} from '../lib/env.mjs';
import { MwApi } from '../lib/mwapi.mjs';

const TYPE = 'realTimeNotifyPublish';
const RETRY_DELAY = 2; // seconds: the job type's claimTTL on the database queue
const TITLES = [1, 2, 3].map((n) => `Outage retry ${n}`);

/** Every message published on the channel from now on (redis-cli SUBSCRIBE); stop() ends it. */
function subscribe(env) {
  const child = spawn('redis-cli', ['-p', String(env.redisPort), 'SUBSCRIBE', 'mediawiki:notifications']);
  const messages = [];
  let buffer = '';
  child.stdout.on('data', (d) => {
    buffer += d;
    const lines = buffer.split('\n');
    buffer = lines.pop();
    for (const line of lines) if (line.startsWith('{')) messages.push(JSON.parse(line));
  });
  return { messages, stop: () => child.kill() };
}

describe('Redis down at save time: the job queue publishes later, once', () => {
  let env, alice, bob;
  const frames = []; // every event frame Alice's page receives

  before(async () => {
    env = await startEnv('retry', { extraPhp: `$wgRealTimeNotifyRetryDelay = ${RETRY_DELAY};` });
    bob = await new MwApi(env.wiki).login('Bob');
    alice = await openAs(env, 'Alice', 'Main_Page');
    const record = (ws) => ws.on('framereceived', (f) => {
      try {
        const frame = JSON.parse(String(f.payload));
        if (frame.op === 'event') frames.push(frame);
      } catch { /* not JSON */ }
    });
    for (const s of alice.sockets) record(s.ws);
    alice.page.on('websocket', record);
    await waitConnected(alice.page);
  });

  after(async () => {
    await env?.stop();
  });

  it('three edits while Redis is down save fast and wait in the job queue', async (t) => {
    await bob.edit('Outage retry 0', 'Before.', 'before the outage');
    await waitForNotice(alice.page, 'Outage retry 0');
    assert.equal((await wikiJobs(env))[TYPE], undefined, 'a publish that worked queues nothing');

    await env.redis.stop('SIGKILL');
    for (const [i, title] of TITLES.entries()) {
      const start = Date.now();
      const result = await bob.edit(title, `Saved while Redis was down (${i + 1}).`, `down ${i + 1}`);
      const ms = Date.now() - start;
      t.diagnostic(`edit ${i + 1} with Redis down answered in ${ms} ms`);
      assert.equal(result.result, 'Success');
      assert.ok(ms < 3000, `the edit took ${ms} ms`);
    }
    // The publish happens after the response: wait for the three jobs.
    const jobs = await waitFor(async () => {
      const j = (await wikiJobs(env))[TYPE];
      return j && j.queued + j.claimed === 3 && j;
    }, { timeout: 10000, what: 'three retry jobs' });
    t.diagnostic(`queue: ${JSON.stringify(jobs)}`);

    // Page views run jobs (one each, of any type: the edits queued others too). Redis is still
    // down, so a retry fails, and the queue keeps the job (claimed).
    const log = join(env.wikiDir, 'realtimenotify.log');
    await waitFor(async () => {
      await pageView(env);
      return /Retry of the \w+ event for "Outage retry \d" \(.+\) via redis failed again/.test(readFileSync(log, 'utf8'));
    }, { timeout: 20000, interval: 300, what: 'a retry that failed while Redis was down' });
    const queued = (await wikiJobs(env))[TYPE];
    assert.equal(queued.queued + queued.claimed, 3, `nothing lost: ${JSON.stringify(queued)}`);
    assert.equal(frames.filter((f) => TITLES.includes(f.page_title)).length, 0);
  });

  it('once Redis is back, page views run the jobs and each change pops up exactly once', async (t) => {
    env.redis = await startRedis(env.redisPort);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${env.gatewayPort}/readyz`)).ok,
      { timeout: 40000, interval: 200, what: 'the gateway to resubscribe' });
    const channel = subscribe(env);
    await sleep(300); // SUBSCRIBE is in place
    try {
      const start = Date.now();
      // Visitors come by: each page view runs one job after its response.
      await waitFor(async () => {
        await pageView(env);
        return TITLES.every((title) => frames.some((f) => f.page_title === title));
      }, { timeout: 30000, interval: 300, what: 'the three changes to reach the browser' });
      t.diagnostic(`all three delivered ${Date.now() - start} ms after the gateway was ready`);

      // More page views for longer than the retry delay: nothing comes twice.
      const until = Date.now() + (RETRY_DELAY + 2) * 1000;
      while (Date.now() < until) {
        await pageView(env);
        await sleep(300);
      }
      for (const title of TITLES) {
        assert.equal(frames.filter((f) => f.page_title === title).length, 1, `${title} delivered once`);
        await waitForNotice(alice.page, title, 5000);
      }
      assert.equal((await wikiJobs(env))[TYPE], undefined, 'the queue is empty');

      const published = channel.messages.filter((m) => TITLES.includes(m.page_title));
      assert.equal(published.length, 3, 'three messages on the channel');
      const uuids = new Set(published.map((m) => m.uuid));
      assert.equal(uuids.size, 3, 'each its own uuid');
      for (const uuid of uuids) assert.match(uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      const log = readFileSync(join(env.wikiDir, 'realtimenotify.log'), 'utf8');
      for (const m of published) {
        assert.match(log, new RegExp(`Published the \\w+ event for "${m.page_title}" \\(${m.uuid}\\) on a retry`));
      }
    } finally {
      channel.stop();
    }
  });
});
