<?php

namespace MediaWiki\Extension\RealTimeNotify\Targeting;

use MediaWiki\Extension\RealTimeNotify\Hooks\UserHooks;
use Wikimedia\Rdbms\ILoadBalancer;

/**
 * WatcherLookup on the wiki's own tables: `watchlist` (index wl_namespace_title), with
 * `watchlist_expiry` when $wgWatchlistExpiry is on, like WatchedItemStore does.
 *
 * With $optedInOnly, only watchers who turned live notifications on are listed (a join on
 * `user_properties`), so that the bound on the list is spent on people who can actually be
 * notified. Preferences kept elsewhere (e.g. Extension:GlobalPreferences) are not seen by that
 * join: such wikis set $wgRealTimeNotifyWatchersOptedInOnly = false.
 */
class DbWatcherLookup implements WatcherLookup {

	/** @var ILoadBalancer */
	private $loadBalancer;
	/** @var \WatchedItemStoreInterface */
	private $watchedItemStore;
	/** @var bool */
	private $expiryEnabled;
	/** @var bool */
	private $optedInOnly;
	/** @var bool */
	private $enabledByDefault;

	/**
	 * @param ILoadBalancer $loadBalancer
	 * @param \WatchedItemStoreInterface $watchedItemStore
	 * @param bool $expiryEnabled $wgWatchlistExpiry
	 * @param bool $optedInOnly List only users whose 'realtimenotify-enable' is on
	 * @param bool $enabledByDefault $wgRealTimeNotifyDefaultEnabled (users without a stored
	 *   preference have it on)
	 */
	public function __construct(
		ILoadBalancer $loadBalancer,
		$watchedItemStore,
		bool $expiryEnabled,
		bool $optedInOnly,
		bool $enabledByDefault
	) {
		$this->loadBalancer = $loadBalancer;
		$this->watchedItemStore = $watchedItemStore;
		$this->expiryEnabled = $expiryEnabled;
		$this->optedInOnly = $optedInOnly;
		$this->enabledByDefault = $enabledByDefault;
	}

	/** @inheritDoc */
	public function getWatcherIds( $page, int $limit, int $excludeUserId = 0 ): array {
		if ( $limit <= 0 ) {
			return [];
		}
		$db = $this->loadBalancer->getConnection( DB_REPLICA );
		$query = $db->newSelectQueryBuilder()
			->select( 'wl_user' )
			->from( 'watchlist' )
			->where( [
				'wl_namespace' => $page->getNamespace(),
				'wl_title' => $page->getDBkey(),
			] )
			// No ORDER BY: sorting every watcher of a popular page to keep a few would cost
			// far more than the arbitrary (but bounded) choice.
			->limit( $limit )
			->caller( __METHOD__ );
		if ( $excludeUserId > 0 ) {
			$query->where( 'wl_user != ' . (int)$excludeUserId );
		}
		if ( $this->expiryEnabled ) {
			$query->leftJoin( 'watchlist_expiry', null, 'we_item = wl_id' );
			$query->where( 'we_expiry IS NULL OR we_expiry > ' . $db->addQuotes( $db->timestamp() ) );
		}
		if ( $this->optedInOnly ) {
			// Core stores only values that differ from the default: "on" is a row with a
			// truthy value, or (default on) no row at all.
			$on = 'up_value NOT IN (' . $db->makeList( [ '', '0' ] ) . ')';
			$joinConds = [ 'up_user = wl_user', 'up_property' => UserHooks::PREF ];
			if ( $this->enabledByDefault ) {
				$query->leftJoin( 'user_properties', null, $joinConds );
				$query->where( "up_value IS NULL OR $on" );
			} else {
				$query->join( 'user_properties', null, $joinConds );
				$query->where( $on );
			}
		}
		return array_map( 'intval', $query->fetchFieldValues() );
	}

	/** @inheritDoc */
	public function countWatchers( $page ): int {
		return $this->watchedItemStore->countWatchers( $page );
	}
}
