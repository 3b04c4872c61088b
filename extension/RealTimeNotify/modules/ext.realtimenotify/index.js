/**
 * ext.realtimenotify: live notices of changes on the wiki, pushed by the RealTimeNotify gateway.
 *
 * index.js wires three parts together:
 * - tabs.js elects one leader tab per browser, which alone holds the WebSocket, and routes
 *   each notice to the one tab that should show it;
 * - connection.js is that WebSocket, reconnecting and resuming by itself;
 * - notices.js renders events as text-only mw.notify popups.
 *
 * The resume point — the id of the last event this browser has seen — lives here. The leader
 * keeps it in localStorage and shares it over the BroadcastChannel, so a tab that takes over
 * (the leader closed) or the next page of the same tab (navigation) resumes where the previous
 * socket stopped, and misses nothing in between.
 *
 * Configuration: mw.config wgRealTimeNotify = { url, wiki, showOwn, tokenApi, mode, filter };
 * `url` is the gateway's ws(s):// URL, or a path on this wiki's host. `mode` is the user's
 * choice ('all', 'watchlist' or 'alerts') and `filter` the gateway subscribe filter the wiki
 * derived from it (null: everything).
 *
 * The filter travels in the handshake (`?filter=`), so the gateway applies it to the replay of
 * what a reconnecting client missed as well as to live events: nothing outside the user's mode
 * ever reaches the browser, and whether a change is addressed to us is the gateway's call (the
 * browser never sees audiences).
 */
'use strict';

var Connection = require( './connection.js' ).Connection;
var isNewer = require( './connection.js' ).isNewer;
var previousId = require( './connection.js' ).previousId;
var Tabs = require( './tabs.js' );
var Notices = require( './notices.js' );

// A stored resume point older than this is stale: the browser was away, and replaying
// everything since (or a "you missed notifications" notice) would be noise, not news.
var RESUME_MAX_AGE = 60000;
// While a leader lives, it vouches for the resume point this often.
var HEARTBEAT = 15000;

/**
 * A path ('/realtime/v1/ws') means the gateway is behind this wiki's own host (same proxy,
 * same origin): build the full URL, with wss: on an https: wiki.
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

function start( cfg ) {
	var scope = ( cfg.wiki || '' ) + ':' + ( mw.config.get( 'wgUserName' ) || '' ),
		storageKey = 'realtimenotify-resume:' + scope,
		// { id, at }: `at` is when a live leader last confirmed that `id` is current.
		resume = { id: null, at: 0 },
		connection = null,
		mode = cfg.mode || 'all',
		filter = cfg.filter && typeof cfg.filter === 'object' ? cfg.filter : null,
		// The gateway greeted us, so our filter is in force (it came with the handshake).
		subscribed = false,
		notices = new Notices( {
			userName: mw.config.get( 'wgUserName' ),
			showOwn: !!cfg.showOwn,
			wiki: cfg.wiki
		} ),
		tabs;

	function load() {
		try {
			return JSON.parse( localStorage.getItem( storageKey ) ) || {};
		} catch ( e ) {
			return {};
		}
	}

	function save() {
		try {
			localStorage.setItem( storageKey, JSON.stringify( resume ) );
		} catch ( e ) {
			// Storage full or forbidden: the copy the other tabs got over the channel will do.
		}
		tabs.share( resume );
	}

	function remember( id ) {
		if ( !isNewer( id, resume.id ) ) {
			return false;
		}
		resume = { id: id, at: Date.now() };
		save();
		return true;
	}

	function fresh( point ) {
		return point && point.id && Date.now() - point.at < RESUME_MAX_AGE ? point : null;
	}

	/**
	 * @param {Object} event
	 * @return {boolean} The event belongs to the user's mode
	 */
	function inMode( event ) {
		// The gateway filters already; this only guards against a gateway too old to know the
		// `filter` handshake parameter, which would send everything.
		return mode !== 'alerts' || event.type === 'alert';
	}

	function onFrame( frame ) {
		switch ( frame.op ) {
			case 'hello':
				subscribed = true;
				// Starting afresh: still note where the server is, so that the next reconnect
				// asks for everything after this point.
				if ( !resume.id && frame.last_id ) {
					remember( frame.last_id );
				}
				break;
			case 'event':
				// An id we have seen already (or older) is a duplicate: skip it.
				if ( frame.id && !remember( frame.id ) ) {
					return;
				}
				if ( inMode( frame ) && notices.wants( frame ) ) {
					tabs.route( { kind: 'event', event: frame } );
				}
				break;
			case 'lost':
				// Events after our id are gone; what remains starts at `oldest` and follows now.
				// Resume from just before `oldest` from now on, or every later reconnect
				// would report the same loss again.
				if ( frame.oldest ) {
					remember( previousId( frame.oldest ) );
				}
				tabs.route( { kind: 'lost' } );
				break;
			case 'error':
				mw.log.warn( 'realtimenotify: ' + frame.message );
				break;
		}
	}

	function getToken() {
		// A fresh token per connection attempt: the gateway accepts each token only once.
		return new mw.Api().postWithToken( 'csrf', {
			action: 'realtimenotifytoken',
			formatversion: 2
		} ).then( function ( data ) {
			return data.realtimenotifytoken;
		} );
	}

	function becomeLeader() {
		// Take the newest resume point we know of — from the previous leader's broadcasts or
		// from storage — if it is recent enough.
		var stored = fresh( load() ), known = fresh( resume );
		resume = { id: null, at: 0 };
		if ( known && ( !stored || !isNewer( stored.id, known.id ) ) ) {
			resume = known;
		} else if ( stored ) {
			resume = stored;
		}
		setInterval( function () {
			if ( resume.id ) {
				resume.at = Date.now();
				save();
			}
		}, HEARTBEAT );
		connection = new Connection( {
			url: socketUrl( cfg.url ),
			resumeFrom: function () {
				return resume.id;
			},
			onFrame: onFrame,
			filter: filter,
			getToken: cfg.tokenApi ? getToken : null
		} );
		connection.start();
	}

	tabs = new Tabs( scope, function ( message ) {
		if ( message.kind === 'event' ) {
			notices.add( message.event );
		} else if ( message.kind === 'lost' ) {
			notices.lost();
		}
	}, function ( shared ) {
		// A follower keeps the leader's resume point in memory, in case it takes over.
		if ( shared && shared.id && ( isNewer( shared.id, resume.id ) || shared.id === resume.id ) ) {
			resume = { id: shared.id, at: shared.at };
		}
	} );
	tabs.start( becomeLeader );

	// A small window for debugging and for the end-to-end tests; the tests check the popups
	// themselves, this only tells them which tab is the leader.
	mw.realtimenotify = {
		state: function () {
			return {
				tab: tabs.id,
				role: tabs.role,
				connection: connection ? connection.state : null,
				connects: connection ? connection.connects : 0,
				resumeId: resume.id,
				mode: mode,
				subscribed: subscribed,
				shown: notices.shown
			};
		}
	};
}

( function () {
	var cfg = mw.config.get( 'wgRealTimeNotify' );
	if ( cfg && cfg.url && window.WebSocket && window.JSON ) {
		start( cfg );
	}
}() );
