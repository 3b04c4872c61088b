/**
 * One WebSocket to the gateway (docs/protocol.md) that keeps itself alive.
 *
 * - Reconnects by itself; when, and whether at all, policy.js decides from the close code (a
 *   refused token is retried at once with a new one, a forbidden origin stops, a full gateway
 *   is left alone for longer, anything else backs off with jitter).
 * - Every attempt asks the caller where to resume (`?since=`), so nothing is missed across a
 *   restart of the gateway, a lagged close (4000) or a server going away (1001).
 * - With signed connection tokens (cfg.tokenApi) it fetches a fresh token for every attempt
 *   (the gateway accepts each token once) and renews it on the open socket before it expires.
 * - An application-level ping notices a dead connection (laptop sleep, network change) that the
 *   browser would otherwise keep believing in for minutes.
 * - Offline (the browser says so): no attempts until it is back online, then one at once.
 *
 * Written in ES5 syntax: MediaWiki 1.39 still serves modules to ES5-only browsers.
 */
'use strict';

var Backoff = require( './policy.js' ).Backoff;

// The gateway's subprotocol, and the prefix of the one that carries a token (contract/names.json).
var PROTOCOL = 'realtimenotify.v1';
var TOKEN_PROTOCOL_PREFIX = 'realtimenotify.token.';
// A connection that lived this long is "stable": the next failure starts the backoff afresh.
var STABLE_AFTER = 10000;
var PING_EVERY = 25000;
// No frame at all (not even our pong) for this long: the connection is dead.
var SILENCE_LIMIT = 60000;
// Renew the token this long before it expires.
var TOKEN_MARGIN = 60000;

/**
 * @class
 * @param {Object} options
 * @param {string} options.url ws:// or wss:// URL of the gateway
 * @param {Function} options.resumeFrom Returns the id to resume after, or null
 * @param {Function} options.onFrame Called with every parsed frame (an object with `op`)
 * @param {Object|null} [options.filter] The gateway filter for this user's mode, sent with every
 *  handshake so that it applies to the replay too
 * @param {Function|null} options.getToken Returns a promise of {token, expires (unix s)}, or null
 *  when the wiki does not sign tokens
 * @param {Function} [options.onForgetResume] The gateway refused our resume point as malformed
 */
function Connection( options ) {
	this.options = options;
	this.ws = null;
	this.backoff = new Backoff();
	this.timers = {};
	this.lastFrameAt = 0;
	// 'idle', 'connecting', 'open', 'waiting', 'offline' or 'stopped'.
	this.state = 'idle';
	// Why it stopped for good: 'forbidden', 'bad-request' (or null).
	this.stopped = null;
	this.lastClose = null;
	this.connects = 0;
	this.listening = false;
}

Connection.prototype.start = function () {
	var self = this;
	this.stopped = null;
	if ( !this.listening ) {
		this.listening = true;
		// Back online after a network outage: try now rather than at the end of a long backoff.
		window.addEventListener( 'online', function () {
			if ( self.state === 'waiting' || self.state === 'offline' ) {
				self.clear( 'retry' );
				self.connect();
			}
		} );
		window.addEventListener( 'offline', function () {
			if ( self.state === 'waiting' ) {
				self.clear( 'retry' );
				self.state = 'offline';
			}
		} );
	}
	this.connect();
};

/**
 * Close the socket and make no further attempt (this tab is no longer the leader).
 *
 * @param {string} why
 */
Connection.prototype.stop = function ( why ) {
	this.teardown();
	this.clear( 'retry' );
	this.state = 'stopped';
	this.stopped = why;
};

Connection.prototype.clear = function ( name ) {
	clearTimeout( this.timers[ name ] );
	clearInterval( this.timers[ name ] );
	delete this.timers[ name ];
};

Connection.prototype.connect = function () {
	var self = this;
	if ( navigator.onLine === false ) {
		this.state = 'offline';
		return;
	}
	this.state = 'connecting';
	if ( !this.options.getToken ) {
		this.open( null );
		return;
	}
	this.options.getToken().then( function ( token ) {
		if ( self.state === 'connecting' ) {
			self.open( token );
		}
	}, function () {
		// Logged out, API down…: try again later, like any failed connection.
		if ( self.state === 'connecting' ) {
			self.retry( null );
		}
	} );
};

Connection.prototype.open = function ( token ) {
	var ws, self = this,
		url = this.options.url,
		since = this.options.resumeFrom();
	if ( since ) {
		url += ( url.indexOf( '?' ) === -1 ? '?' : '&' ) + 'since=' + encodeURIComponent( since );
	}
	if ( this.options.filter ) {
		url += ( url.indexOf( '?' ) === -1 ? '?' : '&' ) + 'filter=' +
			encodeURIComponent( JSON.stringify( this.options.filter ) );
	}
	try {
		// The token travels as a subprotocol, which stays out of proxy logs (unlike ?token=).
		// Only offer subprotocols with a token: a browser fails a handshake whose server does
		// not pick one of the offered subprotocols.
		ws = token ?
			new WebSocket( url, [ PROTOCOL, TOKEN_PROTOCOL_PREFIX + token.token ] ) :
			new WebSocket( url );
	} catch ( e ) {
		// A malformed URL in the configuration: retrying slowly is all we can do.
		mw.log.warn( 'realtimenotify: ' + e );
		this.retry( null );
		return;
	}
	this.ws = ws;
	this.connects++;
	ws.onopen = function () {
		self.state = 'open';
		self.lastFrameAt = Date.now();
		self.timers.stable = setTimeout( function () {
			self.backoff.stable();
		}, STABLE_AFTER );
		self.timers.ping = setInterval( function () {
			self.keepAlive();
		}, PING_EVERY );
		if ( token && token.expires ) {
			self.scheduleRenewal( token.expires );
		}
	};
	ws.onmessage = function ( msg ) {
		var frame;
		self.lastFrameAt = Date.now();
		try {
			frame = JSON.parse( msg.data );
		} catch ( e ) {
			return;
		}
		if ( frame && typeof frame === 'object' && typeof frame.op === 'string' ) {
			if ( frame.op === 'hello' ) {
				self.backoff.greeted();
			}
			self.options.onFrame( frame );
		}
	};
	ws.onclose = function ( ev ) {
		if ( self.ws !== ws ) {
			return;
		}
		mw.log( 'realtimenotify: closed ' + ev.code + ( ev.reason ? ' ' + ev.reason : '' ) );
		self.teardown();
		self.retry( ev.code );
	};
};

Connection.prototype.keepAlive = function () {
	if ( Date.now() - this.lastFrameAt > SILENCE_LIMIT ) {
		// Half-open: close() would wait for a closing handshake that never comes. Move on.
		this.teardown();
		this.retry( null );
		return;
	}
	this.send( { op: 'ping' } );
};

Connection.prototype.scheduleRenewal = function ( expires ) {
	var self = this,
		delay = Math.max( 5000, expires * 1000 - Date.now() - TOKEN_MARGIN );
	this.timers.renew = setTimeout( function () {
		self.options.getToken().then( function ( token ) {
			if ( self.state === 'open' ) {
				self.send( { op: 'auth', token: token.token } );
				self.scheduleRenewal( token.expires );
			}
		} );
		// On failure the server closes with 4001 when the token expires; we reconnect then.
	}, delay );
};

Connection.prototype.send = function ( obj ) {
	if ( this.ws && this.ws.readyState === 1 ) {
		this.ws.send( JSON.stringify( obj ) );
	}
};

Connection.prototype.teardown = function () {
	var ws = this.ws;
	this.ws = null;
	this.clear( 'stable' );
	this.clear( 'ping' );
	this.clear( 'renew' );
	if ( ws ) {
		ws.onopen = ws.onmessage = ws.onclose = null;
		try {
			ws.close();
		} catch ( e ) {}
	}
};

/**
 * @param {number|null} code The close code, or null (no socket, or a dead one)
 */
Connection.prototype.retry = function ( code ) {
	var self = this,
		next = this.backoff.afterClose( code );
	this.lastClose = code;
	if ( next.stop ) {
		mw.log.warn( 'realtimenotify: the gateway refused this page (' + code + '); not trying again' );
		this.state = 'stopped';
		this.stopped = next.stop;
		return;
	}
	if ( next.forgetResume && this.options.onForgetResume ) {
		this.options.onForgetResume();
	}
	if ( navigator.onLine === false ) {
		this.state = 'offline';
		return;
	}
	this.state = 'waiting';
	this.timers.retry = setTimeout( function () {
		delete self.timers.retry;
		self.connect();
	}, next.delay );
};

module.exports = {
	PROTOCOL: PROTOCOL,
	TOKEN_PROTOCOL_PREFIX: TOKEN_PROTOCOL_PREFIX,
	Connection: Connection
};
