/**
 * Special:RealTimeNotifyStatus: refreshes the numbers the page was served with
 * (action=realtimenotifystatus, read server-side from the gateway), draws the chart, and times a
 * test event from the button press until it arrives on a socket of this page's own.
 *
 * The socket is opened with a connection token of the administrator (action=realtimenotifytoken),
 * like the live notifications module's, so the test event (type "test", addressed to the
 * administrator alone) takes the same path as every addressed event: wiki → broker → gateway →
 * socket. This page does not depend on the administrator's preferences (the notifications module
 * may be off for them).
 */
'use strict';

var chart = require( './chart.js' );
var PROTOCOL = 'realtimenotify.v1';
var TOKEN_PROTOCOL_PREFIX = 'realtimenotify.token.';
var REFRESH_MS = 10000;
var TEST_TIMEOUT_MS = 15000;

/**
 * A path ('/realtime/v1/ws') is on this wiki's own host, as in the notifications module.
 *
 * @param {string} url
 * @return {string}
 */
function socketUrl( url ) {
	if ( /^wss?:\/\//i.test( url ) ) {
		return url;
	}
	return ( location.protocol === 'https:' ? 'wss://' : 'ws://' ) + location.host +
		( url.charAt( 0 ) === '/' ? '' : '/' ) + url;
}

/**
 * @param {number|null} v
 * @return {string}
 */
function num( v ) {
	return v === null || v === undefined ? '–' : mw.language.convertNumber( Math.round( v * 10 ) / 10 );
}

/**
 * The text of one cell, as SpecialRealTimeNotifyStatus::value() writes it.
 *
 * @param {string} field
 * @param {Object} s The report
 * @return {string}
 */
function value( field, s ) {
	switch ( field ) {
		case 'ready':
			return mw.msg( s.ready ? 'realtimenotify-status-ready' : 'realtimenotify-status-notready' );
		case 'version':
			return s.version;
		case 'source':
		case 'broker':
			return mw.msg( 'realtimenotify-status-part', s[ field ].kind,
				mw.msg( s[ field ].up ? 'realtimenotify-status-up' : 'realtimenotify-status-down' ) );
		case 'latency':
			return mw.msg( 'realtimenotify-status-latency-value', num( s.latency_p50_ms ), num( s.latency_p99_ms ) );
		case 'last_event_age_seconds':
			return s[ field ] === null ? mw.msg( 'realtimenotify-status-none' ) :
				mw.msg( 'realtimenotify-status-ago', num( s[ field ] ) );
		case 'events_received':
		case 'events_delivered':
		case 'slow_client_drops':
			return mw.msg( 'realtimenotify-status-recent', num( s[ field ] ), num( s.recent_seconds ) );
		default:
			return num( s[ field ] );
	}
}

/**
 * @param {HTMLElement} root
 * @param {Object} result { ok, error?, status? }
 */
function show( root, result ) {
	var s = result.status;
	Array.prototype.forEach.call( root.querySelectorAll( '[data-rtn-field]' ), function ( cell ) {
		var field = cell.getAttribute( 'data-rtn-field' );
		if ( field === 'error' ) {
			// eslint-disable-next-line mediawiki/msg-doc
			cell.textContent = result.ok ? '' : mw.msg( 'realtimenotify-status-error-' + result.error );
		} else if ( field === 'chart' ) {
			chart.draw( cell, s ? s.series : [], {
				received: mw.msg( 'realtimenotify-status-chart-received' ),
				delivered: mw.msg( 'realtimenotify-status-chart-delivered' ),
				clients: mw.msg( 'realtimenotify-status-chart-clients' ),
				empty: mw.msg( 'realtimenotify-status-chart-empty' )
			} );
		} else if ( field !== 'roundtrip' ) {
			cell.textContent = s ? value( field, s ) : '–';
		}
	} );
}

/**
 * The test: a socket of the page's own, then per press a test event, timed.
 *
 * @param {HTMLElement} root
 * @param {Object} config wgRealTimeNotifyStatus
 * @param {mw.Api} api
 * @param {Function} refresh Fetches and shows the numbers now (once the socket counts, and
 *  once a test event arrived, rather than at the next tick)
 */
function tester( root, config, api, refresh ) {
	var button = root.querySelector( '.rtn-status-test' );
	var output = root.querySelector( '.rtn-status-test-result' );
	// uuid → performance.now() at arrival (it may arrive before the API answers).
	var arrived = {};
	var pending = null;

	function say( text ) {
		output.textContent = text;
	}

	function finish( uuid ) {
		if ( pending && pending.uuid === uuid && arrived[ uuid ] !== undefined ) {
			clearTimeout( pending.timer );
			say( mw.msg( 'realtimenotify-status-test-result', num( arrived[ uuid ] - pending.start ) ) );
			root.setAttribute( 'data-rtn-roundtrip', String( arrived[ uuid ] - pending.start ) );
			pending = null;
			button.disabled = false;
			refresh();
		}
	}

	function fail( why ) {
		if ( pending ) {
			clearTimeout( pending.timer );
		}
		pending = null;
		button.disabled = false;
		say( mw.msg( 'realtimenotify-status-test-failed', String( why ) ) );
	}

	function onMessage( message ) {
		var frame;
		try {
			frame = JSON.parse( message.data );
		} catch ( e ) {
			return;
		}
		if ( frame && frame.op === 'event' && frame.type === 'test' && typeof frame.uuid === 'string' ) {
			arrived[ frame.uuid ] = performance.now();
			finish( frame.uuid );
		}
	}

	function connect() {
		say( mw.msg( 'realtimenotify-status-test-connecting' ) );
		var request = { action: 'realtimenotifytoken', formatversion: 2 };
		return api.postWithToken( 'csrf', request ).then( function ( data ) {
			var token = data.realtimenotifytoken.token;
			var socket = new WebSocket( socketUrl( config.url ), [ PROTOCOL, TOKEN_PROTOCOL_PREFIX + token ] );
			socket.onmessage = onMessage;
			socket.onopen = function () {
				root.setAttribute( 'data-rtn-socket', 'open' );
				say( '' );
				button.disabled = false;
				refresh();
			};
			socket.onclose = function ( e ) {
				root.setAttribute( 'data-rtn-socket', 'closed' );
				button.disabled = true;
				fail( e.code );
			};
		}, function ( code ) {
			fail( code );
		} );
	}

	button.addEventListener( 'click', function () {
		button.disabled = true;
		root.removeAttribute( 'data-rtn-roundtrip' );
		say( mw.msg( 'realtimenotify-status-test-waiting' ) );
		pending = { uuid: null, start: performance.now(), timer: setTimeout( function () {
			fail( 'timeout' );
		}, TEST_TIMEOUT_MS ) };
		var request = { action: 'realtimenotifystatus', sendtest: 1, formatversion: 2 };
		api.postWithToken( 'csrf', request ).then( function ( data ) {
			if ( pending ) {
				pending.uuid = data.realtimenotifystatus.uuid;
				finish( pending.uuid );
			}
		}, function ( code ) {
			fail( code );
		} );
	} );
	connect();
}

$( function () {
	var root = document.querySelector( '.rtn-status' );
	var config = mw.config.get( 'wgRealTimeNotifyStatus' );
	var api = new mw.Api();
	if ( !root || !config ) {
		return;
	}
	function refresh() {
		api.postWithToken( 'csrf', { action: 'realtimenotifystatus', formatversion: 2 } ).then( function ( data ) {
			show( root, data.realtimenotifystatus );
		} );
	}
	show( root, config.initial );
	setInterval( refresh, REFRESH_MS );
	if ( config.url && window.WebSocket ) {
		tester( root, config, api, refresh );
	}
} );

module.exports = { value: value };
