// RabbitMQ as the broker, end to end: the wiki publishes each change with php-amqplib
// ($wgRealTimeNotifyTransport = 'rabbitmq': persistent, publisher confirms) to the exchange the
// gateway's `--source rabbitmq` binds its stream to; Chromium shows it. Then the broker is
// stopped: Bob's edit still saves at once, its event waits in the job queue, and once the broker
// is back (same node, same data) the gateway reconnects, a page view runs the job, and the change
// pops up once, with the next stream offset as its id.
//
// A private rabbitmq-server (scripts/rabbitmq-node.sh: its own node name, ports and data). Runs on
// the host's MediaWiki only: the broker and php-amqplib are the host's packages, and nothing in it
// depends on the MediaWiki version.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import {
  join, REPO, MW_ROOT, MW_VERSION, startEnv, openAs, waitConnected, waitForNotice, waitFor, wikiJobs, pageView,
} from '../lib/env.mjs';
import { MwApi } from '../lib/mwapi.mjs';

const NODE_SH = join(REPO, 'scripts/rabbitmq-node.sh');
const TYPE = 'realTimeNotifyPublish';
const skip = MW_ROOT ? `runs on the host's MediaWiki only (this is ${MW_VERSION} in a Debian root)`
  : !existsSync('/usr/lib/rabbitmq/bin/rabbitmq-server') ? 'rabbitmq-server is not installed (scripts/install-deps.sh)'
    : !existsSync('/usr/share/php/PhpAmqpLib/autoload.php') ? 'php-amqplib is not installed (scripts/install-deps.sh)'
      : false;

const node = (...args) => execFileSync('bash', [NODE_SH, ...args], { encoding: 'utf8' }).trim();

describe('RabbitMQ: wiki → exchange → stream → gateway → browser', { skip }, () => {
  let env, alice, bob, brokerDir, url;
  const frames = []; // every event frame Alice's page receives

  before(async () => {
    brokerDir = mkdtempSync(join(tmpdir(), 'rtn-e2e-rabbitmq-'));
    const start = Date.now();
    url = node('start', brokerDir, '--watch', String(process.pid));
    console.log(`# private rabbitmq-server up in ${Date.now() - start} ms`);
    env = await startEnv('rabbitmq', {
      extraPhp: [
        "$wgRealTimeNotifyTransport = 'rabbitmq';",
        `$wgRealTimeNotifyAmqpUrl = '${url}';`,
        '$wgRealTimeNotifyRetryDelay = 2;',
        // A loaded test machine: the broker has a second to answer.
        '$wgRealTimeNotifyConnectTimeout = 1.0;',
        '$wgRealTimeNotifyReadTimeout = 2.0;',
      ].join('\n'),
      gatewayArgs: ['--source', 'rabbitmq', '--amqp-url', url],
    });
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
    try {
      await env?.stop();
    } finally {
      if (brokerDir) {
        try { node('stop', brokerDir); } catch { /* stopped already */ }
        rmSync(brokerDir, { recursive: true, force: true });
      }
    }
  });

  it('an edit is published with confirms and pops up; its id is the stream offset', async () => {
    const result = await bob.edit('Rabbit live page', 'Live.', 'through RabbitMQ');
    assert.equal(result.result, 'Success');
    const text = await waitForNotice(alice.page, 'Bob created Rabbit live page', 10000);
    assert.ok(text.includes('through RabbitMQ'), text);
    const mine = frames.filter((f) => f.page_title === 'Rabbit live page');
    assert.equal(mine.length, 1);
    assert.equal(mine[0].id, '0-1', 'the first entry of the stream (offset 0)');
    assert.equal((await alice.page.evaluate(() => mw.realtimenotify.state())).resumeId, '0-1');
    assert.equal((await wikiJobs(env))[TYPE], undefined, 'a confirmed publish queues nothing');
  });

  it('broker down: the save stays fast, the job publishes once it is back, the change pops up once', async (t) => {
    node('stop', brokerDir, '--keep-epmd');
    await waitFor(async () => !(await fetch(`http://127.0.0.1:${env.gatewayPort}/readyz`)).ok,
      { timeout: 15000, what: '/readyz to say the broker is down' });
    const start = Date.now();
    const result = await bob.edit('Rabbit outage page', 'Saved while RabbitMQ was down.', 'while down');
    const ms = Date.now() - start;
    t.diagnostic(`edit with RabbitMQ down answered in ${ms} ms`);
    assert.equal(result.result, 'Success');
    assert.ok(ms < 3000, `the edit took ${ms} ms`);
    await waitFor(async () => {
      const j = (await wikiJobs(env))[TYPE];
      return j && j.queued + j.claimed === 1;
    }, { timeout: 10000, what: 'the retry job' });

    const back = Date.now();
    node('start', brokerDir);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${env.gatewayPort}/readyz`)).ok,
      { timeout: 30000, interval: 200, what: 'the gateway to reconnect to the broker' });
    t.diagnostic(`broker back and gateway ready in ${Date.now() - back} ms`);
    await waitFor(async () => {
      await pageView(env);
      return frames.some((f) => f.page_title === 'Rabbit outage page');
    }, { timeout: 30000, interval: 300, what: 'the retried change to reach the browser' });
    await waitForNotice(alice.page, 'Rabbit outage page', 5000);
    const mine = frames.filter((f) => f.page_title === 'Rabbit outage page');
    assert.equal(mine.length, 1, 'delivered once');
    assert.equal(mine[0].id, '0-2', 'the next offset of the same stream (the broker kept its data)');
  });
});
