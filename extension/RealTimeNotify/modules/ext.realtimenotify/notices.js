/**
 * Turns events into mw.notify popups.
 *
 * Everything that comes from an event (user name, title, summary, URL) is untrusted: it only
 * ever reaches the page as text (jQuery .text(), or as DOM-node parameters of a message parsed by
 * jqueryMsg), never as HTML. Links are made only for http(s) URLs.
 *
 * Bursts: an event that arrives less than a second after the previous one joins its notice,
 * which is redrawn in place (same mw.notify tag) as "N changes just now" with a few titles, so a
 * mass edit or a replay after a reconnect does not bury the page under popups.
 *
 * Patrol alerts (type 'alert') are never part of a burst: each one is its own 'warn' popup with
 * the class ext-realtimenotify-alert, a headline per reason code and the edit it is about.
 */
'use strict';

var BURST_GAP = 1000;
var BURST_MAX_AGE = 10000;
var BURST_REDRAW = 200;
var BURST_LIST = 5;
var TYPES = [ 'edit', 'create', 'delete', 'move', 'upload' ];
// Reason codes this version has a headline for (others get a generic one); contract/names.json.
var REASONS = [ 'blanking', 'large_removal', 'anon_protected', 'new_user_protected',
	'anon_watched', 'new_user_watched' ];
var MAX_REASONS = 8;
var REASON_CODE = /^[a-z0-9_]{1,32}$/;

function isHttpUrl( url ) {
	return typeof url === 'string' && /^https?:\/\//i.test( url );
}

function str( value ) {
	return typeof value === 'string' ? value : '';
}

/**
 * A link to the event's diff/log URL, else to the page on this wiki.
 *
 * @param {string} title
 * @param {string} [url]
 * @return {jQuery}
 */
function pageLink( title, url ) {
	return $( '<a>' )
		.addClass( 'ext-realtimenotify-page' )
		.attr( 'href', isHttpUrl( url ) ? url : mw.util.getUrl( title ) )
		.text( title );
}

/**
 * @class
 * @param {Object} options
 * @param {string|null} options.userName The reader; their own changes are not shown…
 * @param {boolean} options.showOwn …unless this is true
 * @param {string} [options.wiki] This wiki's id: events of other wikis are not shown
 */
function Notices( options ) {
	this.options = options;
	this.group = null;
	this.count = 0;
	this.shown = 0;
}

/**
 * @param {Object} event
 * @return {boolean} The reader wants to see this event
 */
Notices.prototype.wants = function ( event ) {
	var o = this.options;
	if ( typeof event.page_title !== 'string' || typeof event.user_name !== 'string' ) {
		return false;
	}
	if ( o.wiki && event.wiki && event.wiki !== o.wiki ) {
		return false;
	}
	return !!o.showOwn || !o.userName || event.user_name !== o.userName;
};

/**
 * Display one event, alone or as part of a burst.
 *
 * @param {Object} event
 */
Notices.prototype.add = function ( event ) {
	var self = this, now = Date.now(), g = this.group;
	if ( event.type === 'alert' ) {
		// Not merged into a burst, and not ending the current one either.
		this.alert( event );
		return;
	}
	// A burst goes on while it is recent and its popup is still open: once the reader closed
	// it (or it hid itself), later events start a new popup rather than bring the old one back.
	if ( g && now - g.last < BURST_GAP && now - g.first < BURST_MAX_AGE &&
		!( g.notification && !g.notification.isOpen )
	) {
		g.events.push( event );
		g.last = now;
		// Coalesce redraws: a replay may deliver hundreds of events in a few milliseconds.
		if ( !g.timer ) {
			g.timer = setTimeout( function () {
				g.timer = null;
				self.render( g );
			}, BURST_REDRAW );
		}
		return;
	}
	this.count++;
	g = this.group = {
		tag: 'realtimenotify-' + this.count,
		events: [ event ],
		first: now,
		last: now,
		timer: null,
		notification: null
	};
	this.render( g );
};

Notices.prototype.render = function ( g ) {
	var events = g.events,
		single = events.length === 1,
		notification;
	this.shown++;
	// mw.notification.notify (not mw.notify, whose promise resolves without the popup in
	// MediaWiki 1.39) hands back the popup itself, so that add() can tell when it was closed.
	// A popup created before the page is ready waits in a queue, not open yet: not "closed".
	notification = mw.notification.notify( single ? this.single( events[ 0 ] ) : this.burst( events ), {
		title: mw.msg( 'realtimenotify-notice-title' ),
		tag: g.tag,
		autoHideSeconds: 'long',
		classes: [ 'ext-realtimenotify-notice' ]
	} );
	g.notification = notification.isOpen ? notification : null;
};

/**
 * "Bob edited Main Page" + the summary.
 *
 * @param {Object} event
 * @return {jQuery}
 */
Notices.prototype.single = function ( event ) {
	var type = TYPES.indexOf( event.type ) === -1 ? 'edit' : event.type,
		title = event.page_title,
		summary = str( event.summary );
	return $( '<div>' ).addClass( 'ext-realtimenotify-body' ).attr( 'data-event-id', str( event.id ) ).append(
		$( '<div>' ).addClass( 'ext-realtimenotify-line' ).append(
			// Messages used here:
			// * realtimenotify-notice-edit
			// * realtimenotify-notice-create
			// * realtimenotify-notice-delete
			// * realtimenotify-notice-move
			// * realtimenotify-notice-upload
			mw.message(
				'realtimenotify-notice-' + type,
				$( '<span>' ).addClass( 'ext-realtimenotify-user' ).text( event.user_name ),
				pageLink( title, event.url ),
				$( '<span>' ).addClass( 'ext-realtimenotify-target' ).text( str( event.target_title ) )
			).parseDom()
		),
		summary ?
			$( '<div>' ).addClass( 'ext-realtimenotify-summary' ).text( summary ) :
			$( '<div>' ).addClass( 'ext-realtimenotify-summary ext-realtimenotify-nosummary' )
				.text( mw.msg( 'realtimenotify-notice-nosummary' ) )
	);
};

/**
 * A patrol alert: its own popup, type 'warn'.
 *
 * @param {Object} event
 */
Notices.prototype.alert = function ( event ) {
	this.count++;
	this.shown++;
	mw.notify( this.alertBody( event ), {
		title: mw.msg( 'realtimenotify-alert-title' ),
		tag: 'realtimenotify-alert-' + this.count,
		type: 'warn',
		autoHideSeconds: 'long',
		classes: [ 'ext-realtimenotify-notice', 'ext-realtimenotify-alert' ]
	} );
};

/**
 * The headline for one reason code (text), or null for a malformed code.
 *
 * @param {string} code
 * @return {string|null}
 */
function reasonText( code ) {
	if ( typeof code !== 'string' || !REASON_CODE.test( code ) ) {
		return null;
	}
	if ( REASONS.indexOf( code ) === -1 ) {
		return mw.message( 'realtimenotify-alert-reason-other', code ).text();
	}
	// Messages used here:
	// * realtimenotify-alert-reason-blanking
	// * realtimenotify-alert-reason-large-removal
	// * realtimenotify-alert-reason-anon-protected
	// * realtimenotify-alert-reason-new-user-protected
	// * realtimenotify-alert-reason-anon-watched
	// * realtimenotify-alert-reason-new-user-watched
	return mw.msg( 'realtimenotify-alert-reason-' + code.replace( /_/g, '-' ) );
}

/**
 * "Page blanked" (one line per reason) + "Edit of X by Y may need checking" + the summary.
 *
 * @param {Object} event
 * @return {jQuery}
 */
Notices.prototype.alertBody = function ( event ) {
	var summary = str( event.summary ),
		$reasons = $( '<ul>' ).addClass( 'ext-realtimenotify-reasons' ),
		codes = Array.isArray( event.reasons ) ? event.reasons.slice( 0, MAX_REASONS ) : [];
	codes.forEach( function ( code ) {
		var text = reasonText( code );
		if ( text !== null ) {
			$reasons.append( $( '<li>' ).addClass( 'ext-realtimenotify-reason' )
				.attr( 'data-reason', code ).text( text ) );
		}
	} );
	return $( '<div>' ).addClass( 'ext-realtimenotify-body' ).attr( 'data-event-id', str( event.id ) ).append(
		$reasons.children().length ? $reasons : null,
		$( '<div>' ).addClass( 'ext-realtimenotify-line' ).append(
			mw.message(
				'realtimenotify-notice-alert',
				$( '<span>' ).addClass( 'ext-realtimenotify-user' ).text( event.user_name ),
				pageLink( event.page_title, event.url )
			).parseDom()
		),
		summary ? $( '<div>' ).addClass( 'ext-realtimenotify-summary' ).text( summary ) : null
	);
};

/**
 * "7 changes just now" + the first few titles.
 *
 * @param {Object[]} events
 * @return {jQuery}
 */
Notices.prototype.burst = function ( events ) {
	var $list = $( '<ul>' ).addClass( 'ext-realtimenotify-list' );
	events.slice( 0, BURST_LIST ).forEach( function ( event ) {
		$list.append( $( '<li>' ).append(
			pageLink( event.page_title, event.url ),
			' ',
			$( '<span>' ).addClass( 'ext-realtimenotify-user' ).text( '(' + event.user_name + ')' )
		) );
	} );
	if ( events.length > BURST_LIST ) {
		$list.append( $( '<li>' ).text( '…' ) );
	}
	return $( '<div>' ).addClass( 'ext-realtimenotify-body ext-realtimenotify-burst' ).append(
		$( '<div>' ).addClass( 'ext-realtimenotify-line' )
			.text( mw.message( 'realtimenotify-notice-burst', events.length ).text() ),
		$list
	);
};

/**
 * Tell the reader that some events could not be delivered (the gateway's {op:'lost'}).
 * The tag makes a second one replace the first instead of stacking up.
 */
Notices.prototype.lost = function () {
	this.shown++;
	mw.notify( mw.msg( 'realtimenotify-notice-lost' ), {
		title: mw.msg( 'realtimenotify-notice-title' ),
		tag: 'realtimenotify-lost',
		autoHideSeconds: 'long',
		classes: [ 'ext-realtimenotify-notice', 'ext-realtimenotify-lost' ]
	} );
};

// For the contract test (tests/node/): what this file knows of the event schema.
Notices.TYPES = TYPES;
Notices.REASONS = REASONS;
Notices.MAX_REASONS = MAX_REASONS;
Notices.REASON_CODE = REASON_CODE;

module.exports = Notices;
