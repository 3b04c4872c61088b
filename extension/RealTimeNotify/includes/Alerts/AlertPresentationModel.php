<?php

namespace MediaWiki\Extension\RealTimeNotify\Alerts;

use MediaWiki\Extension\Notifications\Formatters\EchoEventPresentationModel;
use MediaWiki\MediaWikiServices;

/**
 * How Echo shows a `realtimenotify-alert` (a patrol alert kept for the patrollers who were
 * away): "Bob made an edit of Page that may need checking: page blanked.", and once someone
 * handled it (read from AlertStore when shown, so it is always current) "… Handled by Patty.".
 * Its primary link is the diff. Only loaded when Echo is (Echo is the one that names it).
 */
class AlertPresentationModel extends EchoEventPresentationModel {

	/** @inheritDoc */
	public function getIconType() {
		return 'placeholder';
	}

	/** @inheritDoc */
	public function canRender() {
		return $this->event->getTitle() !== null && (int)$this->event->getExtraParam( 'revid' ) > 0;
	}

	/**
	 * @return array|null The kept alert (AlertStore::get's shape), or null
	 */
	private function kept(): ?array {
		/** @var AlertStore $store */
		$store = MediaWikiServices::getInstance()->get( 'RealTimeNotify.AlertStore' );
		return $store->findByRevision( (int)$this->event->getExtraParam( 'revid' ) );
	}

	/** @inheritDoc */
	public function getHeaderMessage() {
		$kept = $this->kept();
		$handled = $kept && $kept['handled_by'] !== null;
		$msg = $this->getMessageWithAgent( $handled ?
			'notification-header-realtimenotify-alert-handled' :
			'notification-header-realtimenotify-alert' );
		$msg->params( $this->getTruncatedTitleText( $this->event->getTitle(), true ) );
		$reasons = [];
		foreach ( (array)$this->event->getExtraParam( 'reasons' ) as $code ) {
			if ( is_string( $code ) && preg_match( '/^[a-z0-9_]{1,32}$/', $code ) ) {
				$key = 'realtimenotify-alert-reason-' . str_replace( '_', '-', $code );
				$reasons[] = $this->msg( $key )->exists() ? $this->msg( $key )->text() :
					$this->msg( 'realtimenotify-alert-reason-other', $code )->text();
			}
		}
		$msg->params( $this->language->commaList( $reasons ) );
		if ( $handled ) {
			$msg->params( (string)$kept['handled_by'] );
		}
		return $msg;
	}

	/** @inheritDoc */
	public function getPrimaryLink() {
		return [
			'url' => $this->event->getTitle()->getLocalURL( [ 'diff' => (int)$this->event->getExtraParam( 'revid' ) ] ),
			'label' => $this->msg( 'realtimenotify-echo-alert-link' )->text(),
		];
	}
}
