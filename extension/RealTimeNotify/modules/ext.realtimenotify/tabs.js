/**
 * One socket per browser, not per tab.
 *
 * Every tab asks for the Web Lock 'realtimenotify-leader:<wiki>:<user>'; the browser grants it
 * to one tab at a time, the leader, which opens the only WebSocket. When the leader tab closes or navigates away
 * the browser releases the lock by itself and grants it to the next waiting tab, which becomes
 * the leader and resumes from the last event id (shared by the caller, see index.js).
 *
 * Who shows a notice: each message pops up in exactly ONE tab, chosen by the leader — the visible
 * tab that was focused most recently (or, if none is visible, the most recently focused one).
 * That is the tab the user is looking at; the leader itself may well be a forgotten background
 * tab. To choose, every tab announces its visibility and focus on the BroadcastChannel
 * 'realtimenotify:<wiki>:<user>' and every tab keeps the same table, so a new leader already
 * knows the others.
 *
 * Without Web Locks or BroadcastChannel (old browsers, insecure http:// contexts) each tab is on
 * its own: its own socket, its own notices.
 */
'use strict';

/**
 * @class
 * @param {string} scope Wiki and user: tabs only team up with tabs of the same user on the same
 *  wiki (after a logout and a login as someone else, old tabs must not pass the new user the
 *  previous one's events, nor hold the lock the new user's tabs wait for)
 * @param {Function} onShow Called with a message routed to this tab for display
 * @param {Function} onShare Called with data another tab shared (see #share)
 */
function Tabs( scope, onShow, onShare ) {
	this.lockName = 'realtimenotify-leader:' + scope;
	this.channelName = 'realtimenotify:' + scope;
	this.id = Math.random().toString( 36 ).slice( 2 ) + Date.now().toString( 36 );
	this.onShow = onShow;
	this.onShare = onShare;
	this.role = 'follower';
	this.channel = null;
	// Tab id → { visible: boolean, focusedAt: number }, this tab included.
	this.tabs = {};
}

Tabs.isSupported = function () {
	return !!( window.navigator.locks && window.navigator.locks.request && window.BroadcastChannel );
};

/**
 * @param {Function} onLeader Called once, when this tab becomes the one that holds the socket
 */
Tabs.prototype.start = function ( onLeader ) {
	var self = this;
	if ( !Tabs.isSupported() ) {
		this.role = 'solo';
		onLeader();
		return;
	}
	this.channel = new BroadcastChannel( this.channelName );
	this.channel.onmessage = function ( msg ) {
		self.receive( msg.data || {} );
	};
	// A page that loads in the focused window gets no 'focus' event: it has the focus already.
	this.tabs[ this.id ] = { visible: this.isVisible(), focusedAt: document.hasFocus() ? Date.now() : 0 };
	// Tell the others we are here, and ask them to introduce themselves.
	this.announce( true );

	document.addEventListener( 'visibilitychange', function () {
		self.touch( document.visibilityState === 'visible' );
	} );
	window.addEventListener( 'focus', function () {
		self.touch( true );
	} );
	// Clicks and keys say even more surely where the reader is (and some windows never get a
	// 'focus' event, e.g. headless or when focus stayed in the window across a navigation).
	[ 'pointerdown', 'keydown' ].forEach( function ( type ) {
		window.addEventListener( type, function () {
			if ( Date.now() - self.tabs[ self.id ].focusedAt > 1000 ) {
				self.touch( true );
			}
		}, { capture: true, passive: true } );
	} );
	window.addEventListener( 'pagehide', function () {
		self.channel.postMessage( { t: 'bye', tab: self.id } );
	} );
	window.addEventListener( 'pageshow', function ( ev ) {
		if ( ev.persisted ) {
			// Back from the back/forward cache: the others forgot us on 'pagehide'.
			self.announce( true );
		}
	} );

	navigator.locks.request( this.lockName, function () {
		self.role = 'leader';
		onLeader();
		// Hold the lock for the life of the page; the browser releases it when the page goes.
		return new Promise( function () {} );
	} );
};

Tabs.prototype.isVisible = function () {
	return document.visibilityState === 'visible';
};

/**
 * This tab was just focused or changed visibility.
 *
 * @param {boolean} focused
 */
Tabs.prototype.touch = function ( focused ) {
	var me = this.tabs[ this.id ];
	me.visible = this.isVisible();
	if ( focused ) {
		me.focusedAt = Date.now();
	}
	this.announce( false );
};

Tabs.prototype.announce = function ( ask ) {
	var me = this.tabs[ this.id ];
	this.channel.postMessage( {
		t: 'presence', tab: this.id, visible: me.visible, focusedAt: me.focusedAt, ask: ask
	} );
};

Tabs.prototype.receive = function ( data ) {
	switch ( data.t ) {
		case 'presence':
			this.tabs[ data.tab ] = { visible: !!data.visible, focusedAt: Number( data.focusedAt ) || 0 };
			if ( data.ask ) {
				this.announce( false );
			}
			break;
		case 'bye':
			delete this.tabs[ data.tab ];
			break;
		case 'show':
			if ( data.to === this.id ) {
				this.onShow( data.message );
			}
			break;
		case 'share':
			this.onShare( data.data );
			break;
	}
};

/**
 * The tab that should display the next notice (see the top of this file).
 *
 * @return {string} tab id
 */
Tabs.prototype.displayTab = function () {
	var id, tab, best = this.id, bestTab = this.tabs[ this.id ];
	for ( id in this.tabs ) {
		tab = this.tabs[ id ];
		if ( tab.visible !== bestTab.visible ?
			tab.visible :
			( tab.focusedAt > bestTab.focusedAt || ( tab.focusedAt === bestTab.focusedAt && id > best ) )
		) {
			best = id;
			bestTab = tab;
		}
	}
	return best;
};

/**
 * Leader (or solo tab): have a message displayed, once, in the right tab.
 *
 * @param {Object} message Structured-cloneable
 */
Tabs.prototype.route = function ( message ) {
	var to = this.channel ? this.displayTab() : this.id;
	if ( to === this.id ) {
		this.onShow( message );
	} else {
		this.channel.postMessage( { t: 'show', to: to, message: message } );
	}
};

/**
 * Leader: pass state to every other tab (they get it through onShare).
 *
 * @param {Object} data Structured-cloneable
 */
Tabs.prototype.share = function ( data ) {
	if ( this.channel ) {
		this.channel.postMessage( { t: 'share', data: data } );
	}
};

module.exports = Tabs;
