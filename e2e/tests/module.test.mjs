// The browser module's files on their own: the syntax the MediaWiki under test accepts (1.39
// serves modules to ES5 browsers unless they declare "es6": true, so ES5 there; 1.43's own parser
// there) and the event-id arithmetic used for resuming.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { join, REPO, E2E, MW_DIR, MW_VERSION } from '../lib/env.mjs';

const MODULE_DIR = join(REPO, 'extension/RealTimeNotify/modules/ext.realtimenotify');

it(`every module file parses with MediaWiki ${MW_VERSION}'s own parser (1.39: ES5)`, () => {
  const files = readdirSync(MODULE_DIR).filter((f) => f.endsWith('.js')).map((f) => join(MODULE_DIR, f));
  assert.deepEqual(files.map((f) => f.split('/').pop()).sort(), ['connection.js', 'index.js', 'notices.js', 'tabs.js']);
  const out = execFileSync('php', [join(E2E, 'lib/es5check.php'), MW_DIR, ...files], { encoding: 'utf8' });
  const mode = MW_VERSION === '1.39' ? 'ES5' : 'ES2016';
  assert.equal(out.match(new RegExp(`^${mode} OK`, 'mg'))?.length, files.length, out);
});

it('event ids compare and step back exactly (64-bit, as strings)', () => {
  const module = { exports: {} };
  runInNewContext(readFileSync(join(MODULE_DIR, 'connection.js'), 'utf8'), { module, exports: module.exports });
  const { isNewer, previousId } = module.exports;

  assert.equal(isNewer('1764032523000-1', '1764032523000-0'), true);
  assert.equal(isNewer('1764032523000-0', '1764032523000-0'), false);
  assert.equal(isNewer('1764032523001-0', '1764032523000-99'), true);
  assert.equal(isNewer('999-0', '1000-0'), false, 'numeric, not lexicographic');
  assert.equal(isNewer('1-18446744073709551615', '1-18446744073709551614'), true, 'beyond 2^53');
  assert.equal(isNewer('1-0', null), true);
  assert.equal(isNewer('garbage', '1-0'), false);
  assert.equal(isNewer(undefined, null), false);

  assert.equal(previousId('1764032523000-5'), '1764032523000-4');
  assert.equal(previousId('1764032523000-10'), '1764032523000-9');
  assert.equal(previousId('1764032523000-0'), '1764032522999-18446744073709551615');
  assert.equal(previousId('1000-0'), '999-18446744073709551615');
  assert.equal(previousId('5-18446744073709551615'), '5-18446744073709551614');
  assert.equal(previousId('0-0'), null);
  assert.equal(previousId('nope'), null);
});
