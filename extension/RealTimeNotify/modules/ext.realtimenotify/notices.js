/**
 * Turns events into mw.notify popups, as rich as Special:RecentChanges shows the same change:
 * who (user, talk and contributions links), what (the page, and the summary with its section
 * and links, see summary.js), when (a relative time), how much (the size change), and the
 * minor/bot/new markers (parts.js).
 *
 * Everything that comes from an event (user name, title, summary, URL) is untrusted: it only
 * ever reaches the page as text nodes, as DOM-node parameters of a message parsed by jqueryMsg,
 * or as a URL that mw.util.getUrl() built from a title; never as HTML. Links to the event's own
 * URL are made only for http(s) URLs.
 *
 * Bursts: an event that arrives less than a second after the previous one joins its notice,
 * which is redrawn in place (same mw.notify tag) as "N changes just now" with a few titles, so a
 * mass edit or a replay after a reconnect does not bury the page under popups.
 *
 * Patrol alerts (type 'alert') are never part of a burst: each one is its own 'warn' popup with
 * the class ext-realtimenotify-alert, a headline per reason code, the edit it is about and what
 * the reader may do about it (actions.js). A `handled` event (someone patrolled or reverted the
 * edit) updates the open alerts it covers.
 *
 * Accessibility: every popup is also written, as plain text, to a visually hidden live region
 * (polite; assertive for alerts), so screen readers announce it; each popup has a dismiss
 * button, and Escape closes the popup that has the focus.
 */
'use strict';

var Parts = require( './parts.js' );

var BURST_GAP = 1000;
var BURST_MAX_AGE = 10000;
var BURST_REDRAW = 200;
var BURST_LIST = 5;
var TYPES = [ 'edit', 'create', 'delete', 'move', 'upload' ];
// Reason codes this version has a headline for (others get a generic one); contract/names.json.
var REASONS = [ 'blanking', 'large_removal', 'anon_protected', 'new_user_protected',
	'anon_watched', 'new_user_watched' ];
// How an alerted edit was handled (`handled` events), with a message each; others: generic.
var HANDLED = [ 'patrolled', 'reverted' ];
var MAX_REASONS = 8;
var REASON_CODE = /^[a-z0-9_]{1,32}$/;
var TIME_REFRESH = 30000;

function isHttpUrl( url ) {
	return typeof url === 'string' && /^https?:\/\//i.test( url );
}

function str( value ) {
	return typeof value === 'string' ? value : '';
}

function gender( event ) {
	return event.user_gender === 'male' || event.user_gender === 'female' ? event.user_gender : 'unknown';
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
		.append( $( '<bdi>' ).text( title ) );
}

/**
 * @class
 * @param {Object} options
 * @param {string|null} options.userName The reader; their own changes are not shown…
 * @param {boolean} options.showOwn …unless this is true
 * @param {string} [options.wiki] This wiki's id: events of other wikis are not shown
 * @param {Object|null} [options.actions] An Actions (actions.js) for alerts, or null
 * @param {Object|null} [options.desktop] A Desktop (desktop.js): popups offer to turn
 *  desktop notifications on while it needs the browser's permission
 */
function Notices( options ) {
	this.options = options;
	this.group = null;
	this.count = 0;
	this.shown = 0;
	// Open alerts: { event, $body, notification }.
	this.alerts = [];
	this.regions = null;
	this.timer = null;
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
	if ( event.type === 'handled' || event.type === 'test' ) {
		// Never a popup of its own: `handled` updates the alerts it covers (see #handled), `test`
		// is the status page's round trip (Special:RealTimeNotifyStatus).
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

/**
 * The visually hidden live regions screen readers announce popups from.
 *
 * @return {Object} { polite: jQuery, assertive: jQuery }
 */
Notices.prototype.liveRegions = function () {
	if ( !this.regions ) {
		this.regions = {
			polite: $( '<div>' ).addClass( 'ext-realtimenotify-live' )
				.attr( { 'aria-live': 'polite', 'aria-atomic': 'false', role: 'log' } ),
			assertive: $( '<div>' ).addClass( 'ext-realtimenotify-live' )
				.attr( { 'aria-live': 'assertive', 'aria-atomic': 'false', role: 'log' } )
		};
		$( document.body ).append( this.regions.polite, this.regions.assertive );
	}
	return this.regions;
};

/**
 * @param {string} text
 * @param {boolean} urgent
 */
Notices.prototype.announce = function ( text, urgent ) {
	var $region = this.liveRegions()[ urgent ? 'assertive' : 'polite' ];
	// Keep the last few lines only: the region is for speech, not for reading.
	$region.append( $( '<p>' ).text( text ) );
	$region.children().slice( 0, -5 ).remove();
};

/**
 * Show a popup: mw.notification plus what every popup of ours has (dismiss button, Escape,
 * the announcement, the offer of desktop notifications).
 *
 * @param {jQuery} $body
 * @param {Object} options For mw.notification.notify
 * @param {boolean} urgent Announce assertively
 * @return {Object} The mw.Notification
 */
Notices.prototype.notify = function ( $body, options, urgent ) {
	var notification, spoken,
		self = this,
		desktop = this.options.desktop,
		$close = $( '<button>' ).attr( {
			type: 'button',
			'aria-label': mw.msg( 'realtimenotify-dismiss' ),
			title: mw.msg( 'realtimenotify-dismiss' )
		// The × itself comes from the style sheet: the button's text is its label.
		} ).addClass( 'ext-realtimenotify-close' );
	if ( desktop && desktop.needsPermission() ) {
		$body.append( $( '<button>' ).attr( 'type', 'button' ).addClass( 'ext-realtimenotify-button ext-realtimenotify-desktop-ask' )
			.text( mw.msg( 'realtimenotify-desktop-enable' ) )
			.on( 'click', function ( e ) {
				e.stopPropagation();
				desktop.askPermission().then( function () {
					$( document.body ).find( '.ext-realtimenotify-desktop-ask' ).remove();
				} );
			} ) );
	}
	// Each block of the popup as a phrase of its own.
	spoken = options.title + ': ' + $body.clone().find( 'button, .ext-realtimenotify-actions' ).remove().end()
		.children().map( function () {
			return $( this ).text();
		} ).get().join( ' ' ).replace( /\s+/g, ' ' ).trim();
	$body.prepend( $close );
	this.shown++;
	// mw.notification.notify (not mw.notify, whose promise resolves without the popup in
	// MediaWiki 1.39) hands back the popup itself.
	notification = mw.notification.notify( $body, options );
	// The click on the dismiss button reaches mw.notification, which closes the popup; Escape
	// does the same for the popup that has the focus.
	$body.on( 'keydown', function ( e ) {
		if ( e.key === 'Escape' || e.key === 'Esc' ) {
			e.stopPropagation();
			notification.close();
		}
	} );
	this.announce( spoken, urgent );
	if ( !this.timer ) {
		this.timer = setInterval( function () {
			Parts.refreshTimes();
			self.alerts = self.alerts.filter( function ( a ) {
				return a.notification.isOpen || !a.started;
			} );
		}, TIME_REFRESH );
	}
	return notification;
};

Notices.prototype.render = function ( g ) {
	var events = g.events,
		single = events.length === 1,
		notification = this.notify( single ? this.single( events[ 0 ] ) : this.burst( events ), {
			title: mw.msg( 'realtimenotify-notice-title' ),
			tag: g.tag,
			autoHideSeconds: 'long',
			classes: [ 'ext-realtimenotify-notice' ]
		}, false );
	// A popup created before the page is ready waits in a queue, not open yet: not "closed".
	g.notification = notification.isOpen ? notification : null;
};

/**
 * (talk | contribs), m b N, (+123), 2 minutes ago.
 *
 * @param {Object} event
 * @return {jQuery|null}
 */
function meta( event ) {
	var tools = Parts.userTools( event.user_name ),
		items = Parts.markers( event ),
		size = Parts.sizeDelta( event.size_delta ),
		time = Parts.timeElement( event.timestamp ),
		$meta = $( '<div>' ).addClass( 'ext-realtimenotify-meta' );
	if ( tools ) {
		$meta.append( tools, ' ' );
	}
	items.forEach( function ( $m ) {
		$meta.append( $m, ' ' );
	} );
	if ( size ) {
		$meta.append( mw.message( 'parentheses', size ).parseDom(), ' ' );
	}
	if ( time ) {
		$meta.append( time );
	}
	return $meta.children().length ? $meta : null;
}

/**
 * @param {Object} event
 * @return {jQuery}
 */
function summaryBlock( event ) {
	var el = Parts.summary( event );
	return el ? $( el ) : $( '<div>' ).addClass( 'ext-realtimenotify-summary ext-realtimenotify-nosummary' )
		.text( mw.msg( 'realtimenotify-notice-nosummary' ) );
}

/**
 * "Bob (talk | contribs) edited Main Page", the markers, size and time, and the summary.
 *
 * @param {Object} event
 * @return {jQuery}
 */
Notices.prototype.single = function ( event ) {
	var type = TYPES.indexOf( event.type ) === -1 ? 'edit' : event.type;
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
				Parts.userLink( event.user_name ),
				pageLink( event.page_title, event.url ),
				$( '<span>' ).addClass( 'ext-realtimenotify-target' ).append( $( '<bdi>' ).text( str( event.target_title ) ) ),
				gender( event )
			).parseDom()
		),
		meta( event ),
		summaryBlock( event )
	);
};

/**
 * A patrol alert: its own popup, type 'warn'.
 *
 * @param {Object} event
 */
Notices.prototype.alert = function ( event ) {
	var notification,
		$body = this.alertBody( event ),
		entry = { event: event, $body: $body, notification: null, started: false };
	this.count++;
	notification = this.notify( $body, {
		title: mw.msg( 'realtimenotify-alert-title' ),
		tag: 'realtimenotify-alert-' + this.count,
		type: 'warn',
		autoHideSeconds: 'long',
		classes: [ 'ext-realtimenotify-notice', 'ext-realtimenotify-alert' ]
	}, true );
	entry.notification = notification;
	entry.started = notification.isOpen;
	this.alerts.push( entry );
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
 * "Page blanked" (one line per reason) + "Edit of X by Y may need checking" + the details,
 * the summary, and the actions.
 *
 * @param {Object} event
 * @return {jQuery}
 */
Notices.prototype.alertBody = function ( event ) {
	var $body,
		$reasons = $( '<ul>' ).addClass( 'ext-realtimenotify-reasons' ),
		codes = Array.isArray( event.reasons ) ? event.reasons.slice( 0, MAX_REASONS ) : [];
	codes.forEach( function ( code ) {
		var text = reasonText( code );
		if ( text !== null ) {
			$reasons.append( $( '<li>' ).addClass( 'ext-realtimenotify-reason' )
				.attr( 'data-reason', code ).text( text ) );
		}
	} );
	$body = $( '<div>' ).addClass( 'ext-realtimenotify-body' ).attr( 'data-event-id', str( event.id ) );
	if ( typeof event.rev_id === 'number' ) {
		$body.attr( 'data-rev-id', String( event.rev_id ) );
	}
	return $body.append(
		$reasons.children().length ? $reasons : null,
		$( '<div>' ).addClass( 'ext-realtimenotify-line' ).append(
			mw.message(
				'realtimenotify-notice-alert',
				Parts.userLink( event.user_name ),
				pageLink( event.page_title, event.url ),
				'',
				gender( event )
			).parseDom()
		),
		meta( event ),
		Parts.summary( event ),
		this.options.actions ? this.options.actions.row( event, $body ) : null
	);
};

/**
 * @param {Object} handled A `handled` event
 * @param {Object} alert An alert event
 * @return {boolean} The handled event is about the alert's edit
 */
function covers( handled, alert ) {
	var last = handled.rev_id,
		first = typeof handled.first_rev_id === 'number' ? handled.first_rev_id : last;
	if ( typeof last !== 'number' || typeof alert.rev_id !== 'number' ) {
		return false;
	}
	if ( handled.wiki && alert.wiki && handled.wiki !== alert.wiki ) {
		return false;
	}
	if ( typeof handled.page_id === 'number' && typeof alert.page_id === 'number' ?
		handled.page_id !== alert.page_id :
		handled.page_title !== alert.page_title
	) {
		return false;
	}
	return alert.rev_id >= first && alert.rev_id <= last;
}

/**
 * Someone patrolled or reverted an edit: say so in the open alerts about it (in this tab; the
 * leader passes `handled` events to every tab).
 *
 * @param {Object} event A `handled` event
 * @return {number} How many open alerts it updated
 */
Notices.prototype.handled = function ( event ) {
	var updated = 0,
		how = HANDLED.indexOf( event.handled ) === -1 ? 'other' : event.handled;
	if ( typeof event.user_name !== 'string' || ( this.options.wiki && event.wiki && event.wiki !== this.options.wiki ) ) {
		return 0;
	}
	this.alerts.forEach( function ( a ) {
		var $line;
		if ( !covers( event, a.event ) || a.handled ) {
			return;
		}
		updated++;
		a.handled = event.handled;
		a.$body.addClass( 'ext-realtimenotify-alert-handled' );
		a.$body.find( '.ext-realtimenotify-actions button, .ext-realtimenotify-confirm' ).remove();
		if ( event.user_name === this.options.userName &&
			( a.$body.attr( 'data-done' ) === event.handled || a.$body.attr( 'data-pending' ) === event.handled )
		) {
			// Our own click did it, and the alert says so (or is about to).
			return;
		}
		// Messages used here:
		// * realtimenotify-handled-patrolled
		// * realtimenotify-handled-reverted
		// * realtimenotify-handled-other
		$line = $( '<div>' ).addClass( 'ext-realtimenotify-handled' ).attr( 'data-handled', str( event.handled ) ).append(
			mw.message( 'realtimenotify-handled-' + how, $( '<bdi>' ).text( event.user_name ), gender( event ) ).parseDom()
		);
		a.$body.append( $line );
		this.announce( $line.text(), false );
	}, this );
	return updated;
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
			$( '<span>' ).addClass( 'ext-realtimenotify-user' ).append(
				mw.message( 'parentheses', $( '<bdi>' ).text( event.user_name ) ).parseDom()
			),
			' ',
			Parts.sizeDelta( event.size_delta )
		) );
	} );
	if ( events.length > BURST_LIST ) {
		$list.append( $( '<li>' ).text( '…' ) );
	}
	return $( '<div>' ).addClass( 'ext-realtimenotify-body ext-realtimenotify-burst' ).append(
		$( '<div>' ).addClass( 'ext-realtimenotify-line' )
			.text( mw.message( 'realtimenotify-notice-burst', mw.language.convertNumber( events.length ) ).text() ),
		$list
	);
};

/**
 * Tell the reader that some events could not be delivered (the gateway's {op:'lost'}).
 * The tag makes a second one replace the first instead of stacking up.
 */
Notices.prototype.lost = function () {
	this.notify( $( '<div>' ).addClass( 'ext-realtimenotify-body' ).text( mw.msg( 'realtimenotify-notice-lost' ) ), {
		title: mw.msg( 'realtimenotify-notice-title' ),
		tag: 'realtimenotify-lost',
		autoHideSeconds: 'long',
		classes: [ 'ext-realtimenotify-notice', 'ext-realtimenotify-lost' ]
	}, false );
};

// For the contract test (tests/node/): what this file knows of the event schema.
Notices.TYPES = TYPES;
Notices.REASONS = REASONS;
Notices.HANDLED = HANDLED;
Notices.MAX_REASONS = MAX_REASONS;
Notices.REASON_CODE = REASON_CODE;
Notices.covers = covers;

module.exports = Notices;
