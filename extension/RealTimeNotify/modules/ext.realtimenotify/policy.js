/**
 * What to do after the socket closed: when to try again, and whether to try at all.
 *
 * The close code says why (docs/protocol.md, contract/names.json). A handshake the gateway
 * refuses for a reason the browser must act on is opened and closed at once with a code:
 * - 4401 unauthorized (token missing, invalid, expired or used): fetch a new token and try
 *   again at once; a second 4401 in a row means a new token does not help: back off;
 * - 4001 the token expired on an open connection: likewise;
 * - 4403 forbidden (this page's origin is not allowed): trying again cannot help: stop, and
 *   say so in mw.realtimenotify.state();
 * - 4429 too many connections from this address: back off longer than usual;
 * - 4400 bad request (a malformed `since`, say from a damaged store): forget the resume point
 *   and try again; a second one in a row: stop.
 * Anything else (1000 idle, 1001 going away, 4000 lagged, 1006 network) backs off with full
 * jitter, a random delay between 0 and min(30 s, 1 s × 2^attempt), so that thousands of
 * browsers that lost the same gateway do not come back in one wave.
 *
 * "In a row" means without a greeting (`hello`) in between: a refused handshake opens and
 * closes before the gateway greets.
 *
 * Written in ES5 syntax, without MediaWiki globals: node unit tests load it as it is.
 */
'use strict';

var CODES = {
	LAGGED: 4000,
	TOKEN_EXPIRED: 4001,
	BAD_REQUEST: 4400,
	UNAUTHORIZED: 4401,
	FORBIDDEN: 4403,
	TOO_MANY: 4429
};
var BASE_DELAY = 1000;
var MAX_DELAY = 30000;
var LONG_BASE_DELAY = 10000;
var LONG_MAX_DELAY = 300000;
var MAX_ATTEMPT = 16;

/**
 * @class
 * @param {Function} [random] Returns a number in [0, 1) (tests)
 */
function Backoff( random ) {
	this.random = random || Math.random;
	this.attempt = 0;
	// Refusals of the same kind since the last greeting.
	this.unauthorized = 0;
	this.badRequests = 0;
}

/**
 * The gateway greeted us: the handshake was accepted.
 */
Backoff.prototype.greeted = function () {
	this.unauthorized = 0;
	this.badRequests = 0;
};

/**
 * The connection stayed up long enough: the next failure starts the backoff afresh.
 */
Backoff.prototype.stable = function () {
	this.attempt = 0;
};

Backoff.prototype.jittered = function () {
	var delay = this.random() * Math.min( MAX_DELAY, BASE_DELAY * Math.pow( 2, this.attempt ) );
	this.attempt = Math.min( this.attempt + 1, MAX_ATTEMPT );
	return Math.round( delay );
};

Backoff.prototype.long = function () {
	var span = Math.min( LONG_MAX_DELAY, LONG_BASE_DELAY * Math.pow( 2, this.attempt ) );
	this.attempt = Math.min( this.attempt + 1, MAX_ATTEMPT );
	// At least half the span: "longer" must never come out as almost nothing.
	return Math.round( span / 2 + this.random() * span / 2 );
};

/**
 * @param {number|null} code The close code (null: the attempt failed before a socket, e.g.
 *  the token could not be fetched)
 * @return {Object} { stop: string|null (why), delay: ms, forgetResume: boolean }
 */
Backoff.prototype.afterClose = function ( code ) {
	switch ( code ) {
		case CODES.FORBIDDEN:
			return { stop: 'forbidden', delay: 0, forgetResume: false };
		case CODES.UNAUTHORIZED:
		case CODES.TOKEN_EXPIRED:
			this.unauthorized++;
			return {
				stop: null,
				delay: this.unauthorized === 1 ? 0 : this.jittered(),
				forgetResume: false
			};
		case CODES.TOO_MANY:
			return { stop: null, delay: this.long(), forgetResume: false };
		case CODES.BAD_REQUEST:
			this.badRequests++;
			if ( this.badRequests > 1 ) {
				return { stop: 'bad-request', delay: 0, forgetResume: false };
			}
			return { stop: null, delay: this.jittered(), forgetResume: true };
		default:
			return { stop: null, delay: this.jittered(), forgetResume: false };
	}
};

module.exports = {
	CODES: CODES,
	MAX_DELAY: MAX_DELAY,
	LONG_MAX_DELAY: LONG_MAX_DELAY,
	Backoff: Backoff
};
