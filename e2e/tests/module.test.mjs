// The browser module's files on their own: the syntax the MediaWiki under test accepts (1.39
// serves modules to ES5 browsers unless they declare "es6": true, so ES5 there; 1.43's own parser
// there). Their logic has fast unit tests in extension/RealTimeNotify/tests/node/.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join, REPO, E2E, MW_DIR, MW_VERSION } from '../lib/env.mjs';

const MODULE_DIR = join(REPO, 'extension/RealTimeNotify/modules/ext.realtimenotify');

it(`every module file parses with MediaWiki ${MW_VERSION}'s own parser (1.39: ES5), and every one is in extension.json`, () => {
  const files = readdirSync(MODULE_DIR).filter((f) => f.endsWith('.js')).map((f) => join(MODULE_DIR, f));
  assert.deepEqual(files.map((f) => f.split('/').pop()).sort(), [
    'actions.js', 'badges.js', 'connection.js', 'desktop.js', 'index.js', 'notices.js', 'parts.js', 'policy.js', 'resume.js',
    'summary.js', 'tabs.js',
  ]);
  const manifest = JSON.parse(readFileSync(join(REPO, 'extension/RealTimeNotify/extension.json'), 'utf8'));
  assert.deepEqual([...manifest.ResourceModules['ext.realtimenotify'].packageFiles].sort(),
    files.map((f) => f.split('/').pop()).sort());
  const out = execFileSync('php', [join(E2E, 'lib/es5check.php'), MW_DIR, ...files], { encoding: 'utf8' });
  const mode = MW_VERSION === '1.39' ? 'ES5' : 'ES2016';
  assert.equal(out.match(new RegExp(`^${mode} OK`, 'mg'))?.length, files.length, out);
});
