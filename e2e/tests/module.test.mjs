// The browser module's files on their own: ES5 syntax (MediaWiki 1.39 serves modules to ES5
// browsers unless they declare "es6": true), checked by MediaWiki's own parser. Their logic has
// fast unit tests in extension/RealTimeNotify/tests/node/.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join, REPO, E2E } from '../lib/env.mjs';

const MODULE_DIR = join(REPO, 'extension/RealTimeNotify/modules/ext.realtimenotify');
const MW = process.env.MW_INSTALL_PATH || '/usr/share/mediawiki';

it('every module file is ES5 (MediaWiki\'s own parser), and every one is in extension.json', () => {
  const files = readdirSync(MODULE_DIR).filter((f) => f.endsWith('.js')).map((f) => join(MODULE_DIR, f));
  assert.deepEqual(files.map((f) => f.split('/').pop()).sort(), [
    'actions.js', 'connection.js', 'desktop.js', 'index.js', 'notices.js', 'parts.js', 'policy.js', 'resume.js',
    'summary.js', 'tabs.js',
  ]);
  const manifest = JSON.parse(readFileSync(join(REPO, 'extension/RealTimeNotify/extension.json'), 'utf8'));
  assert.deepEqual([...manifest.ResourceModules['ext.realtimenotify'].packageFiles].sort(),
    files.map((f) => f.split('/').pop()).sort());
  const out = execFileSync('php', [join(E2E, 'lib/es5check.php'), MW, ...files], { encoding: 'utf8' });
  assert.equal(out.match(/^ES5 OK/mg).length, files.length, out);
});
