// The harness's watch on PHP warnings (env.stop() fails a test file when the wiki logged a
// warning, notice or deprecation that comes from the extension) really sees them: a probe file
// whose path names RealTimeNotify/ raises a warning and calls a hard-deprecated function during
// an API request, next to an unrelated warning; all are logged (E_ALL, $wgDevelopmentWarnings,
// PHP's error_log and MediaWiki's channels), none reaches the response, and only the probe's are
// counted as the extension's.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import {
  MW_VERSION, join, startEnv, waitFor, extensionWarnings, existsSync,
} from '../lib/env.mjs';
import { MwApi } from '../lib/mwapi.mjs';

const PROBE = `<?php
// Stands in for a file of the extension: its path names RealTimeNotify/.
function rtnProbeOld() {
	wfDeprecated( __FUNCTION__, '1.0' );
}

function rtnProbeEntry() {
	trigger_error( 'RTN probe warning', E_USER_WARNING );
	rtnProbeOld();
}
`;

// Per-test settings: the probe runs on API requests that ask for it; the unrelated warning is
// raised from extra.php itself.
const EXTRA = `
$wgHooks['ApiBeforeMain'][] = static function () {
	if ( !isset( $_GET['rtnprobe'] ) ) {
		return;
	}
	trigger_error( 'RTN unrelated warning', E_USER_WARNING );
	require_once __DIR__ . '/probe/RealTimeNotify/Probe.php';
	rtnProbeEntry();
};`;

const LOGS = ['php-error.log', 'error.log', 'deprecated.log'];

describe(`PHP warnings are caught and attributed (MediaWiki ${MW_VERSION})`, () => {
  let env;

  before(async () => {
    env = await startEnv('warnings', { extraPhp: EXTRA });
    mkdirSync(join(env.wikiDir, 'probe/RealTimeNotify'), { recursive: true });
    writeFileSync(join(env.wikiDir, 'probe/RealTimeNotify/Probe.php'), PROBE);
  });

  after(async () => {
    await env?.stop();
  });

  it('logs every warning, shows none, and counts only those from the extension\'s files', async () => {
    assert.deepEqual(extensionWarnings(env.wikiDir), [], 'nothing before the probe');
    // A JSON answer: no warning text in the response (MwApi throws on anything but JSON).
    const r = await new MwApi(env.wiki).request({ action: 'query', meta: 'siteinfo', rtnprobe: '1' });
    assert.equal(r.query?.general?.generator?.startsWith(`MediaWiki ${MW_VERSION}`), true, JSON.stringify(r));

    const read = (f) => (existsSync(join(env.wikiDir, f)) ? readFileSync(join(env.wikiDir, f), 'utf8') : '');
    await waitFor(() => read('php-error.log').includes('rtnProbeOld'), { what: 'the probe\'s entries in php-error.log' });
    const php = read('php-error.log');
    assert.match(php, /PHP Warning: {2}RTN probe warning in \S+\/probe\/RealTimeNotify\/Probe\.php/);
    assert.match(php, /RTN unrelated warning/);
    assert.match(php, /PHP Deprecated: {2}Use of rtnProbeOld was deprecated in MediaWiki 1\.0\. \[Called from rtnProbeEntry in \S+\/RealTimeNotify\/Probe\.php/);
    // MediaWiki's error channel, with a backtrace (1.39 also writes deprecations to its
    // 'deprecated' channel; 1.43 does not when $wgDevelopmentWarnings raises them as errors).
    assert.match(read('error.log'), /RTN probe warning/);
    assert.match(read('error.log'), /PHP Deprecated: Use of rtnProbeOld .*\n(#.*\n)*#\d+ \S+\/RealTimeNotify\/Probe\.php/);

    const found = extensionWarnings(env.wikiDir);
    assert.ok(found.some((w) => w.startsWith('php-error.log:') && w.includes('RTN probe warning')), found.join('\n'));
    assert.ok(found.some((w) => w.startsWith('php-error.log:') && w.includes('rtnProbeOld')), found.join('\n'));
    assert.ok(found.some((w) => w.startsWith('error.log:') && w.includes('RTN probe warning')), found.join('\n'));
    assert.ok(found.some((w) => w.startsWith('error.log:') && w.includes('rtnProbeOld')), found.join('\n'));
    assert.equal(found.filter((w) => w.includes('RTN unrelated warning')).length, 0, found.join('\n'));

    // The probe was the point: its entries must not fail this file in env.stop().
    for (const f of LOGS) writeFileSync(join(env.wikiDir, f), '');
  });
});
