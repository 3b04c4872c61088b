// The EventStreams-compatible SSE feed on a real wiki (issue 11), with real clients:
// - MediaWiki core's own RCFeed ($wgRCFeeds, JSONRCFeedFormatter through RedisPubSubFeedEngine)
//   feeds a second gateway, and pywikibot's EventStreams, unmodified, with its url pointed at
//   that gateway's /v2/stream/recentchange, reads the wiki's edits and a block (a log event the
//   extension does not publish), each checked against the recentchange schema;
// - EventSource in headless Chromium reads the extension's events from the main gateway (Redis
//   Stream source), and resumes by itself with Last-Event-ID after that gateway is killed: the
//   change made while no gateway ran arrives once, in order, then live ones; then a block, which
//   the extension publishes as a `log` event.
// Runs on one MediaWiki version (the feed does not depend on it).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MW_VERSION, REPO, startEnv, startGateway, freePort, launchBrowser, waitFor, gatewayMetric, sleep,
} from '../lib/env.mjs';
import { MwApi } from '../lib/mwapi.mjs';

const STREAM = 'mediawiki:events';
const RCFEED_CHANNEL = 'rtn:rcfeed';

describe('EventStreams-compatible SSE feed', { skip: MW_VERSION !== '1.39' && 'runs on 1.39 only' }, () => {
  let env, bob, admin, corePort, python;

  before(async () => {
    env = await startEnv('eventstreams', {
      // The extension writes to the stream only; core's RCFeed publishes to its own channel.
      extraPhp: `$wgRealTimeNotifyRedisStream = '${STREAM}';\n$wgRealTimeNotifyRedisChannel = null;\n`
        // Core parses the feed's URI with wfParseUrl, which knows only $wgUrlProtocols.
        + "$wgUrlProtocols[] = 'redis://';\n"
        + "$wgRCFeeds['realtimenotify'] = [ 'formatter' => JSONRCFeedFormatter::class,\n"
        + `  'uri' => 'redis://' . $wgRealTimeNotifyRedisServer . '/${RCFEED_CHANNEL}' ];`,
      gatewayArgs: ['--source', 'redis-stream', '--stream-key', STREAM],
    });
    corePort = await freePort();
    env.procs.push(await startGateway(corePort, env.redisPort, ['--source', 'redis', '--channel', RCFEED_CHANNEL]));
    bob = await new MwApi(env.wiki).login('Bob');
    admin = await new MwApi(env.wiki).login('Admin');
    python = execFileSync('bash', [join(REPO, 'scripts/py-venv.sh')], { encoding: 'utf8' }).trim();
  });

  after(async () => {
    await env?.stop();
  });

  it("pywikibot's EventStreams reads core's RCFeed through the gateway", async (t) => {
    const stream = `http://127.0.0.1:${corePort}/v2/stream/recentchange`;
    const child = spawn(python, [join(REPO, 'e2e/lib/pywikibot_stream.py'), `${env.wiki}/api.php`, stream, '3'], {
      env: { ...process.env, PYWIKIBOT_NO_USER_CONFIG: '2', PYWIKIBOT_DIR: mkdtempSync(join(tmpdir(), 'rtn-pwb-')) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const exited = new Promise((r) => child.on('exit', r));
    try {
      await waitFor(async () => (await gatewayMetric(corePort, 'rtn_sse_clients_connected')) >= 1,
        { timeout: 30000, what: 'pywikibot to connect' })
        .catch((e) => { throw new Error(`${e.message}\nstderr:\n${err}\nstdout:\n${out}`); });
      await bob.edit('Pywikibot page', 'Made for pywikibot.', 'created for pywikibot');
      await bob.edit('Pywikibot page', 'Made for pywikibot, edited.', 'edited for pywikibot');
      const r = await admin.request({
        action: 'block', user: 'Dave', expiry: '1 day', reason: 'blocked for pywikibot',
        token: await admin.token('csrf'),
      }, { post: true });
      assert.ok(r.block, `block: ${JSON.stringify(r)}`);
      const code = await Promise.race([exited, sleep(30000).then(() => 'timeout')]);
      assert.equal(code, 0, `pywikibot exited ${code}; stderr:\n${err}\nstdout:\n${out}`);
    } finally {
      child.kill();
    }
    const changes = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    t.diagnostic(changes.map((c) => `${c.type} ${c.title} ${c.log_type || ''}`).join('; '));
    assert.deepEqual(changes.map((c) => [c.type, c.title]),
      [['new', 'Pywikibot page'], ['edit', 'Pywikibot page'], ['log', 'User:Dave']]);
    const [created, edited, blocked] = changes;
    assert.equal(created.comment, 'created for pywikibot');
    assert.equal(edited.revision.old, created.revision.new, 'core\'s revision ids come through');
    assert.ok(Number.isInteger(edited.id) && edited.id > created.id, 'rc ids too');
    assert.equal(edited.server_url, env.wiki);
    assert.equal(blocked.log_type, 'block');
    assert.equal(blocked.log_action, 'block');
    assert.equal(blocked.user, 'Admin');
  });

  it('EventSource in Chromium resumes with Last-Event-ID after the gateway is killed', async (t) => {
    const browser = await launchBrowser(env);
    const page = browser.pages()[0] || await browser.newPage();
    await page.goto(`${env.wiki}/index.php?title=Main_Page`);
    const feed = `http://127.0.0.1:${env.gatewayPort}/v2/stream/recentchange`;
    await page.evaluate((url) => {
      window.got = [];
      window.opened = 0;
      const es = new EventSource(url);
      es.onopen = () => { window.opened += 1; };
      es.onmessage = (e) => window.got.push({ id: e.lastEventId, data: JSON.parse(e.data) });
      es.addEventListener('lost', (e) => window.got.push({ lost: JSON.parse(e.data) }));
      window.es = es;
    }, feed);
    await waitFor(() => page.evaluate(() => window.opened === 1), { what: 'the EventSource to open' });
    const titles = () => page.evaluate(() => window.got.map((g) => (g.lost ? 'LOST' : g.data.title)));

    await bob.edit('SSE page 1', 'One.', 'first');
    await waitFor(async () => (await titles()).includes('SSE page 1'), { what: 'the first change' });
    const lastId = await page.evaluate(() => window.got.at(-1).id);

    await env.gateway.stop('SIGKILL');
    const killed = Date.now();
    await bob.edit('SSE page 2', 'Two.', 'made while no gateway ran');
    await sleep(500);
    await env.restartGateway();
    await waitFor(async () => (await titles()).includes('SSE page 2'),
      { timeout: 20000, what: 'the change made while the gateway was down, after the resume' });
    t.diagnostic(`resumed after ${lastId}, ${Date.now() - killed} ms after the kill`);
    assert.equal(await page.evaluate(() => window.opened), 2, 'reconnected once, by itself');

    await bob.edit('SSE page 3', 'Three.', 'live again');
    await waitFor(async () => (await titles()).includes('SSE page 3'), { what: 'a live change after the resume' });
    assert.deepEqual((await titles()).filter((x) => x.startsWith('SSE page') || x === 'LOST'),
      ['SSE page 1', 'SSE page 2', 'SSE page 3'], 'each once, in order, nothing lost');
    // A log entry the extension publishes itself (RecentChange_save): a block, as `log`.
    const r = await admin.request({
      action: 'block', user: 'Carol', expiry: '1 hour', reason: 'blocked for EventSource',
      token: await admin.token('csrf'),
    }, { post: true });
    assert.ok(r.block, `block: ${JSON.stringify(r)}`);
    const block = await waitFor(() => page.evaluate(() => window.got.find((g) => g.data?.log_type === 'block')),
      { what: "the extension's block event" });
    assert.deepEqual([block.data.type, block.data.title, block.data.log_action, block.data.user, block.data.comment],
      ['log', 'User:Carol', 'block', 'Admin', 'blocked for EventSource']);
    assert.ok(Number.isInteger(block.data.id) && Number.isInteger(block.data.log_id), 'rc and log ids');
    const state = await page.evaluate(() => ({ readyState: window.es.readyState, ids: window.got.map((g) => g.id) }));
    assert.equal(state.readyState, 1, 'open');
    assert.ok(state.ids.every((id) => /^\d+-\d+$/.test(id)), `ids are stream positions: ${state.ids}`);
  });
});
