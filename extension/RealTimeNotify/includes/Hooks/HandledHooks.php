<?php

namespace MediaWiki\Extension\RealTimeNotify\Hooks;

use MediaWiki\Extension\RealTimeNotify\Alerts\PersistentAlerts;
use MediaWiki\Extension\RealTimeNotify\EventBuilder;
use MediaWiki\Extension\RealTimeNotify\EventPublisher;
use MediaWiki\Hook\MarkPatrolledCompleteHook;
use MediaWiki\Storage\Hook\PageSaveCompleteHook;
use RecentChange;
use Wikimedia\Timestamp\ConvertibleTimestamp;

/**
 * Tells patrollers when an edit was dealt with: a `handled` event (docs/events.md), addressed
 * like alerts (to holders of $wgRealTimeNotifyAlertRight), whenever a revision is patrolled by
 * hand (MarkPatrolledComplete; autopatrol is not news) or reverted (PageSaveComplete with an
 * EditResult that reverts it: rollback, undo, or restoring an earlier revision). The browser
 * module updates the open alerts about those revisions in every tab ("Reverted by Admin").
 *
 * The wiki does not remember which revisions raised an alert, so every manual patrol and every
 * revert is published; browsers match it to the alerts they show. Like every publish, the work
 * runs after the response and never fails the action.
 */
class HandledHooks implements
	MarkPatrolledCompleteHook,
	PageSaveCompleteHook
{
	/** @var EventBuilder */
	private $eventBuilder;
	/** @var EventPublisher */
	private $publisher;
	/** @var \Config */
	private $config;
	/** @var callable(int): ?RecentChange */
	private $recentChange;
	/** @var PersistentAlerts|null */
	private $alerts;

	/**
	 * @param EventBuilder $eventBuilder
	 * @param EventPublisher $publisher
	 * @param \Config $config
	 * @param PersistentAlerts|null $alerts The kept alerts, closed when handled (null: none)
	 * @param callable|null $recentChange rcid → RecentChange or null (tests; default:
	 *   RecentChange::newFromId)
	 */
	public function __construct(
		EventBuilder $eventBuilder,
		EventPublisher $publisher,
		$config,
		?PersistentAlerts $alerts = null,
		?callable $recentChange = null
	) {
		$this->alerts = $alerts;
		$this->eventBuilder = $eventBuilder;
		$this->publisher = $publisher;
		$this->config = $config;
		$this->recentChange = $recentChange ?? static function ( int $rcid ) {
			return RecentChange::newFromId( $rcid );
		};
	}

	/**
	 * @return string The alert right, '' when alerts are off
	 */
	private function alertRight(): string {
		return (string)$this->config->get( 'RealTimeNotifyAlertRight' );
	}

	/**
	 * @param array $event
	 * @return array The event addressed to the holders of the alert right only
	 */
	private function address( array $event ): array {
		$event['audience'] = [ 'public' => false, 'users' => [], 'rights' => [ $this->alertRight() ] ];
		return $event;
	}

	/**
	 * @inheritDoc
	 */
	public function onMarkPatrolledComplete( $rcid, $user, $wcOnlySysopsCanPatrol, $auto ) {
		if ( $auto || $this->alertRight() === '' ) {
			return;
		}
		$this->publisher->publish( function () use ( $rcid, $user ) {
			$rc = ( $this->recentChange )( (int)$rcid );
			$revId = $rc ? (int)$rc->getAttribute( 'rc_this_oldid' ) : 0;
			if ( !$rc || $revId <= 0 ) {
				// A log entry, or gone: no alert is about it.
				return null;
			}
			if ( $this->alerts ) {
				$this->alerts->handled( (int)$rc->getAttribute( 'rc_cur_id' ), $revId, $revId,
					$user->getName(), EventBuilder::HANDLED_PATROLLED );
			}
			return $this->address( $this->eventBuilder->newHandledEvent(
				$rc->getPage() ?? $rc->getTitle(),
				$user,
				EventBuilder::HANDLED_PATROLLED,
				$revId,
				null,
				(int)$rc->getAttribute( 'rc_cur_id' ),
				ConvertibleTimestamp::now( TS_MW )
			) );
		}, 'MarkPatrolledComplete' );
	}

	/**
	 * @inheritDoc
	 */
	public function onPageSaveComplete( $wikiPage, $user, $summary, $flags, $revisionRecord, $editResult ) {
		if ( !$editResult->isRevert() || $this->alertRight() === '' ) {
			return;
		}
		$newest = $editResult->getNewestRevertedRevisionId();
		$oldest = $editResult->getOldestRevertedRevisionId();
		if ( !$newest ) {
			return;
		}
		$this->publisher->publish( function () use ( $user, $revisionRecord, $newest, $oldest ) {
			if ( $this->alerts ) {
				$this->alerts->handled( (int)$revisionRecord->getPageId(), (int)( $oldest ?: $newest ),
					(int)$newest, $user->getName(), EventBuilder::HANDLED_REVERTED );
			}
			return $this->address( $this->eventBuilder->newHandledEvent(
				$revisionRecord->getPage(),
				$user,
				EventBuilder::HANDLED_REVERTED,
				(int)$newest,
				$oldest ? (int)$oldest : null,
				(int)$revisionRecord->getPageId(),
				(string)$revisionRecord->getTimestamp()
			) );
		}, 'PageSaveComplete' );
	}
}
