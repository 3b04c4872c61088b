/**
 * One WebSocket to the gateway (docs/protocol.md) that keeps itself alive.
 *
 * - Reconnects by itself with exponential backoff and full jitter (a random delay between 0 and
 *   min(30 s, 1 s × 2^attempt)), so that thousands of browsers that lost the same gateway do not
 *   come back in one wave. The attempt counter is reset only once a connection has stayed up for
 *   a while: a server that accepts and then drops us at once must not be hammered.
 * - Every attempt asks the caller where to resume (`?since=`), so nothing is missed across a
 *   restart of the gateway, a lagged close (4000) or a server going away (1001).
 * - With signed connection tokens (cfg.tokenApi) it fetches a fresh token for every attempt
 *   (the gateway accepts each token once) and renews it on the open socket before it expires.
 * - An application-level ping notices a dead connection (laptop sleep, network change) that the
 *   browser would otherwise keep believing in for minutes.
 *
 * Written in ES5 syntax: MediaWiki 1.39 still serves modules to ES5-only browsers.
 */
'use strict';

// The gateway's subprotocol, and the prefix of the one that carries a token (contract/names.json).
var PROTOCOL = 'realtimenotify.v1';
var TOKEN_PROTOCOL_PREFIX = 'realtimenotify.token.';
var BASE_DELAY = 1000;
var MAX_DELAY = 30000;
// A connection that lived this long is "stable": the next failure starts the backoff afresh.
var STABLE_AFTER = 10000;
var PING_EVERY = 25000;
// No frame at all (not even our pong) for this long: the connection is dead.
var SILENCE_LIMIT = 60000;
// Renew the token this long before it expires.
var TOKEN_MARGIN = 60000;

/**
 * Event ids are "<milliseconds>-<sequence>" with 64-bit numbers: compare them as digit strings,
 * never as JavaScript numbers, which would lose precision.
 *
 * @param {string} a
 * @param {string} b
 * @return {number} <0, 0 or >0
 */
function compareDigits( a, b ) {
	a = a.replace( /^0+(?=\d)/, '' );
	b = b.replace( /^0+(?=\d)/, '' );
	if ( a.length !== b.length ) {
		return a.length - b.length;
	}
	return a < b ? -1 : ( a > b ? 1 : 0 );
}

function splitId( id ) {
	var m = /^(\d{1,20})-(\d{1,20})$/.exec( String( id ) );
	return m ? [ m[ 1 ], m[ 2 ] ] : null;
}

/**
 * @param {string} id
 * @param {string|null} than
 * @return {boolean} id is a valid event id, and newer than `than` (or `than` is unset)
 */
function isNewer( id, than ) {
	var a = splitId( id ), b = than && splitId( than );
	if ( !a ) {
		return false;
	}
	if ( !b ) {
		return true;
	}
	return ( compareDigits( a[ 0 ], b[ 0 ] ) || compareDigits( a[ 1 ], b[ 1 ] ) ) > 0;
}

function decrement( digits ) {
	var out = digits.split( '' ), i = out.length - 1;
	while ( out[ i ] === '0' ) {
		out[ i ] = '9';
		i--;
	}
	out[ i ] = String( out[ i ] - 1 );
	return out.join( '' ).replace( /^0+(?=\d)/, '' );
}

/**
 * The id just before `id`: resuming from it asks for `id` and everything after it.
 *
 * @param {string} id
 * @return {string|null}
 */
function previousId( id ) {
	var p = splitId( id );
	if ( !p || /^0+-0+$/.test( id ) ) {
		return null;
	}
	if ( /^0+$/.test( p[ 1 ] ) ) {
		return decrement( p[ 0 ] ) + '-18446744073709551615';
	}
	return p[ 0 ] + '-' + decrement( p[ 1 ] );
}

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
 */
function Connection( options ) {
	this.options = options;
	this.ws = null;
	this.attempt = 0;
	this.timers = {};
	this.lastFrameAt = 0;
	this.state = 'idle';
	this.connects = 0;
}

Connection.prototype.start = function () {
	var self = this;
	// Back online after a network outage: try now rather than at the end of a long backoff.
	window.addEventListener( 'online', function () {
		if ( self.state === 'waiting' ) {
			self.clear( 'retry' );
			self.connect();
		}
	} );
	this.connect();
};

Connection.prototype.clear = function ( name ) {
	clearTimeout( this.timers[ name ] );
	clearInterval( this.timers[ name ] );
	delete this.timers[ name ];
};

Connection.prototype.connect = function () {
	var self = this;
	this.state = 'connecting';
	if ( !this.options.getToken ) {
		this.open( null );
		return;
	}
	this.options.getToken().then( function ( token ) {
		self.open( token );
	}, function () {
		// Logged out, API down…: try again later, like any failed connection.
		self.retry();
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
		this.retry();
		return;
	}
	this.ws = ws;
	this.connects++;
	ws.onopen = function () {
		self.state = 'open';
		self.lastFrameAt = Date.now();
		self.timers.stable = setTimeout( function () {
			self.attempt = 0;
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
			self.options.onFrame( frame );
		}
	};
	ws.onclose = function ( ev ) {
		if ( self.ws !== ws ) {
			return;
		}
		// Whatever the code — 1001 going away, 4000 lagged, 4001 token expired, 1006 network —
		// the answer is the same: reconnect (with a new token) and resume with `since`.
		mw.log( 'realtimenotify: closed ' + ev.code + ( ev.reason ? ' ' + ev.reason : '' ) );
		self.teardown();
		self.retry();
	};
};

Connection.prototype.keepAlive = function () {
	if ( Date.now() - this.lastFrameAt > SILENCE_LIMIT ) {
		// Half-open: close() would wait for a closing handshake that never comes. Move on.
		this.teardown();
		this.retry();
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

Connection.prototype.retry = function () {
	var self = this,
		delay = Math.random() * Math.min( MAX_DELAY, BASE_DELAY * Math.pow( 2, this.attempt ) );
	this.attempt = Math.min( this.attempt + 1, 16 );
	this.state = 'waiting';
	this.timers.retry = setTimeout( function () {
		delete self.timers.retry;
		self.connect();
	}, delay );
};

module.exports = {
	PROTOCOL: PROTOCOL,
	TOKEN_PROTOCOL_PREFIX: TOKEN_PROTOCOL_PREFIX,
	Connection: Connection,
	isNewer: isNewer,
	previousId: previousId
};
