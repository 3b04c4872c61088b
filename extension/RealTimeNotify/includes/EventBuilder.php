<?php

namespace MediaWiki\Extension\RealTimeNotify;

use MediaWiki\Linker\LinkTarget;
use MediaWiki\Page\PageReference;
use MediaWiki\Revision\RevisionRecord;
use MediaWiki\Storage\EditResult;
use MediaWiki\User\UserIdentity;
use Wikimedia\Timestamp\ConvertibleTimestamp;

/**
 * Builds change events (docs/events.md, schema version 1) from what MediaWiki's hooks hand over.
 *
 * No services, no globals, no database: everything it needs is passed in, so it can be
 * unit-tested without a wiki. Each event gets a fresh `uuid`. Privacy rules live here:
 *  - only what the public may see of a revision is used (RevisionRecord::FOR_PUBLIC), so a
 *    revision-deleted comment becomes "" and a hidden user becomes HIDDEN_USER;
 *  - user_name is the on-wiki name (an IP only for logged-out edits, as on-wiki);
 *  - no e-mail, no IP of a registered user, nothing else about the user.
 */
class EventBuilder {

	public const SCHEMA = 1;

	/** Upper bound for `summary`, in characters (contract/limits.json). */
	public const SUMMARY_HARD_LIMIT = 1000;

	/** Longest `wiki` the gateway accepts, in bytes (contract/limits.json). */
	public const WIKI_MAX_BYTES = 64;

	/** Longest `url` the gateway accepts, in bytes (contract/limits.json). */
	public const URL_MAX_BYTES = 2048;

	/** Shown instead of a user name hidden by revision deletion (core's rev-deleted-user text). */
	public const HIDDEN_USER = '(username removed)';

	private const ELLIPSIS = '…';

	/** `handled`: the alerted revision was patrolled by hand. */
	public const HANDLED_PATROLLED = 'patrolled';

	/** `handled`: the alerted revision was reverted (rollback, undo, manual revert). */
	public const HANDLED_REVERTED = 'reverted';

	/** @var string */
	private $wikiId;
	/** @var int */
	private $maxSummaryLength;
	/** @var PageLinker */
	private $linker;
	/** @var callable(): string */
	private $newUuid;
	/** @var callable(UserIdentity): ?string */
	private $genderOf;

	/**
	 * @param string $wikiId Goes into `wiki` (omitted when longer than WIKI_MAX_BYTES, which the
	 *   gateway would reject)
	 * @param int $maxSummaryLength In characters; clamped to 1..SUMMARY_HARD_LIMIT
	 * @param PageLinker $linker
	 * @param callable|null $newUuid Returns the `uuid` of each new event (tests); default Uuid::v4()
	 * @param callable|null $genderOf UserIdentity → 'male', 'female' or null: the gender a
	 *   registered user set in their preferences (public on the wiki, as list=users shows it),
	 *   for the browser's {{GENDER}}. Null: no `user_gender` in events.
	 */
	public function __construct(
		string $wikiId,
		int $maxSummaryLength,
		PageLinker $linker,
		?callable $newUuid = null,
		?callable $genderOf = null
	) {
		$this->wikiId = $wikiId;
		$this->maxSummaryLength = max( 1, min( self::SUMMARY_HARD_LIMIT, $maxSummaryLength ) );
		$this->linker = $linker;
		$this->newUuid = $newUuid ?? [ Uuid::class, 'v4' ];
		$this->genderOf = $genderOf;
	}

	/**
	 * Event for PageSaveComplete.
	 *
	 * @param RevisionRecord $rev The saved revision
	 * @param int $flags EDIT_* flags the hook received
	 * @param EditResult $editResult
	 * @param int|null $parentSize Size in bytes of the parent revision (null: unknown)
	 * @param bool $bot Performed by a bot (bot right or EDIT_FORCE_BOT)
	 * @return array|null Null for null edits (nothing changed: nothing to tell)
	 */
	public function newEditEvent(
		RevisionRecord $rev,
		int $flags,
		EditResult $editResult,
		?int $parentSize,
		bool $bot
	): ?array {
		if ( $editResult->isNullEdit() ) {
			return null;
		}
		$page = $rev->getPage();
		$parentId = (int)$rev->getParentId();
		$isNew = ( $flags & EDIT_NEW ) || $editResult->isNew() || $parentId === 0;

		$size = $rev->getSize();
		$sizeDelta = null;
		if ( $isNew ) {
			$sizeDelta = $size;
		} elseif ( $parentSize !== null ) {
			$sizeDelta = $size - $parentSize;
		}

		$revId = (int)$rev->getId();
		$url = $isNew
			? $this->linker->getUrl( $page )
			: $this->linker->getUrl( $page, [ 'diff' => $revId, 'oldid' => $parentId ] );

		return $this->assemble( [
			'type' => $isNew ? 'create' : 'edit',
			'page_title' => $this->linker->getPrefixedText( $page ),
			'user_name' => $this->publicUserName( $rev->getUser( RevisionRecord::FOR_PUBLIC ) ),
			'timestamp' => self::isoTimestamp( $rev->getTimestamp() ),
			'summary' => $this->publicComment( $rev ),
			'namespace' => $page->getNamespace(),
			'page_id' => $rev->getPageId(),
			'rev_id' => $revId,
			'old_rev_id' => $isNew ? 0 : $parentId,
			'bot' => $bot || ( $flags & EDIT_FORCE_BOT ) > 0,
			'minor' => !$isNew && $rev->isMinor(),
			'size_delta' => $sizeDelta,
			'url' => $url,
			'user_gender' => $this->publicGender( $rev->getUser( RevisionRecord::FOR_PUBLIC ) ),
		] );
	}

	/**
	 * Event for PageDeleteComplete.
	 *
	 * @param LinkTarget|PageReference $page The deleted page
	 * @param UserIdentity $deleter
	 * @param string $reason Deletion reason (log comment)
	 * @param int $pageId Id the page had
	 * @param string $timestamp Any format ConvertibleTimestamp accepts (log timestamp)
	 * @param bool $bot
	 * @return array
	 */
	public function newDeleteEvent(
		$page,
		UserIdentity $deleter,
		string $reason,
		int $pageId,
		string $timestamp,
		bool $bot
	): array {
		return $this->assemble( [
			'type' => 'delete',
			'page_title' => $this->linker->getPrefixedText( $page ),
			'user_name' => $this->publicUserName( $deleter ),
			'timestamp' => self::isoTimestamp( $timestamp ),
			'summary' => $this->trimSummary( $reason ),
			'namespace' => $page->getNamespace(),
			'page_id' => $pageId,
			'bot' => $bot,
			// The page URL shows the deletion log excerpt.
			'url' => $this->linker->getUrl( $page ),
			'user_gender' => $this->publicGender( $deleter ),
		] );
	}

	/**
	 * Event for a log entry other than a deletion, move or upload (those have their own
	 * events): a block, a protection, a rights change, a patrol, a new account, a restore.
	 * Issue 11: the SSE feed sends it as a recentchange `log` entry.
	 *
	 * @param LinkTarget|PageReference $page The log entry's target (User:Name for a block)
	 * @param UserIdentity $performer
	 * @param string $logType e.g. 'block'
	 * @param string $logAction e.g. 'reblock'
	 * @param int $logId
	 * @param int $rcId The recent change's id, 0 when unknown
	 * @param string $comment The log entry's reason
	 * @param string $timestamp MediaWiki timestamp
	 * @param bool $bot
	 * @return array
	 */
	public function newLogEvent(
		$page,
		UserIdentity $performer,
		string $logType,
		string $logAction,
		int $logId,
		int $rcId,
		string $comment,
		string $timestamp,
		bool $bot
	): array {
		return $this->assemble( [
			'type' => 'log',
			'page_title' => $this->linker->getPrefixedText( $page ),
			'user_name' => $this->publicUserName( $performer ),
			'timestamp' => self::isoTimestamp( $timestamp ),
			'summary' => $this->trimSummary( $comment ),
			'namespace' => $page->getNamespace(),
			'bot' => $bot,
			'url' => $this->linker->getUrl( $page ),
			'user_gender' => $this->publicGender( $performer ),
			'log_type' => $logType,
			'log_action' => $logAction,
			'log_id' => $logId > 0 ? $logId : null,
			'rc_id' => $rcId > 0 ? $rcId : null,
		] );
	}

	/**
	 * Event for PageMoveComplete. page_title is the old title, target_title the new one.
	 *
	 * @param LinkTarget|PageReference $old
	 * @param LinkTarget|PageReference $new
	 * @param UserIdentity $mover
	 * @param int $pageId Id of the moved page
	 * @param RevisionRecord $nullRevision The null revision the move created on the page
	 * @param string $reason
	 * @param bool $bot
	 * @return array
	 */
	public function newMoveEvent(
		$old,
		$new,
		UserIdentity $mover,
		int $pageId,
		RevisionRecord $nullRevision,
		string $reason,
		bool $bot
	): array {
		return $this->assemble( [
			'type' => 'move',
			'page_title' => $this->linker->getPrefixedText( $old ),
			'user_name' => $this->publicUserName( $mover ),
			'timestamp' => self::isoTimestamp( $nullRevision->getTimestamp() ),
			'summary' => $this->trimSummary( $reason ),
			'namespace' => $old->getNamespace(),
			'page_id' => $pageId,
			'rev_id' => (int)$nullRevision->getId(),
			'bot' => $bot,
			'url' => $this->linker->getUrl( $new ),
			'target_title' => $this->linker->getPrefixedText( $new ),
			'user_gender' => $this->publicGender( $mover ),
		] );
	}

	/**
	 * Event for UploadComplete.
	 *
	 * @param LinkTarget|PageReference $fileTitle The File: page
	 * @param UserIdentity|null $uploader As File::getUploader( File::FOR_PUBLIC ) gives it
	 *   (null when hidden)
	 * @param string $description Upload comment as File::getDescription( File::FOR_PUBLIC )
	 *   gives it ('' when hidden)
	 * @param string $timestamp Any format ConvertibleTimestamp accepts
	 * @param int $pageId Id of the file description page (0: unknown, omitted)
	 * @param bool $bot
	 * @return array
	 */
	public function newUploadEvent(
		$fileTitle,
		?UserIdentity $uploader,
		string $description,
		string $timestamp,
		int $pageId,
		bool $bot
	): array {
		return $this->assemble( [
			'type' => 'upload',
			'page_title' => $this->linker->getPrefixedText( $fileTitle ),
			'user_name' => $this->publicUserName( $uploader ),
			'timestamp' => self::isoTimestamp( $timestamp ),
			'summary' => $this->trimSummary( $description ),
			'namespace' => $fileTitle->getNamespace(),
			'page_id' => $pageId > 0 ? $pageId : null,
			'bot' => $bot,
			'url' => $this->linker->getUrl( $fileTitle ),
			'user_gender' => $this->publicGender( $uploader ),
		] );
	}

	/**
	 * Event that tells patrollers an edit was dealt with (docs/events.md, type `handled`):
	 * patrolled, or reverted together with the edits around it. The caller addresses it.
	 *
	 * @param LinkTarget|PageReference $page
	 * @param UserIdentity $performer Who patrolled or reverted
	 * @param string $how HANDLED_PATROLLED, HANDLED_REVERTED (or another code, a-z0-9_)
	 * @param int $revId The revision handled; for a revert, the newest one reverted
	 * @param int|null $firstRevId For a revert of several revisions, the oldest one reverted
	 * @param int $pageId
	 * @param string $timestamp When, in any format ConvertibleTimestamp accepts
	 * @return array
	 */
	public function newHandledEvent(
		$page,
		UserIdentity $performer,
		string $how,
		int $revId,
		?int $firstRevId,
		int $pageId,
		string $timestamp
	): array {
		return $this->assemble( [
			'type' => 'handled',
			'page_title' => $this->linker->getPrefixedText( $page ),
			'user_name' => $this->publicUserName( $performer ),
			'timestamp' => self::isoTimestamp( $timestamp ),
			'summary' => '',
			'namespace' => $page->getNamespace(),
			'page_id' => $pageId > 0 ? $pageId : null,
			'rev_id' => $revId,
			'user_gender' => $this->publicGender( $performer ),
			'handled' => $how,
			'first_rev_id' => $firstRevId !== null && $firstRevId > 0 && $firstRevId < $revId ? $firstRevId : null,
		] );
	}

	/**
	 * Cut a summary to the configured number of characters (not bytes), ending with '…'
	 * when cut. Invalid UTF-8 is replaced, so the result always encodes as JSON.
	 *
	 * @param string $summary
	 * @return string
	 */
	public function trimSummary( string $summary ): string {
		$summary = mb_scrub( $summary, 'UTF-8' );
		if ( mb_strlen( $summary, 'UTF-8' ) <= $this->maxSummaryLength ) {
			return $summary;
		}
		$keep = $this->maxSummaryLength - mb_strlen( self::ELLIPSIS, 'UTF-8' );
		return rtrim( mb_substr( $summary, 0, $keep, 'UTF-8' ) ) . self::ELLIPSIS;
	}

	/**
	 * @param string|int $timestamp Any format ConvertibleTimestamp accepts (e.g. TS_MW)
	 * @return string ISO 8601 in UTC, e.g. "2026-11-25T01:02:03Z"
	 */
	public static function isoTimestamp( $timestamp ): string {
		$iso = ConvertibleTimestamp::convert( TS_ISO_8601, $timestamp );
		if ( $iso === false ) {
			throw new \InvalidArgumentException( "Bad timestamp: $timestamp" );
		}
		return $iso;
	}

	/**
	 * @param RevisionRecord $rev
	 * @return string The comment as the public sees it ('' when revision-deleted)
	 */
	private function publicComment( RevisionRecord $rev ): string {
		$comment = $rev->getComment( RevisionRecord::FOR_PUBLIC );
		return $comment ? $this->trimSummary( (string)$comment->text ) : '';
	}

	/**
	 * @param UserIdentity|null $user As the public may see it (null: hidden)
	 * @return string|null 'male' or 'female' for a registered user who said so, else null
	 */
	private function publicGender( ?UserIdentity $user ): ?string {
		if ( !$user || !$this->genderOf || !$user->isRegistered() ) {
			return null;
		}
		$gender = ( $this->genderOf )( $user );
		return $gender === 'male' || $gender === 'female' ? $gender : null;
	}

	/**
	 * @param UserIdentity|null $user As the public may see it (null: hidden)
	 * @return string
	 */
	private function publicUserName( ?UserIdentity $user ): string {
		$name = $user ? $user->getName() : '';
		return $name === '' ? self::HIDDEN_USER : $name;
	}

	/**
	 * Add `schema` and `wiki`, drop null fields and fields the gateway would reject.
	 *
	 * @param array $fields
	 * @return array
	 */
	private function assemble( array $fields ): array {
		$event = [ 'schema' => self::SCHEMA ] + array_slice( $fields, 0, 5, true );
		if ( $this->wikiId !== '' && strlen( $this->wikiId ) <= self::WIKI_MAX_BYTES ) {
			$event['wiki'] = $this->wikiId;
		}
		$event += $fields;
		if ( isset( $event['url'] ) && strlen( $event['url'] ) > self::URL_MAX_BYTES ) {
			unset( $event['url'] );
		}
		// uuid (decision C): one per event, made here (in the deferred update, never during the
		// save) and kept in the JSON, so every retry of the publish carries the same one.
		$event['uuid'] = ( $this->newUuid )();
		return array_filter( $event, static function ( $value ) {
			return $value !== null;
		} );
	}
}
