/**
 * One socket per browser, not per tab.
 *
 * With Web Locks, every tab asks for the lock 'realtimenotify-leader:<wiki>:<user>'; the
 * browser grants it to one tab at a time, the leader, which opens the only WebSocket. When the
 * leader tab closes or navigates away the browser releases the lock by itself and grants it to
 * the next waiting tab, which becomes the leader and resumes from the last event id (shared by
 * the caller, see index.js).
 *
 * Without Web Locks (older browsers, some insecure http:// contexts) but with
 * BroadcastChannel, the tabs elect the leader themselves: every tab announces itself with the
 * time it started, and the OLDEST live tab leads. A new tab is always younger than the leader
 * it finds, so it never takes over; when the leader says goodbye ('pagehide'), the next oldest
 * takes over at once; a leader that vanished without a word (a crash) is forgotten after
 * FORGET_AFTER. Two tabs that start at the same moment may both lead for the first
 * ELECTION_WAIT ms at most: the younger one steps down as soon as it hears of the older one.
 *
 * Without BroadcastChannel each tab is on its own ('solo'): its own socket, its own notices.
 *
 * Who shows a notice: each message pops up in exactly ONE tab, chosen by the leader — the
 * visible tab that was focused most recently (or, if none is visible, the most recently focused
 * one). That is the tab the user is looking at; the leader itself may well be a forgotten
 * background tab. To choose, every tab announces its visibility and focus on the
 * BroadcastChannel 'realtimenotify:<wiki>:<user>' and every tab keeps the same table, so a new
 * leader already knows the others. Some messages go to every tab instead (see #everywhere).
 */
'use strict';

// Without Web Locks: how long a new tab listens before it may lead, how often each tab says
// it is alive, and when a tab that went silent is forgotten. Background tabs' timers may run
// only once a minute (Chrome's intensive throttling), hence the long margin.
var ELECTION_WAIT = 300;
var ALIVE_EVERY = 20000;
var FORGET_AFTER = 150000;

/**
 * @class
 * @param {string} scope Wiki and user: tabs only team up with tabs of the same user on the same
 *  wiki (after a logout and a login as someone else, old tabs must not pass the new user the
 *  previous one's events, nor hold the lock the new user's tabs wait for)
 * @param {Function} onShow Called with a message routed to this tab for display
 * @param {Function} onShare Called with data another tab shared (see #share)
 * @param {Object} [env] What to use instead of the browser's own (tests): { window, document,
 *  navigator, BroadcastChannel, now }
 */
function Tabs( scope, onShow, onShare, env ) {
	env = env || {};
	this.window = env.window || window;
	this.document = env.document || this.window.document;
	this.navigator = env.navigator || this.window.navigator;
	this.Channel = env.BroadcastChannel !== undefined ? env.BroadcastChannel : this.window.BroadcastChannel;
	this.now = env.now || Date.now;
	this.lockName = 'realtimenotify-leader:' + scope;
	this.channelName = 'realtimenotify:' + scope;
	this.born = this.now();
	this.id = Math.random().toString( 36 ).slice( 2 ) + this.born.toString( 36 );
	this.onShow = onShow;
	this.onShare = onShare;
	this.role = 'follower';
	// 'locks', 'channel' (elected among the tabs) or 'none' (solo).
	this.election = null;
	this.channel = null;
	// Tab id → { visible, focusedAt, born, heard }, this tab included.
	this.tabs = {};
	this.onLeader = null;
	this.onResign = null;
	this.electable = false;
	// Said goodbye ('pagehide').
	this.gone = false;
}

/**
 * @param {Function} onLeader Called when this tab becomes the one that holds the socket
 * @param {Function} [onResign] Called when it must give the socket up (only without Web Locks,
 *  when two tabs started at once)
 */
Tabs.prototype.start = function ( onLeader, onResign ) {
	var self = this,
		locks = this.navigator.locks;
	this.onLeader = onLeader;
	this.onResign = onResign || function () {};
	if ( !this.Channel ) {
		this.election = 'none';
		this.role = 'solo';
		onLeader();
		return;
	}
	this.election = locks && locks.request ? 'locks' : 'channel';
	this.channel = new this.Channel( this.channelName );
	this.channel.onmessage = function ( msg ) {
		self.receive( msg.data || {} );
	};
	// A page that loads in the focused window gets no 'focus' event: it has the focus already.
	this.tabs[ this.id ] = {
		visible: this.isVisible(),
		focusedAt: this.document.hasFocus() ? this.now() : 0,
		born: this.born,
		heard: this.now()
	};
	// Tell the others we are here, and ask them to introduce themselves.
	this.announce( true );
	this.listen();

	if ( this.election === 'locks' ) {
		locks.request( this.lockName, function () {
			self.role = 'leader';
			onLeader();
			// Hold the lock for the life of the page; the browser releases it when the page goes.
			// (A browser with Web Locks has promises.)
			return new self.window.Promise( function () {} );
		} );
		return;
	}
	setTimeout( function () {
		self.electable = true;
		self.elect();
	}, ELECTION_WAIT );
	setInterval( function () {
		self.announce( false );
		self.forgetSilent();
	}, ALIVE_EVERY );
};

Tabs.prototype.listen = function () {
	var self = this, win = this.window;
	this.document.addEventListener( 'visibilitychange', function () {
		self.touch( self.isVisible() );
	} );
	win.addEventListener( 'focus', function () {
		self.touch( true );
	} );
	// Clicks and keys say even more surely where the reader is (and some windows never get a
	// 'focus' event, e.g. headless or when focus stayed in the window across a navigation).
	[ 'pointerdown', 'keydown' ].forEach( function ( type ) {
		win.addEventListener( type, function () {
			if ( self.now() - self.tabs[ self.id ].focusedAt > 1000 ) {
				self.touch( true );
			}
		}, { capture: true, passive: true } );
	} );
	win.addEventListener( 'pagehide', function () {
		self.channel.postMessage( { t: 'bye', tab: self.id } );
		// Silent from now on: the 'visibilitychange' that follows a 'pagehide' must not
		// announce us again to tabs that just forgot us.
		self.gone = true;
	} );
	win.addEventListener( 'pageshow', function ( ev ) {
		if ( ev.persisted ) {
			// Back from the back/forward cache: the others forgot us on 'pagehide'.
			self.gone = false;
			self.announce( true );
		}
	} );
};

Tabs.prototype.isVisible = function () {
	return this.document.visibilityState === 'visible';
};

/**
 * @return {boolean} Some tab of this wiki (this one included) is visible
 */
Tabs.prototype.anyVisible = function () {
	var id;
	for ( id in this.tabs ) {
		if ( this.tabs[ id ].visible ) {
			return true;
		}
	}
	return this.isVisible();
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
		me.focusedAt = this.now();
	}
	this.announce( false );
};

Tabs.prototype.announce = function ( ask ) {
	var me = this.tabs[ this.id ];
	if ( this.gone ) {
		return;
	}
	me.heard = this.now();
	this.channel.postMessage( {
		t: 'presence',
		tab: this.id,
		visible: me.visible,
		focusedAt: me.focusedAt,
		born: this.born,
		leader: this.role === 'leader',
		ask: ask
	} );
};

/**
 * @param {string} a Tab id
 * @param {string} b Tab id
 * @return {boolean} Tab a started before tab b (ties broken by id)
 */
Tabs.prototype.older = function ( a, b ) {
	var ta = this.tabs[ a ], tb = this.tabs[ b ];
	return ta.born !== tb.born ? ta.born < tb.born : a < b;
};

/**
 * Without Web Locks: lead if this is the oldest live tab, step down if it is not (any more).
 */
Tabs.prototype.elect = function () {
	var id, oldest = this.id;
	if ( this.election !== 'channel' || !this.electable ) {
		return;
	}
	for ( id in this.tabs ) {
		if ( this.older( id, oldest ) ) {
			oldest = id;
		}
	}
	if ( oldest === this.id && this.role !== 'leader' ) {
		this.role = 'leader';
		this.onLeader();
		this.announce( false );
	} else if ( oldest !== this.id && this.role === 'leader' ) {
		this.role = 'follower';
		this.onResign();
	}
};

Tabs.prototype.forgetSilent = function () {
	var id, now = this.now(), changed = false;
	for ( id in this.tabs ) {
		if ( id !== this.id && now - this.tabs[ id ].heard > FORGET_AFTER ) {
			delete this.tabs[ id ];
			changed = true;
		}
	}
	if ( changed ) {
		this.elect();
	}
};

Tabs.prototype.receive = function ( data ) {
	var known;
	switch ( data.t ) {
		case 'presence':
			known = !!this.tabs[ data.tab ];
			this.tabs[ data.tab ] = {
				visible: !!data.visible,
				focusedAt: Number( data.focusedAt ) || 0,
				born: Number( data.born ) || 0,
				heard: this.now()
			};
			if ( data.ask ) {
				this.announce( false );
			}
			if ( !known ) {
				this.elect();
			}
			break;
		case 'bye':
			delete this.tabs[ data.tab ];
			this.elect();
			break;
		case 'show':
			if ( data.to === this.id ) {
				this.onShow( data.message );
			}
			break;
		case 'all':
			this.onShow( data.message );
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
 * Leader (or solo tab): have a message handled by every tab, this one included (the gadget
 * hook fires in each; a patrol is marked in whichever tab shows the alert).
 *
 * @param {Object} message Structured-cloneable
 */
Tabs.prototype.everywhere = function ( message ) {
	if ( this.channel ) {
		this.channel.postMessage( { t: 'all', message: message } );
	}
	this.onShow( message );
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
