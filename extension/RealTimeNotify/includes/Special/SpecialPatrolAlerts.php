<?php

namespace MediaWiki\Extension\RealTimeNotify\Special;

use Html;
use MediaWiki\Extension\RealTimeNotify\Alerts\AlertStore;
use MediaWiki\Extension\RealTimeNotify\Alerts\PersistentAlerts;
use MediaWiki\Extension\RealTimeNotify\EventBuilder;
use MediaWiki\Extension\RealTimeNotify\EventPublisher;
use RecentChange;
use SpecialPage;
use Throwable;
use Wikimedia\Timestamp\ConvertibleTimestamp;

/**
 * Special:PatrolAlerts: the open patrol alerts (issue 17, section 3), for holders of the alert
 * right, newest first, each with its page, diff, author, reasons and time, and a button that
 * marks it handled: by patrolling the revision when it can be patrolled (then core's
 * MarkPatrolledComplete tells the other patrollers, through HandledHooks), else by closing it
 * here and publishing the `handled` event. The browser module updates an open list and open
 * popups when any alert is handled elsewhere.
 */
class SpecialPatrolAlerts extends SpecialPage {

	/** @var PersistentAlerts */
	private $alerts;
	/** @var EventBuilder */
	private $eventBuilder;
	/** @var EventPublisher */
	private $publisher;
	/** @var \TitleFactory */
	private $titleFactory;

	/**
	 * @param PersistentAlerts $alerts
	 * @param EventBuilder $eventBuilder
	 * @param EventPublisher $publisher
	 * @param \TitleFactory $titleFactory
	 * @param \Config $config
	 */
	public function __construct( PersistentAlerts $alerts, EventBuilder $eventBuilder, EventPublisher $publisher,
		$titleFactory, $config
	) {
		$right = (string)$config->get( 'RealTimeNotifyAlertRight' );
		parent::__construct( 'PatrolAlerts', $right === '' ? 'patrol' : $right );
		$this->alerts = $alerts;
		$this->eventBuilder = $eventBuilder;
		$this->publisher = $publisher;
		$this->titleFactory = $titleFactory;
	}

	/** @inheritDoc */
	protected function getGroupName() {
		return 'changes';
	}

	/** @inheritDoc */
	public function execute( $subPage ) {
		$this->setHeaders();
		$this->checkPermissions();
		$out = $this->getOutput();
		$store = $this->alerts->store();
		if ( !$store->isAvailable() ) {
			$out->addWikiMsg( 'realtimenotify-alerts-notable' );
			return;
		}
		$request = $this->getRequest();
		if ( $request->wasPosted() && $request->getInt( 'alert' ) > 0 ) {
			if ( $this->getContext()->getCsrfTokenSet()->matchTokenField() ) {
				$this->handle( $request->getInt( 'alert' ) );
			}
			// Post/redirect/get: a reload does not send the form again.
			$out->redirect( $this->getPageTitle()->getLocalURL() );
			return;
		}
		$out->addWikiMsg( 'realtimenotify-alerts-intro' );
		$rows = '';
		foreach ( $store->openAlerts( 200 ) as $alert ) {
			// An alert about a page this patroller may not read (a read-restricted page) is not
			// theirs to see, as its live event was not.
			$title = $this->titleFactory->newFromText( (string)( $alert['event']['page_title'] ?? '' ) );
			if ( $title && $this->getAuthority()->probablyCan( 'read', $title ) ) {
				$rows .= $this->row( $alert );
			}
		}
		if ( $rows === '' ) {
			$out->addHTML( Html::element( 'p', [ 'class' => 'ext-realtimenotify-alertlist-empty' ],
				$this->msg( 'realtimenotify-alerts-none' )->text() ) );
			return;
		}
		$out->addHTML( Html::rawElement( 'ul', [ 'class' => 'ext-realtimenotify-alertlist' ], $rows ) );
	}

	/**
	 * One open alert: "Page blanked · Edit of X by Y (diff) · time · [Mark as handled]".
	 *
	 * @param array $alert From AlertStore
	 * @return string HTML
	 */
	private function row( array $alert ): string {
		$e = $alert['event'];
		$title = $this->titleFactory->newFromText( (string)( $e['page_title'] ?? '' ) );
		$reasons = [];
		foreach ( (array)( $e['reasons'] ?? [] ) as $code ) {
			if ( is_string( $code ) && preg_match( '/^[a-z0-9_]{1,32}$/', $code ) ) {
				$key = 'realtimenotify-alert-reason-' . str_replace( '_', '-', $code );
				// Messages: realtimenotify-alert-reason-* (one per code), realtimenotify-alert-reason-other
				$reasons[] = $this->msg( $key )->exists() ? $this->msg( $key )->text() :
					$this->msg( 'realtimenotify-alert-reason-other', $code )->text();
			}
		}
		$page = $title ? Html::element( 'a', [ 'href' => $title->getLocalURL() ], $title->getPrefixedText() ) :
			htmlspecialchars( (string)( $e['page_title'] ?? '' ) );
		$diff = $title ? Html::element( 'a', [
			'class' => 'ext-realtimenotify-alertlist-diff',
			'href' => $title->getLocalURL( [ 'diff' => $alert['rev_id'] ] ),
		], $this->msg( 'diff' )->text() ) : '';
		$line = $this->msg( 'realtimenotify-alerts-line' )->rawParams( $page )
			->params( (string)( $e['user_name'] ?? '' ) )->parse();
		$form = Html::rawElement( 'form', [
			'method' => 'post',
			'action' => $this->getPageTitle()->getLocalURL(),
			'class' => 'ext-realtimenotify-alertlist-form',
			'style' => 'display: inline;',
		], Html::hidden( 'alert', (string)$alert['id'] ) .
			Html::hidden( 'wpEditToken', $this->getContext()->getCsrfTokenSet()->getToken()->toString() ) .
			Html::element( 'button', [ 'type' => 'submit', 'class' => 'ext-realtimenotify-alertlist-handle' ],
				$this->msg( 'realtimenotify-alerts-handle' )->text() ) );
		return Html::rawElement( 'li', [
			'class' => 'ext-realtimenotify-alertlist-item',
			'data-alert-id' => (string)$alert['id'],
			'data-rev-id' => (string)$alert['rev_id'],
			'data-page-id' => (string)(int)( $e['page_id'] ?? 0 ),
		], Html::element( 'strong', [ 'class' => 'ext-realtimenotify-alertlist-reasons' ],
				$this->getLanguage()->commaList( $reasons ) ) . ' ' .
			Html::rawElement( 'span', [ 'class' => 'ext-realtimenotify-alertlist-line' ], $line ) . ' ' .
			$this->msg( 'parentheses' )->rawParams( $diff )->escaped() . ' ' .
			Html::element( 'span', [ 'class' => 'ext-realtimenotify-alertlist-time' ],
				$this->getLanguage()->userTimeAndDate( $alert['timestamp'], $this->getUser() ) ) . ' ' .
			$form );
	}

	/**
	 * Mark one alert handled: patrol its revision when possible, else close it here.
	 *
	 * @param int $id
	 */
	private function handle( int $id ): void {
		$alert = $this->alerts->store()->get( $id );
		if ( !$alert || $alert['handled_by'] !== null ) {
			return;
		}
		$e = $alert['event'];
		$title = $this->titleFactory->newFromText( (string)( $e['page_title'] ?? '' ) );
		if ( !$title || !$this->getAuthority()->probablyCan( 'read', $title ) ) {
			return;
		}
		$user = $this->getUser();
		$pageId = (int)( $e['page_id'] ?? 0 );
		$how = AlertStore::HANDLED_MARKED;
		try {
			$rc = RecentChange::newFromConds( [ 'rc_this_oldid' => $alert['rev_id'] ], __METHOD__ );
			if ( $rc && !$rc->getAttribute( 'rc_patrolled' ) ) {
				// Core's patrol: MarkPatrolledComplete then tells everyone (HandledHooks).
				$ok = method_exists( $rc, 'markPatrolled' ) ?
					$rc->markPatrolled( $this->getAuthority() )->isGood() :
					!$rc->doMarkPatrolled( $this->getAuthority() );
				if ( $ok ) {
					$how = EventBuilder::HANDLED_PATROLLED;
				}
			}
		} catch ( Throwable $ex ) {
			// Not patrolled: closed here instead.
		}
		$closed = $this->alerts->handled( $pageId, $alert['rev_id'], $alert['rev_id'], $user->getName(), $how );
		if ( $closed && $how === AlertStore::HANDLED_MARKED ) {
			$right = $this->getRestriction();
			$this->publisher->publish( function () use ( $title, $user, $alert, $pageId, $right ) {
				$event = $this->eventBuilder->newHandledEvent( $title, $user, AlertStore::HANDLED_MARKED,
					$alert['rev_id'], null, $pageId, ConvertibleTimestamp::now( TS_MW ) );
				$event['audience'] = [ 'public' => false, 'users' => [], 'rights' => [ $right ] ];
				return $event;
			}, 'SpecialPatrolAlerts' );
		}
	}
}
