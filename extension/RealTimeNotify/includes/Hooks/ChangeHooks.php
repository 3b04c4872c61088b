<?php

namespace MediaWiki\Extension\RealTimeNotify\Hooks;

use MediaWiki\Extension\RealTimeNotify\Alerts\PersistentAlerts;
use MediaWiki\Extension\RealTimeNotify\EventBuilder;
use MediaWiki\Extension\RealTimeNotify\EventPublisher;
use MediaWiki\Extension\RealTimeNotify\Targeting\Targeting;
use MediaWiki\Hook\PageMoveCompleteHook;
use MediaWiki\Hook\UploadCompleteHook;
use MediaWiki\Page\Hook\PageDeleteCompleteHook;
use MediaWiki\Page\ProperPageIdentity;
use MediaWiki\Permissions\Authority;
use MediaWiki\Permissions\PermissionManager;
use MediaWiki\Revision\RevisionLookup;
use MediaWiki\Revision\RevisionRecord;
use MediaWiki\Storage\Hook\PageSaveCompleteHook;
use MediaWiki\User\UserIdentity;
use Throwable;

/**
 * Turns page changes into events. Every handler only schedules work (EventPublisher defers
 * it until after the response) and swallows every error: publishing must never break a change.
 *
 * With Targeting (always, in a wiki), each change event gets its `audience` (watchers, talk
 * page owner) and a suspicious edit also yields an `alert` event for patrollers; both are
 * computed in the deferred update too.
 */
class ChangeHooks implements
	PageSaveCompleteHook,
	PageDeleteCompleteHook,
	PageMoveCompleteHook,
	UploadCompleteHook
{
	/** @var EventBuilder */
	private $eventBuilder;
	/** @var EventPublisher */
	private $publisher;
	/** @var RevisionLookup */
	private $revisionLookup;
	/** @var PermissionManager */
	private $permissionManager;
	/** @var \TitleFactory */
	private $titleFactory;
	/** @var Targeting|null */
	private $targeting;
	/** @var PersistentAlerts|null */
	private $alerts;

	/**
	 * @param EventBuilder $eventBuilder
	 * @param EventPublisher $publisher
	 * @param RevisionLookup $revisionLookup
	 * @param PermissionManager $permissionManager
	 * @param \TitleFactory $titleFactory
	 * @param Targeting|null $targeting Null: events without audience, no alerts
	 * @param PersistentAlerts|null $alerts Keeps each alert until it is handled (null: live only)
	 */
	public function __construct(
		EventBuilder $eventBuilder,
		EventPublisher $publisher,
		RevisionLookup $revisionLookup,
		PermissionManager $permissionManager,
		$titleFactory,
		?Targeting $targeting = null,
		?PersistentAlerts $alerts = null
	) {
		$this->eventBuilder = $eventBuilder;
		$this->publisher = $publisher;
		$this->revisionLookup = $revisionLookup;
		$this->permissionManager = $permissionManager;
		$this->titleFactory = $titleFactory;
		$this->targeting = $targeting;
		$this->alerts = $alerts;
	}

	/**
	 * @param array|null $event
	 * @param mixed $page LinkTarget or PageReference
	 * @param UserIdentity|null $performer
	 * @param array $alsoNamed Other pages the event names (a move: the new title)
	 * @return array|null The event with its audience (null: do not publish)
	 */
	private function target( ?array $event, $page, ?UserIdentity $performer, array $alsoNamed = [] ): ?array {
		if ( $event === null || !$this->targeting ) {
			return $event;
		}
		return $this->targeting->withAudience( $event, $page, $performer, $alsoNamed );
	}

	/**
	 * @inheritDoc
	 */
	public function onPageSaveComplete( $wikiPage, $user, $summary, $flags, $revisionRecord, $editResult ) {
		// Null edits change nothing. Edits kept out of recent changes (EDIT_SUPPRESS_RC) are
		// internal, e.g. the description page an upload creates: the 'upload' event covers it.
		if ( $editResult->isNullEdit() || ( $flags & EDIT_SUPPRESS_RC ) ) {
			return;
		}
		$this->publisher->publishAll( function () use ( $user, $flags, $revisionRecord, $editResult ) {
			$parentSize = null;
			$parentId = $revisionRecord->getParentId();
			if ( $parentId ) {
				$parent = $this->revisionLookup->getRevisionById( $parentId );
				$parentSize = $parent ? $parent->getSize() : null;
			}
			$bot = ( $flags & EDIT_FORCE_BOT ) || $this->permissionManager->userHasRight( $user, 'bot' );
			$event = $this->eventBuilder->newEditEvent( $revisionRecord, $flags, $editResult, $parentSize, $bot );
			if ( $event === null || !$this->targeting ) {
				return [ $event ];
			}
			$alert = $this->targeting->alertFor( $event, $revisionRecord, $user, $parentSize, $editResult, $bot );
			if ( $alert !== null && $this->alerts ) {
				// Kept until handled, for the patrollers who are away (issue 17).
				$this->alerts->keep( $alert, $revisionRecord->getPage(), $user );
			}
			return [
				$this->target( $event, $revisionRecord->getPage(), $user ),
				$alert,
			];
		}, 'PageSaveComplete' );
	}

	/**
	 * @inheritDoc
	 */
	public function onPageDeleteComplete(
		ProperPageIdentity $page,
		Authority $deleter,
		string $reason,
		int $pageID,
		RevisionRecord $deletedRev,
		\ManualLogEntry $logEntry,
		int $archivedRevisionCount
	) {
		// A suppressed deletion is logged in the suppression log, which only oversighters see.
		if ( $logEntry->getType() !== 'delete' ) {
			return;
		}
		$this->publisher->publish( function () use ( $page, $deleter, $reason, $pageID, $logEntry ) {
			return $this->target( $this->eventBuilder->newDeleteEvent(
				$page,
				$deleter->getUser(),
				$reason,
				$pageID,
				(string)$logEntry->getTimestamp(),
				$deleter->isAllowed( 'bot' )
			), $page, $deleter->getUser() );
		}, 'PageDeleteComplete' );
	}

	/**
	 * @inheritDoc
	 */
	public function onPageMoveComplete( $old, $new, $user, $pageid, $redirid, $reason, $revision ) {
		$this->publisher->publish( function () use ( $old, $new, $user, $pageid, $reason, $revision ) {
			// Addressed to the watchers of the old title (core copies them to the new one); as
			// visible as the less visible of the two titles.
			return $this->target( $this->eventBuilder->newMoveEvent(
				$old,
				$new,
				$user,
				(int)$pageid,
				$revision,
				(string)$reason,
				$this->permissionManager->userHasRight( $user, 'bot' )
			), $old, $user, [ $new ] );
		}, 'PageMoveComplete' );
	}

	/**
	 * IDBAccessObject::READ_LATEST on every supported version: Title's copy of the constant is
	 * gone in 1.43, the interface moved to Wikimedia\Rdbms (its global name is deprecated since
	 * 1.43) and MediaWiki 1.39 has only the global one.
	 *
	 * @return int
	 */
	private static function readLatest(): int {
		$namespaced = 'Wikimedia\Rdbms\IDBAccessObject';
		return interface_exists( $namespaced ) ? constant( "$namespaced::READ_LATEST" ) : \IDBAccessObject::READ_LATEST;
	}

	/**
	 * @inheritDoc
	 */
	public function onUploadComplete( $uploadBase ) {
		try {
			$file = $uploadBase->getLocalFile();
		} catch ( Throwable $e ) {
			return;
		}
		if ( !$file ) {
			return;
		}
		$this->publisher->publish( function () use ( $file ) {
			$title = $this->titleFactory->castFromLinkTarget( $file->getTitle() );
			if ( !$title ) {
				return null;
			}
			// The description page was just created or touched: read it from the primary.
			$pageId = $title->getArticleID( self::readLatest() );
			$performer = $file->getUploader( $file::RAW );
			return $this->target( $this->eventBuilder->newUploadEvent(
				$title,
				$file->getUploader( $file::FOR_PUBLIC ),
				(string)$file->getDescription( $file::FOR_PUBLIC ),
				(string)$file->getTimestamp(),
				(int)$pageId,
				$performer ? $this->permissionManager->userHasRight( $performer, 'bot' ) : false
			), $title, $performer );
		}, 'UploadComplete' );
	}
}
