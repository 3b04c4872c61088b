// policy.js: what the browser does after each close code (decision A in plan/COORDINATION.md,
// docs/protocol.md).
'use strict';
const { test } = require( 'node:test' );
const assert = require( 'node:assert/strict' );
const { readFileSync } = require( 'node:fs' );
const { join } = require( 'node:path' );
const { load } = require( './load.js' );

const { Backoff, CODES, MAX_DELAY, LONG_MAX_DELAY } = load( 'policy.js' );
const names = JSON.parse( readFileSync( join( __dirname, '..', '..', '..', '..', 'contract', 'names.json' ), 'utf8' ) );

test( 'the codes are the contract\'s', () => {
	const c = names.close_codes;
	assert.equal( CODES.LAGGED, c.lagged );
	assert.equal( CODES.TOKEN_EXPIRED, c.token_expired );
	assert.equal( CODES.BAD_REQUEST, c.bad_request );
	assert.equal( CODES.UNAUTHORIZED, c.unauthorized );
	assert.equal( CODES.FORBIDDEN, c.forbidden );
	assert.equal( CODES.TOO_MANY, c.too_many_connections );
} );

test( '4401: a new token at once; twice in a row: back off; a greeting resets', () => {
	const b = new Backoff( () => 0.5 );
	let d = b.afterClose( 4401 );
	assert.deepEqual( { ...d }, { stop: null, delay: 0, forgetResume: false } );
	d = b.afterClose( 4401 );
	assert.equal( d.stop, null );
	assert.ok( d.delay > 0, 'the second refusal in a row backs off' );
	const third = b.afterClose( 4401 ).delay;
	assert.ok( third > d.delay, 'and longer each time' );
	b.greeted();
	assert.equal( b.afterClose( 4401 ).delay, 0, 'after a greeting, the next refusal is the first again' );
} );

test( '4001 (token expired on an open connection) reconnects at once too', () => {
	const b = new Backoff( () => 0.5 );
	b.greeted();
	assert.equal( b.afterClose( 4001 ).delay, 0 );
	assert.ok( b.afterClose( 4401 ).delay > 0, 'then a refusal of the new token counts as the second' );
} );

test( '4403: stop, and say why', () => {
	const b = new Backoff();
	assert.equal( b.afterClose( 4403 ).stop, 'forbidden' );
} );

test( '4429: longer than the usual backoff, never almost nothing', () => {
	const usual = new Backoff( () => 0.999 );
	const longer = new Backoff( () => 0 );
	for ( let i = 0; i < 3; i++ ) {
		const a = usual.afterClose( 1006 ).delay;
		const b = longer.afterClose( 4429 ).delay;
		assert.ok( b >= a, `attempt ${ i }: 4429 waits ${ b } ms, a network error up to ${ a } ms` );
		assert.ok( b >= 5000, `attempt ${ i }: ${ b } ms` );
	}
	const capped = new Backoff( () => 0.999 );
	for ( let i = 0; i < 20; i++ ) {
		assert.ok( capped.afterClose( 4429 ).delay <= LONG_MAX_DELAY );
	}
} );

test( '4400: forget the resume point and retry; twice in a row: stop', () => {
	const b = new Backoff( () => 0.5 );
	const first = b.afterClose( 4400 );
	assert.equal( first.forgetResume, true );
	assert.equal( first.stop, null );
	assert.equal( b.afterClose( 4400 ).stop, 'bad-request' );
} );

test( 'other codes: full jitter, exponential, capped at 30 s, reset once stable', () => {
	let r = 0.999;
	const b = new Backoff( () => r );
	const delays = [ 1000, 1006, 1001, 4000, null, 1006 ].map( ( code ) => b.afterClose( code ).delay );
	assert.deepEqual( delays, [ 999, 1998, 3996, 7992, 15984, 29970 ] );
	for ( let i = 0; i < 30; i++ ) {
		assert.ok( b.afterClose( 1006 ).delay <= MAX_DELAY );
	}
	b.stable();
	assert.equal( b.afterClose( 1006 ).delay, 999 );
	r = 0;
	assert.equal( b.afterClose( 1006 ).delay, 0, 'full jitter: anywhere from 0' );
} );
