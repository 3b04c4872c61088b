/**
 * The pieces of a notice that say who, when and how much, built as MediaWiki's own lists
 * (Special:RecentChanges) build them, from untrusted event fields: user links, a relative
 * time, the size change and the minor/bot/new markers. Text from the event only ever becomes
 * text nodes or a URL built by mw.util.getUrl().
 */
'use strict';

var Summary = require( './summary.js' );

// What EventBuilder.php publishes for a user name hidden by revision deletion.
var HIDDEN_USER = '(username removed)';
// Intl.RelativeTimeFormat, looked up by name: feature-detected below, older browsers get the date.
var RTF = 'RelativeTimeFormat';

/**
 * A core separator message as text: they are written with HTML entities for their blanks.
 *
 * @param {string} key pipe-separator or colon-separator
 * @return {string}
 */
function separator( key ) {
	// Messages used here:
	// * pipe-separator
	// * colon-separator
	return mw.message( key ).plain().replace( /&#32;/g, ' ' ).replace( /&nbsp;|&#160;/g, '\u00a0' );
}

/**
 * @param {string} name
 * @return {boolean}
 */
function isTemporary( name ) {
	return !!( mw.util.isTemporaryUser && mw.util.isTemporaryUser( name ) );
}

/**
 * The user, linked as RecentChanges links it: the user page, or for an IP or a temporary
 * account its contributions.
 *
 * @param {string} name
 * @return {jQuery}
 */
function userLink( name ) {
	var ip = mw.util.isIPAddress( name ),
		temp = !ip && isTemporary( name ),
		$span = $( '<span>' ).addClass( 'ext-realtimenotify-user' );
	if ( name === HIDDEN_USER ) {
		return $span.append( $( '<span>' ).addClass( 'history-deleted' ).text( name ) );
	}
	return $span.append( $( '<a>' )
		.attr( 'href', mw.util.getUrl( ip || temp ? 'Special:Contributions/' + name : 'User:' + name ) )
		// The classes RecentChanges uses (and skins and gadgets style).
		.addClass( ip ? 'mw-userlink mw-anonuserlink' : ( temp ? 'mw-userlink mw-tempuserlink' : 'mw-userlink' ) )
		.append( $( '<bdi>' ).text( name ) ) );
}

/**
 * "(talk | contribs)" for a user (an IP's contributions are its main link already).
 *
 * @param {string} name
 * @return {jQuery|null}
 */
function userTools( name ) {
	var ip = mw.util.isIPAddress( name ),
		tools = [ $( '<a>' ).addClass( 'ext-realtimenotify-talk' )
			.attr( 'href', mw.util.getUrl( 'User talk:' + name ) )
			.text( mw.msg( 'talkpagelinktext' ) ) ];
	if ( name === HIDDEN_USER ) {
		return null;
	}
	if ( !ip ) {
		tools.push( separator( 'pipe-separator' ), $( '<a>' ).addClass( 'ext-realtimenotify-contribs' )
			.attr( 'href', mw.util.getUrl( 'Special:Contributions/' + name ) )
			.text( mw.msg( 'contribslink' ) ) );
	}
	return $( '<span>' ).addClass( 'mw-usertoollinks' ).append(
		mw.message( 'parentheses', $( '<span>' ).append( tools ) ).parseDom()
	);
}

/**
 * A time relative to now ("2 minutes ago"), in the user's language, with the full date as a
 * tooltip.
 *
 * @param {string} timestamp ISO 8601
 * @param {number} now ms
 * @return {string|null}
 */
function relativeTime( timestamp, now ) {
	var fmt,
		// Feature-detected: older browsers get the date instead.
		Formatter = window.Intl && window.Intl[ RTF ],
		lang = mw.config.get( 'wgUserLanguage' ) || 'en',
		seconds = Math.round( ( Date.parse( timestamp ) - now ) / 1000 ),
		abs = Math.abs( seconds );
	if ( isNaN( seconds ) ) {
		return null;
	}
	if ( !Formatter ) {
		return fullDate( Date.parse( timestamp ) );
	}
	try {
		// eslint-disable-next-line no-obj-calls
		fmt = new Formatter( lang, { numeric: 'auto' } );
	} catch ( e ) {
		// eslint-disable-next-line no-obj-calls
		fmt = new Formatter( 'en', { numeric: 'auto' } );
	}
	// A clock a little ahead of ours is "now", not "in 3 seconds".
	if ( seconds > 0 && seconds < 60 ) {
		seconds = 0;
	}
	if ( abs < 60 ) {
		return fmt.format( seconds, 'second' );
	}
	if ( abs < 3600 ) {
		return fmt.format( Math.round( seconds / 60 ), 'minute' );
	}
	if ( abs < 86400 ) {
		return fmt.format( Math.round( seconds / 3600 ), 'hour' );
	}
	return fmt.format( Math.round( seconds / 86400 ), 'day' );
}

/**
 * @param {number} ms
 * @return {string} The date and time in the user's language (or the browser's)
 */
function fullDate( ms ) {
	var date = new Date( ms );
	try {
		return date.toLocaleString( mw.config.get( 'wgUserLanguage' ) || 'en' );
	} catch ( e ) {
		// A language code the browser does not accept as a locale.
		return date.toLocaleString();
	}
}

/**
 * @param {string} timestamp
 * @return {jQuery|null}
 */
function timeElement( timestamp ) {
	var text = typeof timestamp === 'string' ? relativeTime( timestamp, Date.now() ) : null;
	if ( text === null ) {
		return null;
	}
	return $( '<time>' ).addClass( 'ext-realtimenotify-time' )
		.attr( { datetime: timestamp, title: fullDate( Date.parse( timestamp ) ) } )
		.text( text );
}

/**
 * Redraw the relative times of open notices.
 */
function refreshTimes() {
	var times = document.querySelectorAll( '.ext-realtimenotify-notice time.ext-realtimenotify-time' );
	Array.prototype.forEach.call( times, function ( el ) {
		var text = relativeTime( el.getAttribute( 'datetime' ), Date.now() );
		if ( text !== null ) {
			el.textContent = text;
		}
	} );
}

/**
 * "+123" / "−45" / "0", styled as RecentChanges styles it.
 *
 * @param {number} delta
 * @return {jQuery|null}
 */
function sizeDelta( delta ) {
	var formatted, cls;
	if ( typeof delta !== 'number' || !isFinite( delta ) ) {
		return null;
	}
	formatted = mw.language.convertNumber( Math.abs( delta ) );
	cls = delta > 0 ? 'mw-plusminus-pos' : ( delta < 0 ? 'mw-plusminus-neg' : 'mw-plusminus-null' );
	return $( '<span>' ).addClass( cls + ' mw-diff-bytes ext-realtimenotify-size' ).attr( {
		dir: 'ltr',
		// Messages used here:
		// * realtimenotify-size-added
		// * realtimenotify-size-removed
		// * realtimenotify-size-unchanged
		title: mw.message( delta > 0 ? 'realtimenotify-size-added' :
			( delta < 0 ? 'realtimenotify-size-removed' : 'realtimenotify-size-unchanged' ), formatted ).text()
	} ).text( ( delta > 0 ? '+' : ( delta < 0 ? '−' : '' ) ) + formatted );
}

/**
 * The letters RecentChanges shows: N (new page), m (minor), b (bot).
 *
 * @param {Object} event
 * @return {jQuery[]}
 */
function markers( event ) {
	var out = [];
	function abbr( cls, letter, label ) {
		// Messages used here:
		// * newpageletter, minoreditletter, boteditletter
		// * recentchanges-label-newpage, recentchanges-label-minor, recentchanges-label-bot
		out.push( $( '<abbr>' ).addClass( cls ).attr( 'title', mw.msg( label ) ).text( mw.msg( letter ) ) );
	}
	if ( event.type === 'create' ) {
		abbr( 'newpage', 'newpageletter', 'recentchanges-label-newpage' );
	}
	if ( event.minor === true ) {
		abbr( 'minoredit', 'minoreditletter', 'recentchanges-label-minor' );
	}
	if ( event.bot === true ) {
		abbr( 'botedit', 'boteditletter', 'recentchanges-label-bot' );
	}
	return out;
}

/**
 * @param {string} title
 * @return {boolean}
 */
function isTitle( title ) {
	return mw.Title.newFromText( title ) !== null;
}

/**
 * The summary, with sections and links (summary.js), or null for none.
 *
 * @param {Object} event
 * @return {HTMLElement|null}
 */
function summary( event ) {
	var el, page = typeof event.page_title === 'string' ? event.page_title : '';
	if ( typeof event.summary !== 'string' || event.summary === '' ) {
		return null;
	}
	el = document.createElement( 'div' );
	el.className = 'ext-realtimenotify-summary comment';
	el.setAttribute( 'dir', 'auto' );
	el.appendChild( Summary.render(
		Summary.parse( event.summary, {
			page: page,
			namespaces: mw.config.get( 'wgNamespaceIds' ) || {},
			isTitle: isTitle
		} ),
		{
			document: document,
			page: page,
			colon: separator( 'colon-separator' ),
			url: function ( title, fragment ) {
				return mw.util.getUrl( fragment ? title + '#' + fragment : title );
			}
		}
	) );
	return el;
}

module.exports = {
	HIDDEN_USER: HIDDEN_USER,
	userLink: userLink,
	userTools: userTools,
	relativeTime: relativeTime,
	timeElement: timeElement,
	refreshTimes: refreshTimes,
	sizeDelta: sizeDelta,
	markers: markers,
	summary: summary
};
