// Issue 10 item 8: a private wiki ($wgGroupPermissions['*']['read'] = false, and a Project
// namespace only sysops may read, through a getUserPermissionsErrors hook as Extension:Lockdown
// does) with the gateway in its default, public mode (tokens verified, but not required).
// An anonymous socket receives nothing; signed-in readers who turned live notifications on get
// the changes they may read (addressed to the `read` right their token carries); a change to the
// locked namespace reaches only its watchers who may read it.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEnv, openAs, waitSubscribed, waitForNotice, sleep } from '../lib/env.mjs';
import { MwApi } from '../lib/mwapi.mjs';

const SECRET = 'e2e-visibility-secret-0123456789-abcdefghijkl';
const READABLE = 'Private page';
const LOCKED = 'Project:Secret plans';
const CAROLS = 'Carol watched page';

const SETTINGS = `
$wgRealTimeNotifySecret = '${SECRET}';
$wgGroupPermissions['*']['read'] = false;
$wgHooks['getUserPermissionsErrors'][] = static function ( $title, $user, $action, &$result ) {
	if ( $action === 'read' && $title->getNamespace() === NS_PROJECT && !in_array( 'sysop',
		MediaWiki\\MediaWikiServices::getInstance()->getUserGroupManager()->getUserEffectiveGroups( $user ), true )
	) {
		$result = [ 'badaccess-group0' ];
		return false;
	}
	return true;
};`;

/** A plain WebSocket from the page, without a token: anonymous to the gateway. */
function anonymousSocket(page, url, ms) {
  return page.evaluate(([u, wait]) => new Promise((resolve) => {
    const out = { opened: false, frames: [], code: null };
    const ws = new WebSocket(u, ['realtimenotify.v1']);
    ws.onopen = () => { out.opened = true; };
    ws.onmessage = (m) => { out.frames.push(String(m.data)); };
    ws.onclose = (e) => { out.code = e.code; };
    setTimeout(() => { try { ws.close(); } catch { /* closed */ } resolve(out); }, wait);
  }), [url, ms]);
}

/** Records the event frames a page's sockets receive; returns the list. */
function recordEvents(session) {
  const events = [];
  const record = (ws) => ws.on('framereceived', (f) => {
    try {
      const frame = JSON.parse(String(f.payload));
      if (frame.op === 'event') events.push(frame);
    } catch { /* not JSON */ }
  });
  for (const s of session.sockets) record(s.ws);
  session.page.on('websocket', record);
  return events;
}

// The Project namespace is shown with the wiki's name ("RealTimeNotify Test Wiki:Secret plans").
const titles = (events) => events.map((e) => (e.namespace === 4 ? `Project:${e.page_title.split(':').slice(1).join(':')}` : e.page_title));

describe('private wiki, public gateway: only readers get changes, only what they may read', () => {
  let env, bob, alice, admin, carol;
  const got = {};

  before(async () => {
    env = await startEnv('visibility', {
      extraPhp: SETTINGS,
      gatewayArgs: ['--token-secrets', SECRET, '--wiki-id', 'testwiki'], // --auth-mode stays public
    });
    bob = await new MwApi(env.wiki).login('Bob');
    // Admin (a sysop: may read the Project namespace) turns live notifications on and watches
    // the locked page; Carol (watchlist mode, may not read it) watches it too.
    const adminApi = await new MwApi(env.wiki).login('Admin');
    const opt = await adminApi.request({ action: 'options', change: 'realtimenotify-enable=1', token: await adminApi.token('csrf') }, { post: true });
    assert.equal(opt.options, 'success', JSON.stringify(opt));
    const carolApi = await new MwApi(env.wiki).login('Carol');
    for (const [api, pages] of [[adminApi, [LOCKED]], [carolApi, [LOCKED, CAROLS]]]) {
      const w = await api.request({ action: 'watch', titles: pages.join('|'), token: await api.token('watch') }, { post: true });
      assert.equal(w.watch?.length, pages.length, JSON.stringify(w));
    }

    alice = await openAs(env, 'Alice', 'Main_Page');
    admin = await openAs(env, 'Admin', 'Main_Page');
    carol = await openAs(env, 'Carol', 'Main_Page');
    got.alice = recordEvents(alice);
    got.admin = recordEvents(admin);
    got.carol = recordEvents(carol);
    await Promise.all([alice, admin, carol].map((s) => waitSubscribed(s.page)));
  });

  after(async () => {
    await env?.stop();
  });

  it('the wiki is private', async () => {
    const r = await fetch(`${env.wiki}/api.php?action=query&prop=revisions&titles=Main_Page&format=json`);
    const body = await r.json();
    assert.equal(body.error?.code, 'readapidenied', JSON.stringify(body));
  });

  it('an anonymous socket gets nothing; readers get what they may read', async () => {
    // Open for the whole scene, from Alice's page (the gateway admits it: public mode).
    const anonymous = anonymousSocket(alice.page, env.wsUrl, 9000);
    await sleep(500);

    assert.equal((await bob.edit(READABLE, 'Only for readers.', 'readers only')).result, 'Success');
    await waitForNotice(alice.page, READABLE, 5000);
    await waitForNotice(admin.page, READABLE, 5000);
    await sleep(1200); // not one burst

    assert.equal((await bob.edit(LOCKED, 'Only for sysops.', 'sysops only')).result, 'Success');
    await waitForNotice(admin.page, 'Secret plans', 5000);
    await sleep(1200);

    assert.equal((await bob.edit(CAROLS, 'Carol may read this.', 'for carol')).result, 'Success');
    await waitForNotice(carol.page, CAROLS, 5000);
    await waitForNotice(alice.page, CAROLS, 5000);

    const anon = await anonymous;
    assert.equal(anon.opened, true, 'the public gateway admitted the anonymous socket');
    const anonEvents = anon.frames.map((f) => JSON.parse(f)).filter((f) => f.op === 'event');
    assert.deepEqual(anonEvents, [], 'an anonymous socket receives no change of a private wiki');

    await sleep(500);
    assert.deepEqual(titles(got.admin), [READABLE, LOCKED, CAROLS], 'a sysop watching the locked page gets all three');
    assert.deepEqual(titles(got.alice), [READABLE, CAROLS], 'a reader gets what she may read, not the locked page');
    assert.ok(!titles(got.carol).includes(LOCKED), 'a watcher who may not read the locked page does not get it');
    assert.ok(titles(got.carol).includes(CAROLS));
    assert.ok(!titles(got.carol).includes(READABLE),
      'watchlist mode: readers see every change (visible_to), but only what she watches is addressed to her');
  });
});
