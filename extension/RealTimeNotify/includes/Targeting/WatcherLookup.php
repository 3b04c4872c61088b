<?php

namespace MediaWiki\Extension\RealTimeNotify\Targeting;

use MediaWiki\Linker\LinkTarget;
use MediaWiki\Page\PageReference;

/**
 * Who watches a page. Core (1.39 to current) has no service that lists the watchers of a page,
 * only ones that count them, hence this small interface (DbWatcherLookup in production, a fake
 * in the unit tests).
 */
interface WatcherLookup {

	/**
	 * Ids of users watching the page (watchlist entries that have not expired), in no
	 * particular order.
	 *
	 * @param LinkTarget|PageReference $page
	 * @param int $limit At most this many ids (0: none)
	 * @param int $excludeUserId Never return this user (the performer); 0 for nobody
	 * @return int[]
	 */
	public function getWatcherIds( $page, int $limit, int $excludeUserId = 0 ): array;

	/**
	 * How many users watch the page (all of them, whatever their preferences).
	 *
	 * @param LinkTarget|PageReference $page
	 * @return int
	 */
	public function countWatchers( $page ): int;
}
