// Every kind of change the extension publishes, made through the wiki's own API on the version
// under test: a creation, a move, a deletion and an upload each reach Alice's browser as an event
// with the right fields and pop up saying who did what; and Special:Preferences shows the
// extension's options. These run every hook of the extension (PageSaveComplete, PageMoveComplete,
// PageDeleteComplete, UploadComplete, GetPreferences, BeforePageDisplay) and the token API, so
// that env.stop() would see any PHP warning or deprecation they cause on this MediaWiki.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  MW_VERSION, startEnv, openAs, waitConnected, waitForNotice, waitFor, sleep,
} from '../lib/env.mjs';
import { MwApi } from '../lib/mwapi.mjs';

const SECRET = 'e2e-changes-secret-0123456789-abcdefghijklmnop';
// A 1×1 PNG.
const PIXEL = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

describe(`every kind of change, and the preferences (MediaWiki ${MW_VERSION})`, () => {
  let env, admin, bob, alice;
  const frames = [];

  /** The first event frame of this type (and page) Alice's browser received. */
  const event = (type, title) => waitFor(
    () => frames.find((f) => f.op === 'event' && f.type === type && f.page_title === title),
    { timeout: 5000, what: `a ${type} event for ${title}` },
  );

  before(async () => {
    env = await startEnv('changes', {
      extraPhp: `$wgRealTimeNotifySecret = '${SECRET}';`,
      gatewayArgs: ['--token-secrets', SECRET, '--wiki-id', 'testwiki'],
    });
    admin = await new MwApi(env.wiki).login('Admin');
    bob = await new MwApi(env.wiki).login('Bob');
    alice = await openAs(env, 'Alice', 'Main_Page');
    await waitConnected(alice.page);
    alice.sockets.at(-1).ws.on('framereceived', (f) => {
      try { frames.push(JSON.parse(String(f.payload))); } catch { /* not JSON */ }
    });
  });

  after(async () => {
    await env?.stop();
  });

  it('a creation pops up as one', async () => {
    const r = await bob.edit('Changing page', 'A new page.', 'created it');
    const e = await event('create', 'Changing page');
    assert.equal(e.user_name, 'Bob');
    assert.equal(e.summary, 'created it');
    assert.equal(e.rev_id, r.newrevid);
    const text = await waitForNotice(alice.page, 'Bob created Changing page');
    assert.ok(text.includes('created it'), text);
  });

  it('a move names both titles', async () => {
    await sleep(1100); // a popup of its own, not part of the previous one's burst
    await bob.move('Changing page', 'Moved page', 'moved it');
    const e = await event('move', 'Changing page');
    assert.equal(e.user_name, 'Bob');
    assert.equal(e.target_title, 'Moved page');
    assert.equal(e.summary, 'moved it');
    // The redirect left behind is part of the move, not a change of its own.
    await sleep(500);
    assert.equal(frames.filter((f) => f.op === 'event' && f.type === 'create').length, 1, JSON.stringify(frames));
    const text = await waitForNotice(alice.page, 'Bob moved Changing page to Moved page');
    assert.ok(text.includes('moved it'), text);
  });

  it('a deletion pops up with its reason', async () => {
    await sleep(1100);
    await admin.delete('Moved page', 'deleted it');
    const e = await event('delete', 'Moved page');
    assert.equal(e.user_name, 'Admin');
    assert.equal(e.summary, 'deleted it');
    const text = await waitForNotice(alice.page, 'Admin deleted Moved page');
    assert.ok(text.includes('deleted it'), text);
  });

  it('an upload pops up as one, not as the creation of its description page', async () => {
    await sleep(1100);
    const r = await bob.upload('Rtn pixel.png', PIXEL, 'uploaded it');
    assert.equal(r.filename, 'Rtn_pixel.png');
    const e = await event('upload', 'File:Rtn pixel.png');
    assert.equal(e.user_name, 'Bob');
    assert.equal(e.summary, 'uploaded it');
    const text = await waitForNotice(alice.page, 'Bob uploaded File:Rtn pixel.png');
    assert.ok(text.includes('uploaded it'), text);
    await sleep(500);
    assert.equal(frames.filter((f) => f.op === 'event' && f.page_title === 'File:Rtn pixel.png').length, 1,
      JSON.stringify(frames.filter((f) => f.op === 'event')));
  });

  it('Special:Preferences offers the switch and the modes, set as stored', async () => {
    const { page } = alice;
    await page.goto(`${env.wiki}/index.php?title=Special:Preferences`);
    const toggle = page.locator('input[name="wprealtimenotify-enable"]');
    assert.equal(await toggle.count(), 1);
    assert.equal(await toggle.isChecked(), true);
    const modes = await page.locator('input[name="wprealtimenotify-mode"]').evaluateAll(
      (els) => els.map((el) => [el.value, el.checked]));
    assert.deepEqual(modes, [['all', true], ['watchlist', false]], 'Alice cannot patrol: no alerts-only mode');
    // The module runs on the preferences page too.
    await waitConnected(page);
  });
});
