<?php

namespace MediaWiki\Extension\RealTimeNotify\Alerts;

use MediaWiki\Extension\RealTimeNotify\EventPublisher;
use Psr\Log\LoggerInterface;
use Throwable;
use Wikimedia\Rdbms\ILoadBalancer;

/**
 * Patrol alerts that persist (issue 17, section 3): a shared work queue. Each alert the wiki
 * raises is kept in the table `realtimenotify_alert` (sql/, created by update.php) until
 * someone handles it (patrols or reverts the edit, or marks it handled on Special:PatrolAlerts),
 * so a patroller who was away finds it waiting. Without the table (update.php not run yet)
 * nothing is kept and nothing fails: live alerts work as before.
 *
 * Every method catches what the database throws and logs it: keeping an alert must never
 * break the edit, the patrol or the revert that led to it.
 */
class AlertStore {

	public const TABLE = 'realtimenotify_alert';

	/** `handled` code of an alert marked handled without patrolling (docs/events.md). */
	public const HANDLED_MARKED = 'handled';

	/** @var ILoadBalancer */
	private $loadBalancer;
	/** @var LoggerInterface */
	private $logger;
	/** @var bool|null */
	private $available = null;

	/**
	 * @param ILoadBalancer $loadBalancer
	 * @param LoggerInterface $logger
	 */
	public function __construct( ILoadBalancer $loadBalancer, LoggerInterface $logger ) {
		$this->loadBalancer = $loadBalancer;
		$this->logger = $logger;
	}

	/**
	 * @return bool The table exists (update.php has run since the extension was installed)
	 */
	public function isAvailable(): bool {
		if ( $this->available === null ) {
			try {
				$this->available = $this->loadBalancer->getConnection( DB_PRIMARY )
					->tableExists( self::TABLE, __METHOD__ );
			} catch ( Throwable $e ) {
				$this->available = false;
			}
			if ( !$this->available ) {
				$this->logger->info( 'Patrol alerts are not kept: the table ' . self::TABLE .
					' is missing (run maintenance/update.php)' );
			}
		}
		return $this->available;
	}

	/**
	 * Keep an alert (an `alert` event as published). A second alert of the same revision is
	 * ignored.
	 *
	 * @param array $alert
	 * @param string $timestamp TS_MW
	 * @return bool Whether it was kept
	 */
	public function record( array $alert, string $timestamp ): bool {
		$revId = (int)( $alert['rev_id'] ?? 0 );
		if ( $revId <= 0 || !$this->isAvailable() ) {
			return false;
		}
		unset( $alert['audience'] );
		try {
			$db = $this->loadBalancer->getConnection( DB_PRIMARY );
			$db->insert( self::TABLE, [
				'rta_rev_id' => $revId,
				'rta_page_id' => (int)( $alert['page_id'] ?? 0 ),
				'rta_timestamp' => $db->timestamp( $timestamp ),
				'rta_event' => EventPublisher::encode( $alert ),
			], __METHOD__, [ 'IGNORE' ] );
			return $db->affectedRows() > 0;
		} catch ( Throwable $e ) {
			$this->logger->error( 'Could not keep the alert about revision {rev_id}: {message}', [
				'rev_id' => $revId,
				'message' => $e->getMessage(),
				'exception' => $e,
			] );
			return false;
		}
	}

	/**
	 * Mark the open alerts about revisions $firstRevId..$lastRevId of a page as handled.
	 *
	 * @param int $pageId
	 * @param int $firstRevId
	 * @param int $lastRevId
	 * @param string $by Who handled them (user name)
	 * @param string $how `patrolled`, `reverted`, `handled`
	 * @param string $timestamp TS_MW
	 * @return int How many open alerts this closed
	 */
	public function markHandled( int $pageId, int $firstRevId, int $lastRevId, string $by, string $how, string $timestamp ): int {
		if ( $lastRevId <= 0 || !$this->isAvailable() ) {
			return 0;
		}
		try {
			$db = $this->loadBalancer->getConnection( DB_PRIMARY );
			$conds = [
				'rta_rev_id >= ' . (int)min( $firstRevId, $lastRevId ),
				'rta_rev_id <= ' . (int)$lastRevId,
				'rta_handled_timestamp' => null,
			];
			if ( $pageId > 0 ) {
				$conds['rta_page_id'] = $pageId;
			}
			$db->update( self::TABLE, [
				'rta_handled_by' => $by,
				'rta_handled_how' => $how,
				'rta_handled_timestamp' => $db->timestamp( $timestamp ),
			], $conds, __METHOD__ );
			return $db->affectedRows();
		} catch ( Throwable $e ) {
			$this->logger->error( 'Could not mark the alerts about revisions {first}..{last} handled: {message}', [
				'first' => $firstRevId,
				'last' => $lastRevId,
				'message' => $e->getMessage(),
				'exception' => $e,
			] );
			return 0;
		}
	}

	/**
	 * @param int $limit
	 * @return array[] The open alerts, newest first: each [ 'id', 'rev_id', 'timestamp', 'event' ]
	 */
	public function openAlerts( int $limit = 100 ): array {
		return $this->select( [ 'rta_handled_timestamp' => null ], $limit );
	}

	/**
	 * @param int $id
	 * @return array|null [ 'id', 'rev_id', 'timestamp', 'event', 'handled_by', 'handled_how' ]
	 */
	public function get( int $id ): ?array {
		return $this->select( [ 'rta_id' => $id ], 1 )[0] ?? null;
	}

	/**
	 * @param int $revId
	 * @return array|null The alert about this revision (open or handled)
	 */
	public function findByRevision( int $revId ): ?array {
		return $this->select( [ 'rta_rev_id' => $revId ], 1 )[0] ?? null;
	}

	/**
	 * @param array $conds
	 * @param int $limit
	 * @return array[]
	 */
	private function select( array $conds, int $limit ): array {
		if ( !$this->isAvailable() ) {
			return [];
		}
		try {
			$db = $this->loadBalancer->getConnection( DB_PRIMARY );
			$res = $db->newSelectQueryBuilder()
				->select( [ 'rta_id', 'rta_rev_id', 'rta_timestamp', 'rta_event', 'rta_handled_by', 'rta_handled_how' ] )
				->from( self::TABLE )
				->where( $conds )
				->orderBy( 'rta_timestamp', 'DESC' )
				->limit( max( 1, $limit ) )
				->caller( __METHOD__ )
				->fetchResultSet();
		} catch ( Throwable $e ) {
			$this->logger->error( 'Could not read the patrol alerts: {message}', [
				'message' => $e->getMessage(),
				'exception' => $e,
			] );
			return [];
		}
		$out = [];
		foreach ( $res as $row ) {
			$event = json_decode( (string)$row->rta_event, true );
			$out[] = [
				'id' => (int)$row->rta_id,
				'rev_id' => (int)$row->rta_rev_id,
				'timestamp' => (string)$row->rta_timestamp,
				'event' => is_array( $event ) ? $event : [],
				'handled_by' => $row->rta_handled_by === null ? null : (string)$row->rta_handled_by,
				'handled_how' => $row->rta_handled_how === null ? null : (string)$row->rta_handled_how,
			];
		}
		return $out;
	}
}
