<?php

namespace MediaWiki\Extension\RealTimeNotify\Hooks;

use MediaWiki\Extension\RealTimeNotify\EventBuilder;
use MediaWiki\Extension\RealTimeNotify\EventPublisher;
use MediaWiki\Extension\RealTimeNotify\Targeting\Targeting;
use MediaWiki\Hook\RecentChange_saveHook;
use MediaWiki\Permissions\PermissionManager;

/**
 * Turns log entries into events (issue 11): blocks, protections, rights changes, patrols, new
 * accounts, restores, merges. Read from the recent change each of them makes (RecentChange_save,
 * the same moment core's RCFeed sends it), so only entries that anyone may see on
 * Special:RecentChanges get here; on top of that, anything suppressed or revision-deleted
 * (rc_deleted) is never published, and only the log types below are: deletions, moves and
 * uploads have their own events (ChangeHooks), and the suppression log never reaches recent
 * changes.
 *
 * Like ChangeHooks, it only schedules work (after the response) and never fails the change.
 */
class LogHooks implements RecentChange_saveHook {

	/** Log type => the actions published (null: all of that type). */
	public const PUBLISHED = [
		'block' => [ 'block', 'reblock', 'unblock' ],
		'protect' => [ 'protect', 'modify', 'unprotect', 'move_prot' ],
		'rights' => [ 'rights', 'autopromote' ],
		'patrol' => [ 'patrol' ],
		'newusers' => null,
		'delete' => [ 'restore' ],
		'merge' => [ 'merge' ],
	];

	/** RC_LOG, without depending on the global constant's presence in unit tests. */
	private const RC_LOG = 3;

	/** @var EventBuilder */
	private $eventBuilder;
	/** @var EventPublisher */
	private $publisher;
	/** @var PermissionManager */
	private $permissionManager;
	/** @var Targeting|null */
	private $targeting;

	/**
	 * @param EventBuilder $eventBuilder
	 * @param EventPublisher $publisher
	 * @param PermissionManager $permissionManager
	 * @param Targeting|null $targeting Null: events without audience
	 */
	public function __construct(
		EventBuilder $eventBuilder,
		EventPublisher $publisher,
		PermissionManager $permissionManager,
		?Targeting $targeting = null
	) {
		$this->eventBuilder = $eventBuilder;
		$this->publisher = $publisher;
		$this->permissionManager = $permissionManager;
		$this->targeting = $targeting;
	}

	/**
	 * Whether a log entry of this type and action is published.
	 *
	 * @param string $type
	 * @param string $action
	 * @return bool
	 */
	public static function publishes( string $type, string $action ): bool {
		if ( !array_key_exists( $type, self::PUBLISHED ) ) {
			return false;
		}
		$actions = self::PUBLISHED[$type];
		return $actions === null || in_array( $action, $actions, true );
	}

	/**
	 * @inheritDoc
	 */
	public function onRecentChange_save( $recentChange ) {
		if ( (int)$recentChange->getAttribute( 'rc_type' ) !== self::RC_LOG
			|| (int)$recentChange->getAttribute( 'rc_deleted' ) !== 0
		) {
			return;
		}
		$type = (string)$recentChange->getAttribute( 'rc_log_type' );
		$action = (string)$recentChange->getAttribute( 'rc_log_action' );
		if ( !self::publishes( $type, $action ) ) {
			return;
		}
		$page = $recentChange->getPage();
		if ( !$page ) {
			return;
		}
		$performer = $recentChange->getPerformerIdentity();
		$logId = (int)$recentChange->getAttribute( 'rc_logid' );
		$rcId = (int)$recentChange->getAttribute( 'rc_id' );
		$comment = (string)$recentChange->getAttribute( 'rc_comment' );
		$timestamp = (string)$recentChange->getAttribute( 'rc_timestamp' );
		$bot = (bool)$recentChange->getAttribute( 'rc_bot' );
		$this->publisher->publish(
			function () use ( $page, $performer, $type, $action, $logId, $rcId, $comment, $timestamp, $bot ) {
				$event = $this->eventBuilder->newLogEvent(
					$page,
					$performer,
					$type,
					$action,
					$logId,
					$rcId,
					$comment,
					$timestamp,
					$bot || $this->permissionManager->userHasRight( $performer, 'bot' )
				);
				return $this->targeting ? $this->targeting->withAudience( $event, $page, $performer ) : $event;
			},
			'RecentChange_save'
		);
	}
}
