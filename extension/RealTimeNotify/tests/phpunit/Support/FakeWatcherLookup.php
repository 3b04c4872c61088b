<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Support;

use MediaWiki\Extension\RealTimeNotify\Targeting\WatcherLookup;

/**
 * Watchers per prefixed "ns:dbkey"; records the limits it was asked for.
 */
class FakeWatcherLookup implements WatcherLookup {

	/** @var array<string,int[]> */
	public $watchers = [];
	/** @var int[] The $limit of every getWatcherIds() call */
	public $limits = [];
	/** @var int How many times countWatchers() was called */
	public $counted = 0;
	/** @var \Throwable|null */
	public $failWith;

	/**
	 * @param array<string,int[]> $watchers e.g. [ '0:Main_Page' => [ 7, 8 ] ]
	 */
	public function __construct( array $watchers = [] ) {
		$this->watchers = $watchers;
	}

	private function key( $page ): string {
		return $page->getNamespace() . ':' . $page->getDBkey();
	}

	/** @inheritDoc */
	public function getWatcherIds( $page, int $limit, int $excludeUserId = 0 ): array {
		if ( $this->failWith ) {
			throw $this->failWith;
		}
		$this->limits[] = $limit;
		$ids = array_values( array_diff( $this->watchers[$this->key( $page )] ?? [], [ $excludeUserId ] ) );
		return array_slice( $ids, 0, max( 0, $limit ) );
	}

	/** @inheritDoc */
	public function countWatchers( $page ): int {
		$this->counted++;
		return count( $this->watchers[$this->key( $page )] ?? [] );
	}
}
