/**
 * Echo's badges, live (issue 17): the alert (bell) and notice (tray) counts in the personal
 * toolbar follow `notification` and `notification_read` events without a reload.
 *
 * Echo renders each badge as a link inside #pt-notifications-alert / #pt-notifications-notice,
 * with the count in the attributes `data-counter-num` and `data-counter-text` (the skin shows
 * the text) and the class `mw-echo-notifications-badge-all-read` at zero; once Echo's own
 * interface has loaded (a click on a badge), the link is its BadgeLinkWidget, and its model's
 * counter (mw.echo.ui.alertWidget / messageWidget) is what it redraws from. Both are updated.
 * Only numbers from the event reach the page.
 */
'use strict';

// Echo's badges show "99+" above this (NotifUser::MAX_BADGE_COUNT).
var MAX_BADGE_COUNT = 99;

var SECTIONS = {
	alert: { id: 'pt-notifications-alert', widget: 'alertWidget', field: 'unread_alerts' },
	message: { id: 'pt-notifications-notice', widget: 'messageWidget', field: 'unread_notices' }
};

/**
 * @param {number} count
 * @return {string} What the badge shows
 */
function label( count ) {
	return count > MAX_BADGE_COUNT ?
		mw.language.convertNumber( MAX_BADGE_COUNT ) + '+' :
		mw.language.convertNumber( count );
}

/**
 * @param {string} section 'alert' or 'message'
 * @param {number} count Unread notifications in it
 * @param {boolean} added A new one arrived (mark the badge unseen, as Echo does)
 * @return {boolean} A badge was found
 */
function setCount( section, count, added ) {
	var s = SECTIONS[ section ],
		widget = mw.echo && mw.echo.ui && mw.echo.ui[ s.widget ],
		$badge = $( '#' + s.id + ' a' ).first();
	if ( widget && widget.manager && typeof widget.manager.getUnreadCounter === 'function' ) {
		// Echo's own interface is there: it redraws its badge from its model.
		widget.manager.getUnreadCounter().setCount( count, false );
		return true;
	}
	if ( !$badge.length ) {
		return false;
	}
	$badge
		.attr( 'data-counter-num', String( count ) )
		.attr( 'data-counter-text', label( count ) )
		.toggleClass( 'mw-echo-notifications-badge-all-read', !count )
		.toggleClass( 'mw-echo-notifications-badge-long-label', count > MAX_BADGE_COUNT );
	if ( added && count ) {
		$badge.addClass( 'mw-echo-unseen-notifications' );
	} else if ( !count ) {
		$badge.removeClass( 'mw-echo-unseen-notifications' );
	}
	return true;
}

/**
 * Apply the counts an event carries.
 *
 * @param {Object} event A `notification` or `notification_read` event
 * @return {number} Badges updated
 */
function update( event ) {
	var updated = 0;
	Object.keys( SECTIONS ).forEach( function ( section ) {
		var count = event[ SECTIONS[ section ].field ];
		if ( typeof count === 'number' && count >= 0 && Math.floor( count ) === count ) {
			updated += setCount( section, count,
				event.type === 'notification' && event.section === section ) ? 1 : 0;
		}
	} );
	return updated;
}

/**
 * @return {Object} { alert, message }: the counts the badges show now (null: no badge)
 */
function counts() {
	var out = {};
	Object.keys( SECTIONS ).forEach( function ( section ) {
		var n = $( '#' + SECTIONS[ section ].id + ' a' ).first().attr( 'data-counter-num' );
		out[ section ] = n === undefined ? null : Number( n );
	} );
	return out;
}

module.exports = { update: update, counts: counts, label: label, MAX_BADGE_COUNT: MAX_BADGE_COUNT };
