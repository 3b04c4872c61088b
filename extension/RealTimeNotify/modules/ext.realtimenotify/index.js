/**
 * ext.realtimenotify: live notices of changes on the wiki, pushed by the RealTimeNotify gateway.
 *
 * index.js wires the parts together:
 * - tabs.js elects one leader tab per browser, which alone holds the WebSocket, and routes
 *   each notice to the one tab that should show it (and some messages to every tab);
 * - connection.js is that WebSocket, reconnecting (policy.js) and resuming by itself;
 * - resume.js keeps the resume point and reads the gateway's frames (the Feed);
 * - notices.js renders events as mw.notify popups (parts.js, summary.js, actions.js);
 * - desktop.js shows system notifications while no tab of the wiki is in view.
 *
 * Every event of the user's mode also fires the hook 'ext.realtimenotify.event' once in every
 * tab of the browser (README.md, "For gadgets"), so a gadget never needs a socket of its own.
 *
 * Configuration: mw.config wgRealTimeNotify = { url, wiki, showOwn, tokenApi, mode, filter,
 * actions: { patrol, rollback }, desktop }; `url` is the gateway's ws(s):// URL, or a path on
 * this wiki's host. `mode` is the user's choice ('all', 'watchlist' or 'alerts') and `filter`
 * the gateway subscribe filter the wiki derived from it (null: everything); it travels in the
 * handshake (`?filter=`), so the gateway applies it to the replay as well as to live events.
 */
'use strict';

var Connection = require( './connection.js' ).Connection;
var Resume = require( './resume.js' );
var Tabs = require( './tabs.js' );
var Notices = require( './notices.js' );
var Actions = require( './actions.js' );
var Desktop = require( './desktop.js' );

// While a leader lives, it vouches for the resume point this often.
var HEARTBEAT = 15000;
var HOOK = 'ext.realtimenotify.event';

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

/**
 * A copy of an event for gadgets: the documented fields only, none of the frame's.
 *
 * @param {Object} event
 * @return {Object}
 */
function forGadgets( event ) {
	var copy = $.extend( true, {}, event );
	delete copy.op;
	return copy;
}

/**
 * What a desktop notification says about one event or a burst.
 *
 * @param {Object[]} events
 * @return {Object} { title, body }
 */
function desktopText( events ) {
	var e = events[ 0 ], type, line;
	if ( events.length > 1 ) {
		return {
			title: mw.message( 'realtimenotify-notice-burst', mw.language.convertNumber( events.length ) ).text(),
			body: events.slice( 0, 5 ).map( function ( x ) {
				return x.page_title;
			} ).join( ', ' ) + ( events.length > 5 ? ', …' : '' )
		};
	}
	if ( e.type === 'alert' ) {
		line = mw.message( 'realtimenotify-notice-alert', e.user_name, e.page_title, '', e.user_gender || 'unknown' ).text();
		return { title: mw.msg( 'realtimenotify-alert-title' ), body: line + ( e.summary ? '\n' + e.summary : '' ) };
	}
	type = [ 'edit', 'create', 'delete', 'move', 'upload' ].indexOf( e.type ) === -1 ? 'edit' : e.type;
	// Messages used here:
	// * realtimenotify-notice-edit
	// * realtimenotify-notice-create
	// * realtimenotify-notice-delete
	// * realtimenotify-notice-move
	// * realtimenotify-notice-upload
	line = mw.message( 'realtimenotify-notice-' + type, e.user_name, e.page_title, e.target_title || '',
		e.user_gender || 'unknown' ).text();
	// A system notification is plain text: the summary as typed.
	return { title: mw.msg( 'realtimenotify-notice-title' ), body: line + ( e.summary ? '\n' + e.summary : '' ) };
}

function start( cfg ) {
	var scope = ( cfg.wiki || '' ) + ':' + ( mw.config.get( 'wgUserName' ) || '' ),
		connection = null,
		heartbeat = null,
		hooked = 0,
		actions = cfg.actions || {},
		filter = cfg.filter && typeof cfg.filter === 'object' ? cfg.filter : null,
		point, feed, tabs, notices, desktop;

	desktop = new Desktop( { enabled: !!cfg.desktop, text: desktopText } );
	notices = new Notices( {
		userName: mw.config.get( 'wgUserName' ),
		showOwn: !!cfg.showOwn,
		wiki: cfg.wiki,
		actions: actions.patrol || actions.rollback ?
			new Actions( { patrol: !!actions.patrol, rollback: !!actions.rollback } ) : null,
		desktop: desktop
	} );
	point = new Resume.ResumePoint( {
		storage: {
			get: function ( key ) {
				return mw.storage.getObject( key );
			},
			set: function ( key, value ) {
				mw.storage.setObject( key, value );
			}
		},
		key: 'realtimenotify-resume:' + scope,
		onChange: function ( shared ) {
			tabs.share( shared );
		}
	} );
	feed = new Resume.Feed( point, filter );

	/**
	 * Leader: what the Feed says to do with an event or a loss.
	 *
	 * @param {Object} action
	 */
	function act( action ) {
		var event = action.event;
		if ( action.kind === 'lost' ) {
			tabs.route( { kind: 'lost' } );
			return;
		}
		// Every tab: the gadget hook, and `handled` (whichever tab shows the alert updates it).
		tabs.everywhere( { kind: 'hook', event: event } );
		if ( !notices.wants( event ) ) {
			return;
		}
		tabs.route( { kind: 'event', event: event } );
		if ( !tabs.anyVisible() ) {
			desktop.show( event );
		}
	}

	function becomeLeader() {
		point.takeOver();
		heartbeat = setInterval( function () {
			point.vouch();
		}, HEARTBEAT );
		connection = new Connection( {
			url: socketUrl( cfg.url ),
			resumeFrom: function () {
				return point.id;
			},
			onFrame: function ( frame ) {
				if ( frame.op === 'error' ) {
					mw.log.warn( 'realtimenotify: ' + frame.message );
				}
				feed.frame( frame ).forEach( act );
			},
			onForgetResume: function () {
				point.forget();
			},
			filter: filter,
			getToken: cfg.tokenApi ? function () {
				// A fresh token per connection attempt: the gateway accepts each token only once.
				return new mw.Api().postWithToken( 'csrf', {
					action: 'realtimenotifytoken',
					formatversion: 2
				} ).then( function ( data ) {
					return data.realtimenotifytoken;
				} );
			} : null
		} );
		connection.start();
	}

	function resign() {
		clearInterval( heartbeat );
		if ( connection ) {
			connection.stop( 'resigned' );
		}
	}

	tabs = new Tabs( scope, function ( message ) {
		switch ( message.kind ) {
			case 'event':
				// Other log entries (blocks, rights, ...: issue 11) are for tools and gadgets
				// (the hook below); a popup has no words for them.
				if ( message.event.type !== 'log' ) {
					notices.add( message.event );
				}
				break;
			case 'hook':
				hooked++;
				if ( message.event.type === 'handled' ) {
					notices.handled( message.event );
				}
				mw.hook( HOOK ).fire( forGadgets( message.event ) );
				break;
			case 'lost':
				notices.lost();
				break;
		}
	}, function ( shared ) {
		// A follower keeps the leader's resume point in memory, in case it takes over.
		point.adopt( shared );
	} );
	tabs.start( becomeLeader, resign );

	mw.realtimenotify.state = function () {
		return {
			supported: true,
			tab: tabs.id,
			role: tabs.role,
			election: tabs.election,
			connection: connection ? connection.state : null,
			stopped: connection ? connection.stopped : null,
			lastClose: connection ? connection.lastClose : null,
			connects: connection ? connection.connects : 0,
			resumeId: point.id,
			mode: cfg.mode || 'all',
			subscribed: feed.greeted,
			shown: notices.shown,
			hooked: hooked,
			desktop: {
				enabled: !!cfg.desktop,
				permission: desktop.permission(),
				shown: desktop.shown
			}
		};
	};
	mw.realtimenotify.askDesktopPermission = function () {
		return desktop.askPermission();
	};
}

( function () {
	var cfg = mw.config.get( 'wgRealTimeNotify' ), missing;
	if ( !cfg || !cfg.url ) {
		return;
	}
	// A small window for gadgets, debugging and the end-to-end tests.
	mw.realtimenotify = {};
	missing = !window.WebSocket ? 'websocket' : ( !window.JSON ? 'json' : null );
	if ( missing ) {
		// Said once, here, and nothing else happens: no socket, no timers, no popups.
		mw.log.warn( 'realtimenotify: this browser has no ' + missing + '; live notifications are off' );
		mw.realtimenotify.state = function () {
			return { supported: false, missing: missing, connection: null, role: null, shown: 0 };
		};
		return;
	}
	start( cfg );
}() );
