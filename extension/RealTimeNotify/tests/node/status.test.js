// ext.realtimenotify.status/chart.js: the status page's chart is SVG built from numbers, with
// nothing of the gateway's answer parsed as markup. jsdom stands in for the browser's document.
'use strict';
const { test } = require( 'node:test' );
const assert = require( 'node:assert/strict' );
const { readFileSync } = require( 'node:fs' );
const { join } = require( 'node:path' );
const { runInNewContext } = require( 'node:vm' );
const { JSDOM } = require( 'jsdom' );

function loadChart( document ) {
	const module = { exports: {} };
	const file = join( __dirname, '..', '..', 'modules', 'ext.realtimenotify.status', 'chart.js' );
	runInNewContext( readFileSync( file, 'utf8' ), { module, exports: module.exports, document, String, Number, Math, Object },
		{ filename: 'chart.js' } );
	return module.exports;
}

const labels = { received: 'Received', delivered: 'Delivered', clients: 'Clients', empty: 'Not yet' };

test( 'three lines scaled to the largest value, and a legend', () => {
	const { window } = new JSDOM( '<!doctype html><div id="c">old</div>' );
	const chart = loadChart( window.document );
	const el = window.document.getElementById( 'c' );
	chart.draw( el, [
		{ t: 1, clients: 2, received: 0, delivered: 0 },
		{ t: 2, clients: 2, received: 4, delivered: 8 }
	], labels );
	const lines = el.querySelectorAll( 'svg polyline' );
	assert.equal( lines.length, 3 );
	// 8 is the top (y = 28, the padding), 0 the bottom (y = 160 - 28).
	assert.equal( lines[ 1 ].getAttribute( 'points' ), '28.0,132.0 572.0,28.0' );
	assert.deepEqual( [ ...el.querySelectorAll( 'li' ) ].map( ( li ) => li.textContent ), [ 'Received', 'Delivered', 'Clients' ] );
	assert.ok( !el.textContent.includes( 'old' ), 'the previous chart is gone' );
} );

test( 'markup or junk in the series stays text or becomes 0', () => {
	const { window } = new JSDOM( '<!doctype html><div id="c"></div>' );
	const chart = loadChart( window.document );
	const el = window.document.getElementById( 'c' );
	chart.draw( el, [
		{ t: 1, clients: '<img src=x onerror=alert(1)>', received: 1, delivered: 1 },
		{ t: 2, clients: 1, received: 1, delivered: 1 }
	], labels );
	assert.equal( el.querySelectorAll( 'img' ).length, 0 );
	assert.ok( !el.innerHTML.includes( 'onerror' ) );
	assert.match( el.querySelectorAll( 'polyline' )[ 2 ].getAttribute( 'points' ), /^28\.0,132\.0 / );
	assert.equal( el.querySelectorAll( 'polyline' )[ 0 ].getAttribute( 'points' ), '28.0,28.0 572.0,28.0', 'the others still scale' );
} );

test( 'fewer than two points: a sentence instead of a chart', () => {
	const { window } = new JSDOM( '<!doctype html><div id="c"></div>' );
	const el = window.document.getElementById( 'c' );
	loadChart( window.document ).draw( el, [ { t: 1, clients: 1, received: 0, delivered: 0 } ], labels );
	assert.equal( el.textContent, 'Not yet' );
	assert.equal( el.querySelectorAll( 'svg' ).length, 0 );
} );
