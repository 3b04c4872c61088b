/**
 * Where this browser resumes, and which frames of the gateway become notices.
 *
 * - Event ids: "<milliseconds>-<sequence>" with 64-bit numbers, compared as digit strings
 *   (JavaScript numbers would lose precision). Comparing is all the browser does with them: the
 *   gateway says where to resume after a loss (`lost.resume_after`, docs/protocol.md).
 * - ResumePoint: the id of the last event this browser has seen, kept in storage and shared
 *   with the other tabs by the leader, so that the next leader (or the next page of the same
 *   tab) resumes where the previous socket stopped. A point that no live leader confirmed for
 *   a minute is stale: the browser was away, and replaying everything since would be noise.
 * - Feed: one place that reads the gateway's frames: remembers ids, drops duplicates, applies
 *   the user's mode filter (the same object the handshake sends as `?filter=`) and says what
 *   to show.
 *
 * Written in ES5 syntax, without MediaWiki globals: node unit tests load it as it is.
 */
'use strict';

// A stored resume point older than this is stale.
var MAX_AGE = 60000;

/**
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

/**
 * @class
 * @param {Object} options
 * @param {Object} options.storage { get( key ) → object|null, set( key, object ) }
 * @param {string} options.key Storage key (per wiki and user)
 * @param {Function} [options.now] Clock (tests)
 * @param {Function} [options.onChange] Called with { id, time } whenever the point moves
 *  or is confirmed (the leader shares it with the other tabs)
 */
function ResumePoint( options ) {
	this.options = options;
	this.now = options.now || Date.now;
	// `time`: when a live leader last confirmed that `id` is current.
	this.id = null;
	this.time = 0;
}

ResumePoint.prototype.fresh = function ( point ) {
	return point && typeof point.id === 'string' && splitId( point.id ) &&
		this.now() - Number( point.time ) < MAX_AGE ? point : null;
};

ResumePoint.prototype.save = function () {
	var point = { id: this.id, time: this.time };
	try {
		this.options.storage.set( this.options.key, point );
	} catch ( e ) {
		// Storage full or forbidden: the copy the other tabs get will do.
	}
	if ( this.options.onChange ) {
		this.options.onChange( point );
	}
};

/**
 * Move forward to `id`, if it is newer.
 *
 * @param {string} id
 * @return {boolean} It was newer (false: a duplicate, or not an id)
 */
ResumePoint.prototype.remember = function ( id ) {
	if ( !isNewer( id, this.id ) ) {
		return false;
	}
	this.id = id;
	this.time = this.now();
	this.save();
	return true;
};

/**
 * Forget the point (the gateway refused it as malformed, say).
 */
ResumePoint.prototype.forget = function () {
	this.id = null;
	this.time = 0;
	this.save();
};

/**
 * A follower keeps the leader's point in memory, in case it takes over.
 *
 * @param {Object} shared { id, time } from the leader
 */
ResumePoint.prototype.adopt = function ( shared ) {
	if ( shared && splitId( shared.id ) && ( isNewer( shared.id, this.id ) || shared.id === this.id ) ) {
		this.id = shared.id;
		this.time = Number( shared.time ) || 0;
	}
};

/**
 * Becoming the leader: take the newest fresh point we know of, from the previous leader's
 * broadcasts or from storage.
 */
ResumePoint.prototype.takeOver = function () {
	var stored, known = this.fresh( { id: this.id, time: this.time } );
	try {
		stored = this.fresh( this.options.storage.get( this.options.key ) );
	} catch ( e ) {
		stored = null;
	}
	this.id = null;
	this.time = 0;
	if ( known && ( !stored || !isNewer( stored.id, known.id ) ) ) {
		this.id = known.id;
		this.time = known.time;
	} else if ( stored ) {
		this.id = stored.id;
		this.time = Number( stored.time );
	}
};

/**
 * The leader is alive and `id` is still current.
 */
ResumePoint.prototype.vouch = function () {
	if ( this.id ) {
		this.time = this.now();
		this.save();
	}
};

/**
 * Whether an event passes a gateway filter (docs/protocol.md, `subscribe`). The gateway
 * applies it already; checking again here guards against a gateway too old to know the
 * handshake's `filter`, which would send everything. `addressed` is the gateway's call alone
 * (the browser never sees audiences).
 *
 * @param {Object|null} filter
 * @param {Object} event
 * @return {boolean}
 */
function matches( filter, event ) {
	var type = event.type || 'edit';
	if ( !filter ) {
		return true;
	}
	if ( Array.isArray( filter.types ) && filter.types.length && filter.types.indexOf( type ) === -1 ) {
		return false;
	}
	if ( Array.isArray( filter.namespaces ) && filter.namespaces.length &&
		filter.namespaces.indexOf( event.namespace ) === -1
	) {
		return false;
	}
	if ( ( filter.exclude_bots && event.bot ) || ( filter.exclude_minor && event.minor ) ) {
		return false;
	}
	if ( Array.isArray( filter.titles ) && filter.titles.length &&
		filter.titles.indexOf( event.page_title ) === -1 &&
		filter.titles.indexOf( event.target_title ) === -1
	) {
		return false;
	}
	return true;
}

/**
 * @class
 * @param {ResumePoint} point
 * @param {Object|null} filter The user's mode filter, as sent in the handshake
 */
function Feed( point, filter ) {
	this.point = point;
	this.filter = filter && typeof filter === 'object' ? filter : null;
	// The gateway greeted us, so our filter is in force (it came with the handshake).
	this.greeted = false;
	this.losses = 0;
}

/**
 * @param {Object} frame A parsed frame of the gateway (has `op`)
 * @return {Object[]} What to do: { kind: 'event', event } or { kind: 'lost' }
 */
Feed.prototype.frame = function ( frame ) {
	var after;
	switch ( frame.op ) {
		case 'hello':
			this.greeted = true;
			// Starting afresh: still note where the server is, so that the next reconnect
			// asks for everything after this point.
			if ( !this.point.id && frame.last_id ) {
				this.point.remember( String( frame.last_id ) );
			}
			return [];
		case 'event':
			// An id we have seen already (or older) is a duplicate.
			if ( frame.id && !this.point.remember( String( frame.id ) ) ) {
				return [];
			}
			return matches( this.filter, frame ) ? [ { kind: 'event', event: frame } ] : [];
		case 'lost':
			// Events after our id are gone. Resume after `resume_after` from now on (what
			// follows is sent now), or every later reconnect would report the same loss
			// again. An older gateway sends only `oldest`, the first id it still has, which
			// it sends right after this frame.
			after = frame.resume_after || frame.oldest;
			if ( after ) {
				this.point.remember( String( after ) );
			}
			this.losses++;
			return [ { kind: 'lost' } ];
		default:
			return [];
	}
};

module.exports = {
	MAX_AGE: MAX_AGE,
	isNewer: isNewer,
	matches: matches,
	ResumePoint: ResumePoint,
	Feed: Feed
};
