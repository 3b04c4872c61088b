// The real chain for one test file: redis-server, the gateway, a MediaWiki (e2e/wiki.sh) and
// headless Chromium, each on a free port, all stopped again by stop().
//
// MediaWiki version: RTN_MW (1.39 or 1.43; default: the host's own package). A version the host
// does not have runs inside a Debian root (scripts/mw-root.sh; RTN_MW_ROOT is its path, set by
// e2e/run.sh, or found here), through chroot, on the host's network.
import { spawn, execFileSync } from 'node:child_process';
import { connect } from 'node:net';
import {
  mkdirSync, mkdtempSync, rmSync, writeFileSync, createWriteStream, existsSync, readFileSync, copyFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { sleep, freePorts, waitReady } from './net.mjs';

export const E2E = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = resolve(E2E, '..');
const MW_ROOT_SH = join(REPO, 'scripts/mw-root.sh');

/** The MediaWiki version under test ("1.39", "1.43"). */
export const MW_VERSION = process.env.RTN_MW
  || execFileSync('bash', [MW_ROOT_SH, 'host-version'], { encoding: 'utf8' }).trim();
if (!/^1\.(39|43)$/.test(MW_VERSION)) throw new Error(`RTN_MW=${MW_VERSION}: 1.39 or 1.43`);

/** The root the wiki runs in ('' when it runs on the host); exported for e2e/wiki.sh. */
export const MW_ROOT = (() => {
  if (process.env.RTN_MW_ROOT !== undefined && process.env.RTN_MW === MW_VERSION) return process.env.RTN_MW_ROOT;
  try {
    execFileSync('bash', [MW_ROOT_SH, 'needs-root', MW_VERSION]);
  } catch (e) {
    if (e.status === 1) return ''; // the host has this version
    throw e;
  }
  return execFileSync('bash', [MW_ROOT_SH, 'ensure', MW_VERSION], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
})();
process.env.RTN_MW = MW_VERSION;
process.env.RTN_MW_ROOT = MW_ROOT;

/** Core's directory as the host sees it (inside the root when the wiki runs there). */
export const MW_DIR = MW_ROOT ? join(MW_ROOT, 'usr/share/mediawiki') : (process.env.MW_INSTALL_PATH || '/usr/share/mediawiki');

/** Screenshots and logs of this version's run: e2e/artifacts/mw-1.39/, e2e/artifacts/mw-1.43/. */
export const ARTIFACTS = join(E2E, 'artifacts', `mw-${MW_VERSION}`);
export const GATEWAY_BIN = process.env.RTN_GATEWAY_BIN || join(REPO, 'target/release/realtimenotify');
export const CHROMIUM = process.env.RTN_CHROMIUM || '/usr/bin/chromium';

/** The test accounts, name → password (e2e/accounts, which e2e/wiki.sh creates). */
export const USERS = Object.fromEntries(readFileSync(join(E2E, 'accounts'), 'utf8').split('\n')
  .filter((line) => line.trim() && !line.startsWith('#'))
  .map((line) => line.split(/\s+/).slice(0, 2)));

export { sleep, freePort } from './net.mjs';

/**
 * Echo (REL1_43, for MediaWiki 1.43): RTN_ECHO, or the shared folder's tarball beside the
 * project (../shared/vendor/, also from a worktree one level deeper). Never copied into the
 * project: each wiki that needs it gets it extracted into its own folder.
 */
export const ECHO_TARBALL = process.env.RTN_ECHO
  || [join(REPO, '../shared/vendor/Echo-REL1_43.tar.gz'), join(REPO, '../../shared/vendor/Echo-REL1_43.tar.gz')]
    .find((p) => existsSync(p)) || join(REPO, '../shared/vendor/Echo-REL1_43.tar.gz');

/** Why tests with Echo cannot run here (a string for node:test's `skip`), or false. */
export function echoSkip() {
  if (MW_VERSION !== '1.43') return `skipped: Echo REL1_43 needs MediaWiki 1.43 (this run: ${MW_VERSION}; RTN_MW=1.43)`;
  if (!existsSync(ECHO_TARBALL)) return `skipped: no Echo tarball at ${ECHO_TARBALL} (set RTN_ECHO)`;
  return false;
}

/** Polls fn until it returns a truthy value (returned) or the time is up (throws). */
export async function waitFor(fn, { timeout = 10000, interval = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    }
    await sleep(interval);
  }
}

/** A child process whose output goes to artifacts/logs/NAME.log; killed by stop(). */
class Proc {
  constructor(name, cmd, args, opts = {}) {
    mkdirSync(join(ARTIFACTS, 'logs'), { recursive: true });
    this.name = name;
    this.log = join(ARTIFACTS, 'logs', `${name}.log`);
    const out = createWriteStream(this.log, { flags: 'a' });
    // Own process group, so that stop() also ends what a wrapper script started.
    this.child = spawn(cmd, args, { ...opts, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout.pipe(out);
    this.child.stderr.pipe(out);
    this.exited = new Promise((r) => this.child.on('exit', (code, signal) => r({ code, signal })));
    this.running = true;
    this.exited.then(() => { this.running = false; });
  }

  async stop(signal = 'SIGTERM', graceMs = 5000) {
    if (!this.running) return this.exited;
    try { process.kill(-this.child.pid, signal); } catch { /* gone already */ }
    const t = setTimeout(() => { try { process.kill(-this.child.pid, 'SIGKILL'); } catch { /* gone */ } }, graceMs);
    const r = await this.exited;
    clearTimeout(t);
    return r;
  }
}

async function httpOk(url) {
  try {
    const r = await fetch(url);
    await r.arrayBuffer();
    return r.ok;
  } catch {
    return false;
  }
}

export async function startRedis(port) {
  const p = new Proc(`redis-${port}`, 'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  await waitFor(async () => {
    if (!p.running) throw new Error('redis-server exited');
    return canConnect(port);
  }, { what: 'redis-server' });
  return p;
}

function canConnect(port) {
  return new Promise((res) => {
    const s = connect(port, '127.0.0.1');
    s.on('connect', () => { s.destroy(); res(true); });
    s.on('error', () => res(false));
  });
}

/**
 * The gateway, subscribed to redis pub/sub (unless extraArgs choose another `--source`, e.g.
 * `['--source', 'redis-stream']`); resolves once GET /readyz says 200.
 */
export async function startGateway(port, redisPort, extraArgs = [], env = {}) {
  const source = extraArgs.includes('--source') ? [] : ['--source', 'redis'];
  const p = new Proc(`gateway-${port}`, GATEWAY_BIN, [
    'serve', '--listen', `127.0.0.1:${port}`, ...source,
    '--redis-url', `redis://127.0.0.1:${redisPort}`, ...extraArgs,
  ], { env: { ...process.env, NO_COLOR: '1', RTN_LOG: process.env.RTN_LOG || 'info', ...env } });
  const alive = () => { if (!p.running) throw new Error(`gateway exited, see ${p.log}`); };
  if (!await waitReady(port, { timeout: 15000, alive })) throw new Error('timed out after 15000 ms waiting for gateway /readyz');
  return p;
}

/** Current value of a Prometheus metric line (no labels) from the gateway's /metrics. */
export async function gatewayMetric(port, name) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : null;
}

function run(cmd, args, opts = {}) {
  return new Promise((res, rej) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let out = '';
    c.stdout.on('data', (d) => { out += d; });
    c.stderr.on('data', (d) => { out += d; });
    c.on('exit', (code) => (code === 0 ? res(out) : rej(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${out}`))));
  });
}

/**
 * The whole chain. opts.extraPhp: PHP appended to the wiki's settings (DIR/extra.php);
 * opts.gatewayArgs: more gateway flags.
 */
export async function startEnv(name, opts = {}) {
  const env = { name, procs: [], browsers: [], dirs: [] };
  [env.redisPort, env.gatewayPort, env.wikiPort] = await freePorts(3);
  env.wsUrl = `ws://127.0.0.1:${env.gatewayPort}/v1/ws`;
  env.wiki = `http://127.0.0.1:${env.wikiPort}`;
  env.gatewayArgs = opts.gatewayArgs || [];

  env.redis = await startRedis(env.redisPort);
  env.gateway = await startGateway(env.gatewayPort, env.redisPort, env.gatewayArgs);

  // Inside the root when the wiki runs there (its /tmp), so that its PHP sees it.
  env.wikiDir = mkdtempSync(join(MW_ROOT ? join(MW_ROOT, 'tmp') : tmpdir(), `rtn-e2e-${name}-`));
  env.dirs.push(env.wikiDir);
  let extraPhp = opts.extraPhp || '';
  if (opts.echo) {
    // Echo into this wiki's own folder, loaded by path (the wiki's PHP sees the folder at
    // its path inside the root).
    const echoDir = join(env.wikiDir, 'echo');
    mkdirSync(echoDir, { recursive: true });
    await run('tar', ['-xzf', ECHO_TARBALL, '-C', echoDir]);
    const inner = MW_ROOT ? `/${relative(MW_ROOT, echoDir)}` : echoDir;
    extraPhp = `wfLoadExtension( 'Echo', '${inner}/Echo/extension.json' );\n${extraPhp}`;
  }
  if (extraPhp) writeFileSync(join(env.wikiDir, 'extra.php'), `<?php\n${extraPhp}\n`);
  // update.php: the tables of the extension (and of Echo) that install.php did not create.
  await run('bash', [join(E2E, 'wiki.sh'), 'create', env.wikiDir, String(env.wikiPort), String(env.redisPort), env.wsUrl],
    { env: { ...process.env, ...(opts.echo || opts.update ? { RTN_WIKI_UPDATE: '1' } : {}) } });
  // A few PHP workers: ten tabs load pages (and load.php) at once.
  env.wikiServer = new Proc(`wiki-${name}`, 'bash', [join(E2E, 'wiki.sh'), 'serve', env.wikiDir, String(env.wikiPort)],
    { env: { ...process.env, PHP_CLI_SERVER_WORKERS: '4' } });
  env.procs.push(env.wikiServer);
  await waitFor(() => httpOk(`${env.wiki}/api.php?action=query&meta=siteinfo&format=json`),
    { timeout: 15000, what: 'the wiki' });

  env.restartGateway = async () => {
    await env.gateway.stop('SIGTERM');
    env.gateway = await startGateway(env.gatewayPort, env.redisPort, env.gatewayArgs);
  };

  /** Runs a maintenance script of core on this wiki (e.g. 'runJobs.php'); resolves to its output. */
  env.maint = (script, ...args) => run('bash', [join(E2E, 'wiki.sh'), 'maint', env.wikiDir, script, ...args.map(String)]);

  // Stops everything; then fails (throws) if the wiki logged a PHP warning, notice or
  // deprecation that comes from the extension.
  env.stop = async () => {
    for (const b of env.browsers) await b.close().catch(() => {});
    for (const p of [env.gateway, env.redis, ...env.procs]) if (p) await p.stop();
    const warnings = extensionWarnings(env.wikiDir);
    keepWikiLogs(env);
    if (!process.env.RTN_KEEP) for (const d of env.dirs) rmSync(d, { recursive: true, force: true });
    if (warnings.length) {
      throw new Error(`the extension caused ${warnings.length} PHP warning(s), deprecation(s) or error(s) on MediaWiki ${MW_VERSION} `
        + `(logs in ${join(ARTIFACTS, 'logs', `wiki-${name}`)}):\n${warnings.join('\n---\n')}`);
    }
  };
  return env;
}

/** The wiki's error logs (wiki.sh): MediaWiki's channels and PHP's own error_log. */
const WIKI_ERROR_LOGS = ['php-error.log', 'error.log', 'exception.log', 'deprecated.log'];
// What names the extension in a log entry: its files (the checkout's extension/RealTimeNotify/ or
// the copy in DIR/extensions/RealTimeNotify/) and its PHP namespace, in a message or a backtrace.
const EXTENSION_MARK = /[\\/]RealTimeNotify[\\/]|RealTimeNotify\\/;

/**
 * Every entry of the wiki's error logs that comes from the extension: a warning, notice or
 * deprecation raised in its code or by a call it made (the message, its "[Called from ...]"
 * or its backtrace names the extension), and every PHP Error (not Exception) the extension
 * caught while publishing. An entry starts with a timestamp (MediaWiki:
 * "2026-11-29 21:40:01 ...", PHP: "[29-Nov-2026 21:40:01 UTC] ..."); the lines after it (a
 * backtrace) belong to it.
 */
export function extensionWarnings(wikiDir) {
  const found = [];
  for (const file of WIKI_ERROR_LOGS) {
    const path = join(wikiDir, file);
    if (!existsSync(path)) continue;
    const entries = [];
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (/^(\d{4}-\d\d-\d\d[ T]\d\d:\d\d|\[\d\d-\w{3}-\d{4} )/.test(line) || !entries.length) entries.push(line);
      else entries[entries.length - 1] += `\n${line}`;
    }
    for (const e of entries) if (EXTENSION_MARK.test(e)) found.push(`${file}: ${e.trim()}`);
  }
  // The extension catches whatever publishing throws (an edit must never fail for it) and logs
  // it with its class: an Exception is an outage (some tests cause one), an Error is its bug.
  const own = join(wikiDir, 'realtimenotify.log');
  if (existsSync(own)) {
    for (const line of readFileSync(own, 'utf8').split('\n')) {
      if (/(Failed to|Could not schedule) .*\((?:[\w\\]+\\)?\w*Error\)\s*$/.test(line)) found.push(`realtimenotify.log: ${line}`);
    }
  }
  return found;
}

/** Copies the wiki's logs to artifacts/logs/wiki-NAME/ (the wiki's folder is removed). */
function keepWikiLogs(env) {
  const dest = join(ARTIFACTS, 'logs', `wiki-${env.name}`);
  mkdirSync(dest, { recursive: true });
  for (const file of [...WIKI_ERROR_LOGS, 'realtimenotify.log', 'install.log']) {
    const path = join(env.wikiDir, file);
    if (existsSync(path)) copyFileSync(path, join(dest, file));
  }
}

/**
 * A fresh headless Chromium profile (one browser = one context). opts: more context options
 * of playwright (e.g. a phone's viewport, isMobile, hasTouch).
 */
export async function launchBrowser(env, opts = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'rtn-chromium-'));
  env.dirs.push(dir);
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1200, height: 800 },
    ...opts,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  env.browsers.push(context);
  return context;
}

/** Signs in through Special:UserLogin, as a person would; returns the page. */
export async function loginInBrowser(env, context, user) {
  const page = context.pages()[0] || await context.newPage();
  await page.goto(`${env.wiki}/index.php?title=Special:UserLogin`);
  await page.fill('#wpName1', user);
  await page.fill('#wpPassword1', USERS[user]);
  await Promise.all([page.waitForNavigation(), page.click('#wpLoginAttempt')]);
  const name = await page.evaluate(() => mw.config.get('wgUserName'));
  if (name !== user) throw new Error(`login as ${user} failed (wgUserName=${name})`);
  return page;
}

/** Collects the WebSockets a page opens to the gateway. */
export function watchSockets(page, list = []) {
  page.on('websocket', (ws) => { list.push({ url: ws.url(), ws, page }); });
  return list;
}

/** The module is loaded and (when a leader) connected. */
export async function moduleState(page) {
  return page.evaluate(() => (window.mw && mw.realtimenotify ? mw.realtimenotify.state() : null));
}

/** Text of every live-change popup on the page. */
export async function notices(page) {
  return page.$$eval('.mw-notification.ext-realtimenotify-notice:not(.mw-notification-replaced)',
    (els) => els.map((e) => e.innerText));
}

export { existsSync, join };

/** A browser signed in as `user` with `title` open (browserOpts: see launchBrowser). */
export async function openAs(env, user, title = 'Main_Page', browserOpts = {}) {
  const context = await launchBrowser(env, browserOpts);
  const page = await loginInBrowser(env, context, user);
  const sockets = watchSockets(page);
  const dialogs = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  await page.goto(`${env.wiki}/index.php?title=${encodeURIComponent(title)}`);
  return { context, page, sockets, dialogs };
}

export async function waitConnected(page, timeout = 10000) {
  return waitFor(async () => {
    const s = await moduleState(page);
    return s && s.connection === 'open' && s;
  }, { timeout, what: 'the module to connect' });
}

/** The module is connected and, when its mode has a filter, the gateway acknowledged it. */
export async function waitSubscribed(page, timeout = 10000) {
  return waitFor(async () => {
    const s = await moduleState(page);
    return s && s.connection === 'open' && s.subscribed && s;
  }, { timeout, what: 'the module to connect and subscribe' });
}

/** Waits for a live-change popup whose text includes `needle`; returns its text. */
export async function waitForNotice(page, needle, timeout = 5000) {
  return waitFor(async () => (await notices(page)).find((t) => t.includes(needle)),
    { timeout, interval: 25, what: `a notice containing ${JSON.stringify(needle)}` });
}

/** PUBLISH a raw event, as the extension does. */
export function publish(env, event) {
  return run('redis-cli', ['-p', String(env.redisPort), 'PUBLISH', 'mediawiki:notifications',
    typeof event === 'string' ? event : JSON.stringify(event)]);
}

/** Orders event ids ("<ms>-<seq>", 64-bit numbers): <0, 0 or >0. */
export function compareIds(a, b) {
  const [am, as] = String(a).split('-').map(BigInt);
  const [bm, bs] = String(b).split('-').map(BigInt);
  return am !== bm ? (am < bm ? -1 : 1) : (as < bs ? -1 : as > bs ? 1 : 0);
}

/** Runs redis-cli against the test's Redis (e.g. redisCli(env, 'XLEN', key)); resolves to stdout. */
export function redisCli(env, ...args) {
  return run('redis-cli', ['-p', String(env.redisPort), ...args.map(String)]);
}

/** Every entry of a Redis Stream as {id, event} (the parsed JSON of the field `event`), oldest first. */
export async function streamEntries(env, key) {
  // Without a terminal redis-cli prints one reply element per line: id, field, value, id, ...
  // (the event JSON has no raw newlines: json_encode escapes them).
  const lines = (await redisCli(env, 'XRANGE', key, '-', '+')).split('\n').filter((l) => l !== '');
  if (lines.length % 3) throw new Error(`unexpected XRANGE output:\n${lines.join('\n')}`);
  const entries = [];
  for (let i = 0; i < lines.length; i += 3) {
    if (lines[i + 1] !== 'event') throw new Error(`stream entry ${lines[i]} has field ${lines[i + 1]}, not event`);
    entries.push({ id: lines[i], event: JSON.parse(lines[i + 2]) });
  }
  return entries;
}

/** Closes every popup on the page (as if the reader clicked them away). */
export async function clearNotices(page) {
  await page.evaluate(() => {
    document.querySelectorAll('.mw-notification').forEach((el) => {
      const n = $(el).data('mw-notification');
      if (n) n.close();
      el.remove();
    });
  });
}

/**
 * The wiki's job queue (e2e/wiki.sh jobs): { type: { queued, claimed } } for each type with jobs.
 */
export async function wikiJobs(env) {
  const out = await run('bash', [join(E2E, 'wiki.sh'), 'jobs', env.wikiDir]);
  const jobs = {};
  for (const m of out.matchAll(/^(\S+): (\d+) queued; (\d+) claimed/gm)) {
    jobs[m[1]] = { queued: Number(m[2]), claimed: Number(m[3]) };
  }
  return jobs;
}

/** A page view of the wiki (as an anonymous reader); on a stock wiki each one runs a job after its response. */
export async function pageView(env, title = 'Main_Page') {
  const r = await fetch(`${env.wiki}/index.php?title=${encodeURIComponent(title)}`);
  await r.arrayBuffer();
  return r.status;
}
