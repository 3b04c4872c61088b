// Loads a packageFiles module file the way ResourceLoader runs it: its own scope, `module`,
// `exports`, and a require() that resolves the module's other files (relative names only).
'use strict';
const { readFileSync } = require( 'node:fs' );
const { join } = require( 'node:path' );
const { runInNewContext } = require( 'node:vm' );

const MODULE = join( __dirname, '..', '..', 'modules', 'ext.realtimenotify' );

/**
 * @param {string} file e.g. 'resume.js'
 * @param {Object} [globals] What the file may see besides module/exports/require (mw, $, window…)
 * @return {*} The file's module.exports
 */
function load( file, globals = {} ) {
	const cache = {};
	function requireFile( name ) {
		const base = name.replace( /^\.\//, '' );
		if ( !cache[ base ] ) {
			cache[ base ] = { exports: {} };
			run( base, cache[ base ] );
		}
		return cache[ base ].exports;
	}
	function run( base, module ) {
		const source = readFileSync( join( MODULE, base ), 'utf8' );
		runInNewContext( source, {
			...globals, module, exports: module.exports, require: requireFile
		}, { filename: base } );
	}
	return requireFile( file );
}

module.exports = { load, MODULE };
