// Edit to popup (issue 16, target 6), on the real e2e stack: MediaWiki, Redis, the gateway and
// headless Chromium, started by e2e/lib/env.mjs as the e2e tests start them. Bob makes EDITS
// edits through the Action API; Alice has a page open. Each edit is timed from the moment its API
// response arrived to the moment its popup was added to Alice's page (a MutationObserver in the
// page stamps it with Date.now(); one clock, one machine). The extension publishes while the edit
// request is still being answered, so a popup may appear before the response: those times are
// negative, and counted. Run once for the pub/sub source, once for the stream source.
//
//   node bench/edit-to-popup.mjs                 # 100 edits per source (~5 min)
//   EDITS=20 SOURCES=pubsub node bench/edit-to-popup.mjs
//
// Needs what e2e/run.sh needs (e2e/node_modules: `cd e2e && npm ci`, target/release/realtimenotify).
// Edits are spaced by GAP_MS (default 1100): the module joins notices less than a second apart
// into one burst, which would hide the later edits' popups.
import { startEnv, openAs, waitConnected, waitFor, clearNotices, sleep, MW_VERSION } from '../e2e/lib/env.mjs';
import { MwApi } from '../e2e/lib/mwapi.mjs';

const EDITS = Number(process.env.EDITS || 100);
const GAP_MS = Number(process.env.GAP_MS || 1100);
const SOURCES = (process.env.SOURCES || 'pubsub stream').split(/[ ,]+/).filter(Boolean);
const STREAM = 'mediawiki:events';
const TITLE = 'Popup bench page';

const OPTIONS = {
  pubsub: {},
  stream: {
    extraPhp: `$wgRealTimeNotifyRedisStream = '${STREAM}';\n$wgRealTimeNotifyRedisChannel = null;`,
    gatewayArgs: ['--source', 'redis-stream', '--stream-key', STREAM],
  },
};

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

async function measure(source) {
  const env = await startEnv(`popup-${source}`, OPTIONS[source]);
  try {
    const admin = await new MwApi(env.wiki).login('Admin');
    await admin.edit(TITLE, 'The page the benchmark edits.', 'setup');
    const bob = await new MwApi(env.wiki).login('Bob');
    const alice = await openAs(env, 'Alice', 'Main_Page');
    await waitConnected(alice.page);
    await alice.page.evaluate(() => {
      window.rtnSeen = {};
      new MutationObserver((records) => {
        const at = Date.now();
        for (const r of records) {
          for (const node of r.addedNodes) {
            const m = /popup bench (\d+)\b/.exec(node.textContent || '');
            if (m && !(m[1] in window.rtnSeen)) window.rtnSeen[m[1]] = at;
          }
        }
      }).observe(document.body, { childList: true, subtree: true });
    });
    await sleep(1500); // after setup's own popup
    const late = [];
    let missed = 0;
    for (let i = 0; i < EDITS; i++) {
      await bob.edit(TITLE, `Revision ${i} of the popup bench.`, `popup bench ${i}`);
      const answered = Date.now();
      const seen = await waitFor(() => alice.page.evaluate((n) => window.rtnSeen[n], String(i)),
        { timeout: 5000, interval: 5, what: `the popup of edit ${i}` }).catch(() => null);
      if (seen === null) missed++;
      else late.push(seen - answered);
      if (i % 10 === 9) await clearNotices(alice.page);
      await sleep(Math.max(0, GAP_MS - (Date.now() - answered)));
    }
    late.sort((a, b) => a - b);
    return {
      source, edits: EDITS, popups: late.length, missed, beforeResponse: late.filter((t) => t < 0).length,
      p50: quantile(late, 0.5), p99: quantile(late, 0.99), max: late[late.length - 1],
    };
  } finally {
    await env.stop();
  }
}

const results = [];
for (const source of SOURCES) {
  const r = await measure(source);
  results.push(r);
  console.log(JSON.stringify(r));
}
console.log(`\nedit response → popup in an open tab, MediaWiki ${MW_VERSION}, ${new Date().toISOString().slice(0, 10)}`);
console.log('| source | edits | popups (before the response) | p50 (ms) | p99 (ms) | max (ms) |');
console.log('|---|--:|--:|--:|--:|--:|');
for (const r of results) {
  console.log(`| ${r.source} | ${r.edits} | ${r.popups} (${r.beforeResponse}) | ${r.p50} | ${r.p99} | ${r.max} |`);
}
