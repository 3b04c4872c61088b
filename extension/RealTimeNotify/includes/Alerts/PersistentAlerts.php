<?php

namespace MediaWiki\Extension\RealTimeNotify\Alerts;

use MediaWiki\Extension\RealTimeNotify\EventBuilder;
use MediaWiki\Extension\RealTimeNotify\Hooks\EchoHooks;
use MediaWiki\Extension\RealTimeNotify\Targeting\DbRightHolderLookup;
use MediaWiki\MediaWikiServices;
use MediaWiki\User\UserIdentity;
use Psr\Log\LoggerInterface;
use Throwable;
use Wikimedia\Timestamp\ConvertibleTimestamp;

/**
 * Patrol alerts as a shared work queue (issue 17, section 3): what happens to an alert besides
 * its live `alert` event.
 *
 * - It is kept in the extension's table (AlertStore) until handled: Special:PatrolAlerts lists
 *   the open ones, with or without Echo.
 * - With Echo, it is also an Echo notification of type `realtimenotify-alert` (its own
 *   category, on the web by default) for each holder of the alert right, so a patroller who
 *   was away finds it in Echo's alerts too; its header says who handled it once someone did
 *   (AlertPresentationModel reads the table).
 * - Handled (patrolled, reverted, or marked handled on the special page): closed in the table;
 *   the `handled` event that reaches the other patrollers' open popups and lists is published
 *   by HandledHooks, or by the special page.
 *
 * Called from the deferred updates that publish (never during the save); never throws.
 */
class PersistentAlerts {

	/** At most this many holders of the alert right get an alert in Echo. */
	public const MAX_RECIPIENTS = 1000;

	/** @var AlertStore */
	private $store;
	/** @var LoggerInterface */
	private $logger;
	/** @var callable(string): bool */
	private $isLoaded;
	/** @var \TitleFactory */
	private $titleFactory;

	/**
	 * @param AlertStore $store
	 * @param LoggerInterface $logger
	 * @param \TitleFactory $titleFactory
	 * @param callable $isLoaded Extension name → loaded
	 */
	public function __construct( AlertStore $store, LoggerInterface $logger, $titleFactory, callable $isLoaded ) {
		$this->store = $store;
		$this->logger = $logger;
		$this->titleFactory = $titleFactory;
		$this->isLoaded = $isLoaded;
	}

	/**
	 * @return AlertStore
	 */
	public function store(): AlertStore {
		return $this->store;
	}

	/**
	 * Keep an alert that was just raised.
	 *
	 * @param array $alert The `alert` event (with its audience)
	 * @param mixed $page The page (PageReference)
	 * @param UserIdentity $performer Who made the edit
	 */
	public function keep( array $alert, $page, UserIdentity $performer ): void {
		$timestamp = ConvertibleTimestamp::now( TS_MW );
		$kept = $this->store->record( $alert, $timestamp );
		if ( !( $this->isLoaded )( 'Echo' ) || ( !$kept && $this->store->isAvailable() ) ) {
			// No Echo; or the same revision's alert was kept (and notified) already.
			return;
		}
		try {
			$title = $this->titleFactory->castFromPageReference( $page );
			$eventClass = 'MediaWiki\\Extension\\Notifications\\Model\\Event';
			$eventClass::create( [
				'type' => EchoHooks::ALERT_TYPE,
				'title' => $title,
				'agent' => $performer,
				'extra' => [
					'revid' => (int)( $alert['rev_id'] ?? 0 ),
					'reasons' => array_values( (array)( $alert['reasons'] ?? [] ) ),
					// An alert about a page not every reader may read names its recipients.
					'recipients' => empty( $alert['audience']['rights'] ) ?
						array_values( (array)( $alert['audience']['users'] ?? [] ) ) : null,
				],
			] );
		} catch ( Throwable $e ) {
			$this->logger->error( 'Could not create the Echo alert about revision {rev_id}: {message}', [
				'rev_id' => $alert['rev_id'] ?? 0,
				'message' => $e->getMessage(),
				'exception' => $e,
			] );
		}
	}

	/**
	 * Close the alerts about revisions $firstRevId..$lastRevId of a page.
	 *
	 * @param int $pageId
	 * @param int $firstRevId
	 * @param int $lastRevId
	 * @param string $by User name
	 * @param string $how EventBuilder::HANDLED_* or AlertStore::HANDLED_MARKED
	 * @return int How many open alerts were closed
	 */
	public function handled( int $pageId, int $firstRevId, int $lastRevId, string $by, string $how ): int {
		return $this->store->markHandled( $pageId, $firstRevId, $lastRevId, $by, $how,
			ConvertibleTimestamp::now( TS_MW ) );
	}

	/**
	 * Echo's user locator of `realtimenotify-alert`: the holders of the alert right (or, for a
	 * page not every reader may read, the ones the alert named).
	 *
	 * @param \MediaWiki\Extension\Notifications\Model\Event $event
	 * @return \MediaWiki\User\User[]
	 */
	public static function locateRecipients( $event ): array {
		$services = MediaWikiServices::getInstance();
		$ids = $event->getExtraParam( 'recipients' );
		if ( !is_array( $ids ) ) {
			$right = (string)$services->getMainConfig()->get( 'RealTimeNotifyAlertRight' );
			if ( $right === '' ) {
				return [];
			}
			$lookup = new DbRightHolderLookup(
				$services->getDBLoadBalancer(),
				$services->getGroupPermissionsLookup(),
				$services->getUserGroupManager()->listAllImplicitGroups()
			);
			$ids = $lookup->getUserIdsWithRight( $right, self::MAX_RECIPIENTS );
		}
		$users = [];
		foreach ( array_slice( $ids, 0, self::MAX_RECIPIENTS ) as $id ) {
			$user = $services->getUserFactory()->newFromId( (int)$id );
			$users[$user->getId()] = $user;
		}
		return $users;
	}

	/**
	 * @param string $how A `handled` code
	 * @return string The message key that says so in a list ("handled by …")
	 */
	public static function handledMessage( string $how ): string {
		return in_array( $how, [ EventBuilder::HANDLED_PATROLLED, EventBuilder::HANDLED_REVERTED ], true ) ?
			"realtimenotify-handled-$how" : 'realtimenotify-handled-other';
	}
}
