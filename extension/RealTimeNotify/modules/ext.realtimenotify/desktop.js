/**
 * Desktop (system) notifications, opt-in twice: the user's preference
 * (realtimenotify-desktop), and the browser's permission, which is only ever asked for from a
 * click (a button in our popups, or mw.realtimenotify.askDesktopPermission() from a click
 * handler) — never on page load.
 *
 * Only the leader tab shows them, and only while no tab of this wiki is visible (otherwise
 * the popup in the visible tab is enough). Events close together make one notification: the
 * second replaces the first (same tag) with "N changes", like the popups' bursts. A click
 * focuses the tab and opens the change: in this tab, unless it holds an edit form (then a
 * new one, so nothing typed is lost).
 */
'use strict';

var BURST_GAP = 1000;
var BURST_MAX_AGE = 10000;

/**
 * @class
 * @param {Object} options
 * @param {boolean} options.enabled The user's preference
 * @param {Function} options.text ( events ) → { title, body } for one event or a burst
 * @param {Object} [options.window] (tests)
 */
function Desktop( options ) {
	this.options = options;
	this.window = options.window || window;
	this.burst = null;
	this.count = 0;
	this.shown = 0;
}

Desktop.prototype.supported = function () {
	return !!this.options.enabled && typeof this.window.Notification === 'function';
};

/**
 * @return {boolean} Turned on, but the browser has not been asked yet
 */
Desktop.prototype.needsPermission = function () {
	return this.supported() && this.window.Notification.permission === 'default';
};

/**
 * @return {string} 'granted', 'denied', 'default' or 'unsupported'
 */
Desktop.prototype.permission = function () {
	return typeof this.window.Notification === 'function' ? String( this.window.Notification.permission ) : 'unsupported';
};

Desktop.prototype.allowed = function () {
	return this.supported() && this.window.Notification.permission === 'granted';
};

/**
 * Ask the browser for permission. Call from a click handler only.
 *
 * @return {jQuery.Promise} Resolves with the permission
 */
Desktop.prototype.askPermission = function () {
	var deferred = $.Deferred(), N = this.window.Notification, result;
	if ( !this.supported() ) {
		return deferred.resolve( 'unsupported' ).promise();
	}
	// Older browsers take a callback, newer ones return a promise.
	result = N.requestPermission( function ( p ) {
		deferred.resolve( p );
	} );
	if ( result && typeof result.then === 'function' ) {
		result.then( function ( p ) {
			deferred.resolve( p );
		}, function () {
			deferred.resolve( N.permission );
		} );
	}
	return deferred.promise();
};

/**
 * Show an event (or add it to the burst being shown).
 *
 * @param {Object} event
 * @return {boolean} A notification was shown
 */
Desktop.prototype.show = function ( event ) {
	var n, text, url, b = this.burst, now = Date.now(), self = this;
	if ( !this.allowed() ) {
		return false;
	}
	if ( b && now - b.last < BURST_GAP && now - b.first < BURST_MAX_AGE ) {
		b.events.push( event );
		b.last = now;
	} else {
		this.count++;
		b = this.burst = { tag: 'realtimenotify-' + this.count, events: [ event ], first: now, last: now };
	}
	text = this.options.text( b.events );
	// One change: its diff (or page); a burst: the list of recent changes.
	if ( b.events.length > 1 ) {
		url = mw.util.getUrl( 'Special:RecentChanges' );
	} else {
		url = typeof event.url === 'string' && /^https?:\/\//i.test( event.url ) ?
			event.url : mw.util.getUrl( event.page_title );
	}
	try {
		n = new this.window.Notification( text.title, { body: text.body, tag: b.tag, renotify: false } );
	} catch ( e ) {
		// Android Chrome allows only service-worker notifications: nothing we can show here.
		return false;
	}
	this.shown++;
	n.onclick = function () {
		var win = self.window;
		win.focus();
		if ( url ) {
			if ( /^(edit|submit)$/.test( mw.config.get( 'wgAction' ) ) ) {
				win.open( url, '_blank' );
			} else {
				win.location.href = url;
			}
		}
		n.close();
	};
	return true;
};

module.exports = Desktop;
