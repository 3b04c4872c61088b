<?php

namespace MediaWiki\Extension\RealTimeNotify\Targeting;

use MediaWiki\Linker\LinkTarget;
use MediaWiki\Page\PageReference;
use MediaWiki\User\UserIdentity;
use MediaWiki\User\UserIdentityLookup;

/**
 * The `audience` of an ordinary change event (docs/events.md): the users it is addressed to
 * are the page's watchers and, on a user talk page, its owner; never the performer.
 *
 * `public` ($wgRealTimeNotifyBroadcastChanges) says whether everyone else may receive it too:
 * true (the default) only marks the addressees, for clients that subscribed with `addressed`
 * (the "watchlist" mode); false delivers the change to the addressees alone.
 */
class AudienceBuilder {

	/** @var WatcherLookup */
	private $watchers;
	/** @var UserIdentityLookup */
	private $userLookup;
	/** @var bool */
	private $public;
	/** @var int */
	private $maxWatchers;

	/**
	 * @param WatcherLookup $watchers
	 * @param UserIdentityLookup $userLookup Finds the owner of a user talk page
	 * @param bool $public $wgRealTimeNotifyBroadcastChanges
	 * @param int $maxWatchers At most this many watchers are listed (0: none)
	 */
	public function __construct(
		WatcherLookup $watchers,
		UserIdentityLookup $userLookup,
		bool $public,
		int $maxWatchers
	) {
		$this->watchers = $watchers;
		$this->userLookup = $userLookup;
		$this->public = $public;
		$this->maxWatchers = max( 0, $maxWatchers );
	}

	/**
	 * @return bool Whether changes go to everyone the gateway admits
	 */
	public function isPublic(): bool {
		return $this->public;
	}

	/**
	 * @param LinkTarget|PageReference $page The changed page (for a move: the old title)
	 * @param UserIdentity|null $performer Left out of the list (null: unknown)
	 * @return array|null `{public, users, rights}`, or null when the event needs no audience
	 *   (public, and addressed to nobody: the same as no audience at all)
	 */
	public function forChange( $page, ?UserIdentity $performer ): ?array {
		$exclude = $performer ? (int)$performer->getId() : 0;
		$users = [];
		$owner = $this->talkPageOwner( $page );
		if ( $owner > 0 && $owner !== $exclude ) {
			$users[] = $owner;
		}
		foreach ( $this->watchers->getWatcherIds( $page, $this->maxWatchers, $exclude ) as $id ) {
			$id = (int)$id;
			if ( $id > 0 && $id !== $exclude ) {
				$users[] = $id;
			}
		}
		// The owner comes first, so that a bound (here or when the event is trimmed to size)
		// never drops them; at most maxWatchers watchers besides.
		$users = array_slice( array_values( array_unique( $users ) ), 0, $this->maxWatchers + 1 );
		if ( $this->public && !$users ) {
			return null;
		}
		return [
			'public' => $this->public,
			'users' => $users,
			'rights' => [],
		];
	}

	/**
	 * @param LinkTarget|PageReference $page
	 * @return int Id of the user whose talk page this is (the root page, not a subpage,
	 *   like core's "You have new messages"), else 0
	 */
	public function talkPageOwner( $page ): int {
		if ( $page->getNamespace() !== NS_USER_TALK ) {
			return 0;
		}
		$key = $page->getDBkey();
		if ( $key === '' || strpos( $key, '/' ) !== false ) {
			return 0;
		}
		$owner = $this->userLookup->getUserIdentityByName( str_replace( '_', ' ', $key ) );
		return $owner && $owner->isRegistered() ? (int)$owner->getId() : 0;
	}
}
