// The browser module against contract/ (repository root): the names and limits that the gateway
// (cargo test) and the extension (PHPUnit) check too. Run: node --test extension/RealTimeNotify/tests/node/
'use strict';
const { test } = require( 'node:test' );
const assert = require( 'node:assert/strict' );
const { readFileSync } = require( 'node:fs' );
const { join } = require( 'node:path' );
const { runInNewContext } = require( 'node:vm' );

const EXTENSION = join( __dirname, '..', '..' );
const CONTRACT = join( EXTENSION, '..', '..', 'contract' );
const MODULE = join( EXTENSION, 'modules', 'ext.realtimenotify' );

const contract = ( file ) => JSON.parse( readFileSync( join( CONTRACT, file ), 'utf8' ) );

/** Loads a packageFiles module file the way ResourceLoader runs it, with a stubbed require(). */
function load( file ) {
	const module = { exports: {} };
	runInNewContext( readFileSync( join( MODULE, file ), 'utf8' ), {
		module, exports: module.exports, require: () => ( {} ), mw: {}, $: () => ( {} )
	} );
	return module.exports;
}

test( 'every handled code and every message the module uses exists in English', () => {
	const names = contract( 'names.json' );
	const manifest = JSON.parse( readFileSync( join( EXTENSION, 'extension.json' ), 'utf8' ) );
	const en = JSON.parse( readFileSync( join( EXTENSION, 'i18n', 'en.json' ), 'utf8' ) );
	const messages = manifest.ResourceModules[ 'ext.realtimenotify' ].messages;
	for ( const code of names.handled_codes ) {
		assert.ok( messages.includes( 'realtimenotify-handled-' + code ), code );
	}
	// Every message the module's code names (literally, or in its "Messages used here" lists)
	// is loaded with the module, and ours have English text.
	let count = 0;
	for ( const file of manifest.ResourceModules[ 'ext.realtimenotify' ].packageFiles ) {
		const source = readFileSync( join( MODULE, file ), 'utf8' );
		const keys = [ ...source.matchAll( /mw\.(?:msg|message)\(\s*'([a-z0-9-]+)'(?=\s*[,)])/g ) ].map( ( m ) => m[ 1 ] );
		for ( const [ , list ] of source.matchAll( /^\s*\/\/ \* ([a-z0-9, -]+)$/gm ) ) {
			keys.push( ...list.split( ', ' ) );
		}
		for ( const key of keys ) {
			count++;
			assert.ok( messages.includes( key ), `${ file }: ${ key } is not in the module's messages` );
			if ( key.startsWith( 'realtimenotify-' ) ) {
				assert.ok( en[ key ], `${ file }: ${ key } has no English text` );
			}
		}
	}
	assert.ok( count > 40, `found ${ count } message keys` );
} );

test( 'subprotocol names match the contract', () => {
	const names = contract( 'names.json' );
	const connection = load( 'connection.js' );
	assert.equal( connection.PROTOCOL, names.subprotocol );
	assert.equal( connection.TOKEN_PROTOCOL_PREFIX, names.token_subprotocol_prefix );
} );

test( 'event types and reason codes match the contract', () => {
	const names = contract( 'names.json' );
	const limits = contract( 'limits.json' );
	const Notices = load( 'notices.js' );
	assert.deepEqual( [ ...Notices.TYPES, 'alert', 'handled', 'test' ].sort(), [ ...names.event_types ].sort() );
	assert.deepEqual( [ ...Notices.HANDLED ], names.handled_codes );
	// Copied: arrays from the module's own context have another Array prototype.
	assert.deepEqual( [ ...Notices.REASONS ], names.alert_reasons );
	assert.equal( Notices.MAX_REASONS, limits.event.reasons_max );
	assert.equal( Notices.REASON_CODE.source, limits.event.reason_code_pattern );
} );

test( 'every reason code has a message the module loads', () => {
	const names = contract( 'names.json' );
	const manifest = JSON.parse( readFileSync( join( EXTENSION, 'extension.json' ), 'utf8' ) );
	const en = JSON.parse( readFileSync( join( EXTENSION, 'i18n', 'en.json' ), 'utf8' ) );
	const messages = manifest.ResourceModules[ 'ext.realtimenotify' ].messages;
	for ( const code of names.alert_reasons ) {
		const key = 'realtimenotify-alert-reason-' + code.replace( /_/g, '-' );
		assert.ok( messages.includes( key ), `${ key } is not in the module's messages` );
		assert.ok( en[ key ], `${ key } has no English text` );
	}
} );
