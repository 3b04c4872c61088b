/**
 * What a patroller can do from a patrol alert, without leaving the page: mark the revision as
 * patrolled (API action=patrol with the patrol token) and, for rollbackers, roll the editor's
 * edits back (action=rollback, behind a confirmation), plus the diff. The wiki says which of
 * these the reader may do (wgRealTimeNotify.actions); the API checks again.
 *
 * Each outcome is shown in the alert itself (a status line with role=status), and the alert
 * is flagged (data-pending, then data-done) so that the `handled` event of our own action,
 * which may arrive before the API's answer, does not say it twice.
 */
'use strict';

/**
 * A button whose click does not reach mw.notification (which closes a popup on any click).
 *
 * @param {string} label
 * @param {Function} onClick
 * @return {jQuery}
 */
function button( label, onClick ) {
	return $( '<button>' ).attr( 'type', 'button' ).addClass( 'ext-realtimenotify-button' )
		.text( label )
		.on( 'click', function ( e ) {
			e.stopPropagation();
			onClick( $( this ) );
		} );
}

/**
 * The API's error text, as plain text.
 *
 * @param {string} code
 * @param {Object} data
 * @return {string}
 */
function errorText( code, data ) {
	var info = data && data.error && ( data.error.info || data.error.code );
	return String( info || code || '?' );
}

/**
 * @class
 * @param {Object} options
 * @param {boolean} options.patrol The reader may patrol
 * @param {boolean} options.rollback The reader may roll back
 * @param {Function} [options.api] Returns an mw.Api (tests)
 */
function Actions( options ) {
	this.options = options;
}

Actions.prototype.api = function () {
	return this.options.api ? this.options.api() : new mw.Api();
};

/**
 * The action row for an alert, or null when there is nothing to offer.
 *
 * @param {Object} event An alert
 * @param {jQuery} $body The alert's body (flagged when an action succeeded)
 * @return {jQuery|null}
 */
Actions.prototype.row = function ( event, $body ) {
	var self = this,
		revId = typeof event.rev_id === 'number' && event.rev_id > 0 ? event.rev_id : null,
		$row = $( '<div>' ).addClass( 'ext-realtimenotify-actions' ),
		$status = $( '<div>' ).addClass( 'ext-realtimenotify-status' ).attr( 'role', 'status' );

	// state: 'pending', 'success' or 'failure' (styled by notices.css).
	function status( state, text ) {
		$status.attr( 'data-state', state ).text( text );
	}

	if ( typeof event.url === 'string' && /^https?:\/\//i.test( event.url ) && /[?&]diff=/.test( event.url ) ) {
		$row.append( $( '<a>' ).addClass( 'ext-realtimenotify-diff' ).attr( 'href', event.url )
			.text( mw.msg( 'diff' ) ) );
	}
	if ( this.options.patrol && revId ) {
		$row.append( button( mw.msg( 'realtimenotify-action-patrol' ), function ( $b ) {
			$b.prop( 'disabled', true );
			// Our own `handled` event may come back before the API's answer.
			$body.attr( 'data-pending', 'patrolled' );
			status( 'pending', mw.msg( 'realtimenotify-action-patrolling' ) );
			self.api().postWithToken( 'patrol', { action: 'patrol', revid: revId, formatversion: 2 } ).then( function () {
				$body.attr( 'data-done', 'patrolled' );
				$row.find( 'button' ).remove();
				status( 'success', mw.msg( 'realtimenotify-action-patrolled' ) );
			}, function ( code, data ) {
				$body.removeAttr( 'data-pending' );
				$b.prop( 'disabled', false );
				status( 'failure', mw.msg( 'realtimenotify-action-failed', errorText( code, data ) ) );
			} );
		} ).addClass( 'ext-realtimenotify-patrol' ) );
	}
	if ( this.options.rollback && revId && typeof event.user_name === 'string' ) {
		$row.append( button( mw.msg( 'realtimenotify-action-rollback' ), function ( $b ) {
			var $confirm = $( '<div>' ).addClass( 'ext-realtimenotify-confirm' ).attr( 'role', 'group' );
			$b.prop( 'disabled', true );
			$confirm.append(
				$( '<span>' ).text( mw.message( 'realtimenotify-action-rollback-confirm', event.user_name,
					event.page_title, event.user_gender || 'unknown' ).text() ),
				' ',
				button( mw.msg( 'realtimenotify-action-rollback-yes' ), function () {
					$confirm.remove();
					$body.attr( 'data-pending', 'reverted' );
					status( 'pending', mw.msg( 'realtimenotify-action-rollingback' ) );
					self.api().postWithToken( 'rollback', {
						action: 'rollback',
						title: event.page_title,
						user: event.user_name,
						formatversion: 2
					} ).then( function () {
						$body.attr( 'data-done', 'reverted' );
						$row.find( 'button' ).remove();
						status( 'success', mw.msg( 'realtimenotify-action-rolledback' ) );
					}, function ( code, data ) {
						$body.removeAttr( 'data-pending' );
						$b.prop( 'disabled', false );
						status( 'failure',
							mw.msg( 'realtimenotify-action-failed', errorText( code, data ) ) );
					} );
				} ).addClass( 'ext-realtimenotify-rollback-yes' ),
				' ',
				button( mw.msg( 'realtimenotify-action-cancel' ), function () {
					$confirm.remove();
					$b.prop( 'disabled', false ).trigger( 'focus' );
				} ).addClass( 'ext-realtimenotify-rollback-no' )
			);
			$row.after( $confirm );
			$confirm.find( '.ext-realtimenotify-rollback-yes' ).trigger( 'focus' );
		} ).addClass( 'ext-realtimenotify-rollback' ) );
	}
	if ( !$row.children().length ) {
		return null;
	}
	return $( '<div>' ).append( $row, $status ).children();
};

module.exports = Actions;
