// resume.js: event ids, the resume point, and the Feed that turns gateway frames into notices.
'use strict';
const { test } = require( 'node:test' );
const assert = require( 'node:assert/strict' );
const { load } = require( './load.js' );

const { isNewer, matches, ResumePoint, Feed, MAX_AGE } = load( 'resume.js' );
// Values made in the module's own context have other prototypes: compare plain copies.
const plain = ( x ) => JSON.parse( JSON.stringify( x ) );

function memoryStorage( initial = {} ) {
	const data = { ...initial };
	return { data, get: ( k ) => data[ k ] || null, set: ( k, v ) => {
		data[ k ] = v;
	} };
}

function point( { storage = memoryStorage(), clock = { t: 1000000 }, onChange } = {} ) {
	return new ResumePoint( { storage, key: 'k', now: () => clock.t, onChange } );
}

test( 'event ids compare as 64-bit numbers, not as strings or floats', () => {
	assert.equal( isNewer( '1764032523000-1', '1764032523000-0' ), true );
	assert.equal( isNewer( '1764032523000-0', '1764032523000-0' ), false );
	assert.equal( isNewer( '1764032523001-0', '1764032523000-99' ), true );
	assert.equal( isNewer( '999-0', '1000-0' ), false, 'numeric, not lexicographic' );
	assert.equal( isNewer( '1-18446744073709551615', '1-18446744073709551614' ), true, 'beyond 2^53' );
	assert.equal( isNewer( '0001-5', '1-4' ), true, 'leading zeros' );
	assert.equal( isNewer( '1-0', null ), true );
	assert.equal( isNewer( 'garbage', '1-0' ), false );
	assert.equal( isNewer( '1-0-0', null ), false );
	assert.equal( isNewer( undefined, null ), false );
} );

test( 'the resume point only moves forward, and saves and shares each move', () => {
	const shared = [];
	const storage = memoryStorage();
	const p = point( { storage, onChange: ( x ) => shared.push( x.id ) } );
	assert.equal( p.remember( '10-0' ), true );
	assert.equal( p.remember( '9-5' ), false );
	assert.equal( p.remember( '10-0' ), false );
	assert.equal( p.remember( 'nope' ), false );
	assert.equal( p.remember( '10-1' ), true );
	assert.equal( p.id, '10-1' );
	assert.deepEqual( shared, [ '10-0', '10-1' ] );
	assert.deepEqual( { ...storage.data.k }, { id: '10-1', time: 1000000 } );
} );

test( 'a new leader takes the newest fresh point: storage or the previous leader\'s broadcast', () => {
	const clock = { t: 1000000 };
	const storage = memoryStorage( { k: { id: '20-0', time: clock.t - 1000 } } );
	let p = point( { storage, clock } );
	p.adopt( { id: '21-0', time: clock.t - 500 } );
	p.takeOver();
	assert.equal( p.id, '21-0', 'the broadcast is newer' );

	p = point( { storage, clock } );
	p.adopt( { id: '19-0', time: clock.t } );
	p.takeOver();
	assert.equal( p.id, '20-0', 'storage is newer' );

	// Stale: nobody vouched for it for longer than MAX_AGE.
	clock.t += MAX_AGE + 1;
	p = point( { storage, clock } );
	p.takeOver();
	assert.equal( p.id, null );

	// A damaged store is no point at all.
	p = point( { storage: memoryStorage( { k: { id: '<script>', time: clock.t } } ), clock } );
	p.takeOver();
	assert.equal( p.id, null );
	p = point( { storage: { get: () => {
		throw new Error( 'denied' );
	}, set: () => {} }, clock } );
	p.takeOver();
	assert.equal( p.id, null );
} );

test( 'followers adopt only newer points; vouch() refreshes the time', () => {
	const clock = { t: 5000 };
	const p = point( { clock } );
	p.adopt( { id: '5-0', time: 1 } );
	p.adopt( { id: '4-0', time: 2 } );
	p.adopt( { id: 'x', time: 3 } );
	assert.deepEqual( [ p.id, p.time ], [ '5-0', 1 ] );
	clock.t = 9000;
	p.vouch();
	assert.equal( p.time, 9000 );
} );

test( 'hello: a fresh start notes where the server is; a resumed one keeps its point', () => {
	const p = point();
	const feed = new Feed( p, null );
	assert.deepEqual( plain( feed.frame( { op: 'hello', last_id: '7-0' } ) ), [] );
	assert.equal( feed.greeted, true );
	assert.equal( p.id, '7-0' );
	feed.frame( { op: 'hello', last_id: '9-0' } );
	assert.equal( p.id, '7-0', 'a reconnect resumes from what it saw, not from the server\'s newest' );
} );

test( 'events: remembered, duplicates dropped, the mode filter applied', () => {
	const p = point();
	const feed = new Feed( p, { types: [ 'alert', 'handled' ] } );
	const alert = { op: 'event', id: '1-0', type: 'alert', page_title: 'A' };
	assert.deepEqual( plain( feed.frame( alert ).map( ( a ) => a.kind ) ), [ 'event' ] );
	assert.deepEqual( plain( feed.frame( alert ) ), [], 'the same id again' );
	assert.deepEqual( plain( feed.frame( { ...alert, id: '0-9' } ) ), [], 'an older id' );
	// Outside the mode: not shown, but remembered (the replay must not bring it back).
	assert.deepEqual( plain( feed.frame( { op: 'event', id: '2-0', type: 'edit', page_title: 'B' } ) ), [] );
	assert.equal( p.id, '2-0' );
	assert.equal( feed.frame( { op: 'event', id: '3-0', type: 'handled', page_title: 'A' } )[ 0 ].event.type, 'handled' );
	// Events without an id (a gateway that does not number them) still show.
	assert.equal( feed.frame( { op: 'event', type: 'alert', page_title: 'C' } ).length, 1 );
} );

test( 'lost: resume after `resume_after` (decision B), else an older gateway\'s `oldest`', () => {
	let p = point();
	p.remember( '5-0' );
	let feed = new Feed( p, null );
	assert.deepEqual( plain( feed.frame( { op: 'lost', since: '5-0', resume_after: '90-3', oldest: '90-4' } ) ), [ { kind: 'lost' } ] );
	assert.equal( p.id, '90-3' );
	assert.equal( feed.losses, 1 );

	p = point();
	p.remember( '5-0' );
	feed = new Feed( p, null );
	feed.frame( { op: 'lost', since: '5-0', oldest: '90-4' } );
	assert.equal( p.id, '90-4' );

	// A lost frame in the middle of a connection never moves the point back.
	p = point();
	p.remember( '100-0' );
	feed = new Feed( p, null );
	feed.frame( { op: 'lost', since: '100-0', resume_after: '99-0' } );
	assert.equal( p.id, '100-0' );
	// Nothing to resume after: still reported.
	assert.deepEqual( plain( feed.frame( { op: 'lost', since: '100-0' } ) ), [ { kind: 'lost' } ] );
} );

test( 'other frames do nothing', () => {
	const feed = new Feed( point(), null );
	for ( const op of [ 'pong', 'resumed', 'subscribed', 'authenticated', 'error', 'nonsense' ] ) {
		assert.deepEqual( plain( feed.frame( { op } ) ), [] );
	}
} );

test( 'filters: what the gateway applies, checked again in one place', () => {
	const edit = { type: 'edit', namespace: 0, page_title: 'P', bot: false, minor: true };
	assert.equal( matches( null, edit ), true );
	assert.equal( matches( {}, edit ), true );
	assert.equal( matches( { addressed: true }, edit ), true, 'addressed is the gateway\'s call' );
	assert.equal( matches( { types: [ 'alert' ] }, edit ), false );
	assert.equal( matches( { types: [ 'edit' ] }, { page_title: 'P' } ), true, 'no type means edit' );
	assert.equal( matches( { namespaces: [ 1 ] }, edit ), false );
	assert.equal( matches( { namespaces: [ 0 ] }, edit ), true );
	assert.equal( matches( { exclude_minor: true }, edit ), false );
	assert.equal( matches( { exclude_bots: true }, edit ), true );
	assert.equal( matches( { titles: [ 'Q' ] }, edit ), false );
	assert.equal( matches( { titles: [ 'Q' ] }, { ...edit, target_title: 'Q' } ), true );
} );
