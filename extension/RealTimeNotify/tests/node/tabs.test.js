// tabs.js without Web Locks: the tabs elect the oldest as leader over a BroadcastChannel, a
// leader that says goodbye is replaced at once, two that started together settle on one, and
// each routed message is shown by exactly one tab. A fake channel and clock stand in for the
// browser's.
'use strict';
const { test } = require( 'node:test' );
const assert = require( 'node:assert/strict' );
const { load } = require( './load.js' );

/** A browser: one BroadcastChannel bus, one clock, timers run by hand. */
function browser() {
	const b = { now: 1000, timers: [], channels: [] };
	b.BroadcastChannel = class {
		constructor( name ) {
			this.name = name;
			this.onmessage = null;
			b.channels.push( this );
		}

		postMessage( data ) {
			if ( this.closed ) {
				return;
			}
			// Asynchronous in browsers; delivered by flush().
			for ( const other of b.channels ) {
				if ( other !== this && other.name === this.name && !other.closed ) {
					b.queue.push( () => other.onmessage && other.onmessage( { data: JSON.parse( JSON.stringify( data ) ) } ) );
				}
			}
		}
	};
	b.queue = [];
	b.flush = () => {
		while ( b.queue.length ) {
			b.queue.shift()();
		}
	};
	b.advance = ( ms ) => {
		const until = b.now + ms;
		for ( ;; ) {
			b.flush();
			const due = b.timers.filter( ( t ) => !t.done && t.at <= until ).sort( ( x, y ) => x.at - y.at )[ 0 ];
			if ( !due ) {
				break;
			}
			b.now = due.at;
			if ( due.every ) {
				due.at += due.every;
			} else {
				due.done = true;
			}
			due.fn();
		}
		b.now = until;
		b.flush();
	};
	const timer = ( every ) => ( fn, ms ) => {
		b.timers.push( { fn, at: b.now + ms, every: every ? ms : 0 } );
		return b.timers.length;
	};
	b.globals = { setTimeout: timer( false ), setInterval: timer( true ), Math, Date, JSON, Object, Array };
	return b;
}

/** A tab of that browser, without Web Locks. */
function tab( b, name ) {
	const Tabs = load( 'tabs.js', b.globals );
	const listeners = {};
	const win = {
		addEventListener: ( type, fn ) => {
			( listeners[ type ] = listeners[ type ] || [] ).push( fn );
		},
		navigator: {}
	};
	const docListeners = {};
	const doc = { visibilityState: 'visible', hasFocus: () => false, addEventListener: ( type, fn ) => {
		( docListeners[ type ] = docListeners[ type ] || [] ).push( fn );
	} };
	const t = { name, shown: [], leads: 0, resigned: 0 };
	t.tabs = new Tabs( 'wiki:Alice', ( m ) => t.shown.push( m ), () => {}, {
		window: win, document: doc, navigator: win.navigator, BroadcastChannel: b.BroadcastChannel, now: () => b.now
	} );
	t.start = () => t.tabs.start( () => t.leads++, () => t.resigned++ );
	// As a browser closes a tab: 'pagehide', then 'visibilitychange' (hidden), then it is gone.
	t.close = () => {
		for ( const fn of listeners.pagehide || [] ) {
			fn( {} );
		}
		doc.visibilityState = 'hidden';
		for ( const fn of docListeners.visibilitychange || [] ) {
			fn( {} );
		}
		b.flush();
		t.tabs.channel.closed = true;
	};
	return t;
}

const roles = ( tabs ) => tabs.map( ( t ) => t.tabs.role );

test( 'the oldest tab leads; a newer one never takes over', () => {
	const b = browser();
	const first = tab( b, 'first' );
	first.start();
	assert.equal( first.tabs.election, 'channel' );
	assert.equal( first.tabs.role, 'follower', 'not before it listened for others' );
	b.advance( 400 );
	assert.deepEqual( roles( [ first ] ), [ 'leader' ] );
	b.now += 5000;
	const second = tab( b, 'second' );
	second.start();
	b.advance( 400 );
	assert.deepEqual( roles( [ first, second ] ), [ 'leader', 'follower' ] );
	b.advance( 60000 );
	assert.deepEqual( roles( [ first, second ] ), [ 'leader', 'follower' ] );
	assert.equal( first.leads, 1 );
	assert.equal( second.leads, 0 );
} );

test( 'when the leader says goodbye, the next oldest leads at once', () => {
	const b = browser();
	const tabs = [ 'a', 'b', 'c' ].map( ( n ) => {
		const t = tab( b, n );
		t.start();
		b.advance( 1000 );
		return t;
	} );
	assert.deepEqual( roles( tabs ), [ 'leader', 'follower', 'follower' ] );
	tabs[ 0 ].close();
	b.flush();
	assert.deepEqual( roles( tabs.slice( 1 ) ), [ 'leader', 'follower' ] );
} );

test( 'a leader that vanished without a word is forgotten, later', () => {
	const b = browser();
	const a = tab( b, 'a' );
	a.start();
	b.advance( 1000 );
	const c = tab( b, 'c' );
	c.start();
	b.advance( 1000 );
	assert.deepEqual( roles( [ a, c ] ), [ 'leader', 'follower' ] );
	a.tabs.channel.closed = true; // crashed: no 'bye', no more presence
	b.advance( 60000 );
	assert.equal( c.tabs.role, 'follower', 'a minute of silence may be a throttled background tab' );
	b.advance( 200000 );
	assert.equal( c.tabs.role, 'leader' );
} );

test( 'two tabs that start together settle on one leader', () => {
	const b = browser();
	const [ a, c ] = [ tab( b, 'a' ), tab( b, 'c' ) ];
	a.start();
	c.start();
	b.advance( 1000 );
	assert.equal( roles( [ a, c ] ).filter( ( r ) => r === 'leader' ).length, 1 );
	assert.equal( a.resigned + c.resigned, 0 );
} );

test( 'a routed message is shown by one tab; everywhere() by all', () => {
	const b = browser();
	const tabs = [ 'a', 'b' ].map( ( n ) => {
		const t = tab( b, n );
		t.start();
		b.advance( 1000 );
		return t;
	} );
	tabs[ 0 ].tabs.route( { kind: 'event', n: 1 } );
	b.flush();
	assert.equal( tabs[ 0 ].shown.length + tabs[ 1 ].shown.length, 1 );
	tabs[ 0 ].tabs.everywhere( { kind: 'hook', n: 2 } );
	b.flush();
	assert.deepEqual( tabs.map( ( t ) => t.shown.filter( ( m ) => m.kind === 'hook' ).length ), [ 1, 1 ] );
} );

test( 'without BroadcastChannel each tab is on its own', () => {
	const b = browser();
	const t = tab( b, 'solo' );
	t.tabs.Channel = undefined;
	t.start();
	assert.equal( t.tabs.role, 'solo' );
	assert.equal( t.tabs.election, 'none' );
	assert.equal( t.leads, 1 );
	t.tabs.everywhere( { kind: 'hook' } );
	t.tabs.route( { kind: 'event' } );
	assert.equal( t.shown.length, 2 );
} );
