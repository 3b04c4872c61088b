// Durable delivery through a Redis Stream: the wiki XADDs every change to `mediawiki:events`
// (pub/sub off), the gateway reads it with `--source redis-stream`. The gateway is killed
// (SIGKILL, no close frame); Bob's edits while no gateway runs still save and are kept in the
// stream; a new gateway process on the same port serves them to Alice's page, which reconnected
// by itself and resumed with ?since=<the stream entry id of the last event it saw>.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  join, startEnv, startGateway, openAs, waitConnected, waitForNotice, waitFor, notices, clearNotices, sleep,
  streamEntries, compareIds,
} from '../lib/env.mjs';
import { MwApi } from '../lib/mwapi.mjs';

const STREAM = 'mediawiki:events';
const LIVE = { title: 'Stream live page', summary: 'seen live through the stream' };
const MISSED = [1, 2, 3].map((n) => ({ title: `Stream missed ${n}`, summary: `made while no gateway ran (${n})` }));
const AFTER = { title: 'Stream after page', summary: 'live again from the new gateway' };

/**
 * The stream's changes. Setting up the test wiki (accounts, rights) writes log entries, which
 * the extension publishes as `log` events (on 1.43 some reach the stream): they are not what
 * this file counts.
 */
const changes = async (env) => (await streamEntries(env, STREAM)).filter((e) => e.event.type !== 'log');
/** A frame of a change (not a set-up log entry). */
const isChange = (f) => f.op === 'event' && f.type !== 'log';

/** How many changes a notice stands for: "N changes just now" for a burst, else 1. */
function changesIn(text) {
  const m = /(\d+) changes just now/.exec(text);
  return m ? Number(m[1]) : 1;
}

describe('Redis Stream source: nothing lost while no gateway runs', () => {
  let env, alice, bob;
  const frames = []; // every frame Alice's page receives from any gateway: { ...frame, socket: its URL }

  before(async () => {
    env = await startEnv('stream', {
      // Stream on, pub/sub off: the stream is the only way events leave the wiki.
      extraPhp: `$wgRealTimeNotifyRedisStream = '${STREAM}';\n$wgRealTimeNotifyRedisChannel = null;`,
      gatewayArgs: ['--source', 'redis-stream', '--stream-key', STREAM],
    });
    bob = await new MwApi(env.wiki).login('Bob');
    alice = await openAs(env, 'Alice', 'Main_Page');
    const record = (ws) => ws.on('framereceived', (f) => {
      try { frames.push({ ...JSON.parse(String(f.payload)), socket: ws.url() }); } catch { /* not JSON */ }
    });
    for (const s of alice.sockets) record(s.ws);
    alice.page.on('websocket', record);
    await waitConnected(alice.page);
  });

  after(async () => {
    await env?.stop();
  });

  it('an edit goes through the stream and pops up live; its stream entry id is the event id', async () => {
    assert.equal((await changes(env)).length, 0, 'the stream starts with no change');
    const result = await bob.edit(LIVE.title, 'Live.', LIVE.summary);
    assert.equal(result.result, 'Success');
    const text = await waitForNotice(alice.page, `Bob created ${LIVE.title}`, 5000);
    assert.ok(text.includes(LIVE.summary), text);

    const entries = await changes(env);
    assert.equal(entries.length, 1);
    assert.equal(entries[0].event.page_title, LIVE.title);
    assert.equal(entries[0].event.rev_id, result.newrevid);
    assert.equal((await alice.page.evaluate(() => mw.realtimenotify.state())).resumeId, entries[0].id);
    assert.deepEqual(frames.filter(isChange).map((f) => f.id), [entries[0].id]);
  });

  it('gateway killed: edits still save into the stream; a new gateway delivers them once', async (t) => {
    await sleep(1200); // what comes next is not part of the first notice's burst
    const stateBefore = await alice.page.evaluate(() => mw.realtimenotify.state());
    const liveId = stateBefore.resumeId;
    const socketsBefore = alice.sockets.length;
    await clearNotices(alice.page);

    const killed = await env.gateway.stop('SIGKILL');
    assert.equal(killed.signal, 'SIGKILL');
    const down = Date.now();
    await waitFor(async () => (await alice.page.evaluate(() => mw.realtimenotify.state())).connection !== 'open',
      { timeout: 5000, what: 'the page to notice the gateway is gone' });

    // No gateway at all: the saves succeed, and the events wait in Redis.
    const saved = [];
    for (const m of MISSED) {
      const start = Date.now();
      const r = await bob.edit(m.title, `While down: ${m.title}.`, m.summary);
      assert.equal(r.result, 'Success', JSON.stringify(r));
      t.diagnostic(`edit "${m.title}" with no gateway saved in ${Date.now() - start} ms`);
      saved.push(r);
    }
    // The extension XADDs after the response: wait for the last of them.
    await waitFor(async () => (await changes(env)).length === 4, { timeout: 5000, what: '4 changes in the stream' });
    const entries = await changes(env);
    assert.deepEqual(entries.map((e) => e.event.page_title), [LIVE.title, ...MISSED.map((m) => m.title)]);
    assert.deepEqual(entries.slice(1).map((e) => e.event.rev_id), saved.map((r) => r.newrevid));
    assert.deepEqual(entries.slice(1).map((e) => e.event.summary), MISSED.map((m) => m.summary));
    assert.equal(entries[0].id, liveId);
    assert.ok(entries.every((e, i) => i === 0 || compareIds(entries[i - 1].id, e.id) < 0), 'ids increase');
    // Nothing reached Alice while no gateway ran.
    assert.deepEqual(await notices(alice.page), []);

    // Meanwhile the page keeps trying (with backoff) and fails: nothing listens on the port.
    await waitFor(async () => (await alice.page.evaluate(() => mw.realtimenotify.state())).connects > stateBefore.connects,
      { timeout: 10000, interval: 100, what: 'a reconnection attempt while the gateway is down' });
    await waitFor(async () => (await alice.page.evaluate(() => mw.realtimenotify.state())).connection !== 'open',
      { timeout: 5000, what: 'the attempt to fail' });

    // A new process on the same port (the URL the wiki gave the browser).
    env.gateway = await startGateway(env.gatewayPort, env.redisPort, env.gatewayArgs);
    t.diagnostic(`new gateway ready ${Date.now() - down} ms after the kill`);
    const restarted = Date.now();

    // The page finds it by itself (backoff) and resumes after the last id it saw.
    const ws = await waitFor(() => alice.sockets.slice(socketsBefore).find((s) => !s.ws.isClosed()),
      { timeout: 40000, interval: 100, what: 'the page to reconnect' });
    assert.equal(new URL(ws.url).searchParams.get('since'), liveId);
    const state = await waitConnected(alice.page, 10000);
    t.diagnostic(`reconnected ${Date.now() - restarted} ms after the new gateway was ready ` +
      `(${state.connects - stateBefore.connects} attempts since the kill)`);

    // Every missed change is shown — alone or grouped as a burst — and the first one is not repeated.
    await waitFor(async () => {
      const shown = await notices(alice.page);
      return MISSED.every((m) => shown.some((x) => x.includes(m.title)));
    }, { timeout: 5000, what: 'notices of the three missed edits' });
    await sleep(1500); // let a burst finish redrawing, and any duplicate arrive
    const texts = await notices(alice.page);
    t.diagnostic(`notices: ${JSON.stringify(texts)}`);
    for (const m of MISSED) {
      assert.equal(texts.filter((x) => x.includes(m.title)).length, 1, `${m.title} shown once: ${JSON.stringify(texts)}`);
    }
    assert.equal(texts.reduce((n, x) => n + changesIn(x), 0), 3, JSON.stringify(texts));
    assert.ok(!texts.some((x) => x.includes(LIVE.title)), `no duplicate of the first edit: ${JSON.stringify(texts)}`);
    assert.ok(!texts.some((x) => x.includes('were missed')), 'the stream lost nothing, so no "missed" notice');
    if (texts.length === 1) assert.match(texts[0], /3 changes just now/);

    // The ids the browser saw are the stream's entry ids, each exactly once, in order.
    const events = frames.filter(isChange);
    assert.deepEqual(events.map((f) => f.id), entries.map((e) => e.id));
    const resumedOn = frames.filter((f) => f.socket === ws.url);
    assert.deepEqual(resumedOn.filter(isChange).map((f) => f.page_title), MISSED.map((m) => m.title));
    assert.ok(!resumedOn.some((f) => f.op === 'lost'), JSON.stringify(resumedOn));
    assert.equal((await alice.page.evaluate(() => mw.realtimenotify.state())).resumeId, entries.at(-1).id);
  });

  it('the new gateway follows the stream live', async () => {
    await sleep(1200); // a notice of its own, not part of the previous burst
    const result = await bob.edit(AFTER.title, 'After.', AFTER.summary);
    const text = await waitForNotice(alice.page, `Bob created ${AFTER.title}`, 5000);
    assert.ok(text.includes(AFTER.summary), text);
    const entries = await changes(env);
    assert.equal(entries.length, 5);
    assert.equal(entries.at(-1).event.rev_id, result.newrevid);
    assert.equal((await alice.page.evaluate(() => mw.realtimenotify.state())).resumeId, entries.at(-1).id);
    assert.equal(new Set(frames.filter(isChange).map((f) => f.id)).size, 5, 'no event twice');

    // The wiki wrote to the stream only: pub/sub publishing was off.
    const log = readFileSync(join(env.wikiDir, 'realtimenotify.log'), 'utf8');
    const changeLines = log.split('\n').filter((l) => !/Published log event/.test(l));
    assert.equal(changeLines.filter((l) => l.includes(`XADD ${STREAM} `)).length, 5, log);
    assert.ok(!/PUBLISH/.test(log), log);
  });
});
