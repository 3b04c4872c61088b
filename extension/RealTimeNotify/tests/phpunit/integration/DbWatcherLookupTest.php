<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Integration;

use MediaWiki\Extension\RealTimeNotify\Hooks\UserHooks;
use MediaWiki\Extension\RealTimeNotify\Targeting\DbWatcherLookup;
use MediaWiki\Extension\RealTimeNotify\Targeting\WatcherLookup;
use TitleValue;

/**
 * DbWatcherLookup's SQL on the wiki's real tables (SQLite): watchlist, watchlist_expiry,
 * user_properties.
 *
 * @covers \MediaWiki\Extension\RealTimeNotify\Targeting\DbWatcherLookup
 */
class DbWatcherLookupTest extends WikiTestCase {

	/** @var TitleValue */
	private static $page;

	public static function setUpBeforeClass(): void {
		// Alice, Carol (notifications on), Bob and Admin (off) watch; Dave (on) watched until
		// yesterday; Patty (on) watches another page.
		self::$page = new TitleValue( NS_MAIN, 'Watched_by_many' );
		$store = self::services()->getWatchedItemStore();
		foreach ( [ 'Alice', 'Bob', 'Carol', 'Admin' ] as $name ) {
			$store->addWatch( self::user( $name ), self::$page );
		}
		$store->addWatch( self::user( 'Dave' ), self::$page, '1 week' );
		$wlId = (int)self::db()->selectField( 'watchlist', 'wl_id',
			[ 'wl_user' => self::id( 'Dave' ), 'wl_namespace' => NS_MAIN, 'wl_title' => 'Watched_by_many' ], __METHOD__ );
		self::db()->update( 'watchlist_expiry', [ 'we_expiry' => self::db()->timestamp( time() - 86400 ) ],
			[ 'we_item' => $wlId ], __METHOD__ );
		$store->addWatch( self::user( 'Patty' ), new TitleValue( NS_MAIN, 'Another_page' ) );
	}

	private function lookup( bool $expiry = true, bool $optedInOnly = true, bool $defaultOn = false ): WatcherLookup {
		$services = self::services();
		return new DbWatcherLookup( $services->getDBLoadBalancer(), $services->getWatchedItemStore(),
			$expiry, $optedInOnly, $defaultOn );
	}

	private function names( array $ids ): array {
		$names = array_map( static function ( $id ) {
			return self::services()->getUserFactory()->newFromId( $id )->getName();
		}, $ids );
		sort( $names );
		return $names;
	}

	public function testOnlyWatchersWhoTurnedNotificationsOnAndHaveNotExpired() {
		$this->assertSame( [ 'Alice', 'Carol' ], $this->names( $this->lookup()->getWatcherIds( self::$page, 100 ) ) );
	}

	public function testEveryUnexpiredWatcherWhenPreferencesAreNotConsulted() {
		$this->assertSame( [ 'Admin', 'Alice', 'Bob', 'Carol' ],
			$this->names( $this->lookup( true, false )->getWatcherIds( self::$page, 100 ) ) );
	}

	public function testExpiryIsIgnoredWhenTheWikiDoesNotUseIt() {
		$this->assertSame( [ 'Alice', 'Carol', 'Dave' ],
			$this->names( $this->lookup( false )->getWatcherIds( self::$page, 100 ) ) );
	}

	public function testWithNotificationsOnByDefaultOnlyThoseWhoTurnedThemOffAreLeftOut() {
		// Bob turned them off explicitly (a stored '0', as core stores a value that differs
		// from the default); Admin never touched the preference.
		self::db()->upsert( 'user_properties',
			[ 'up_user' => self::id( 'Bob' ), 'up_property' => UserHooks::PREF, 'up_value' => '0' ],
			[ [ 'up_user', 'up_property' ] ], [ 'up_value' => '0' ], __METHOD__ );
		try {
			$this->assertSame( [ 'Admin', 'Alice', 'Carol' ],
				$this->names( $this->lookup( true, true, true )->getWatcherIds( self::$page, 100 ) ) );
		} finally {
			self::db()->delete( 'user_properties', [ 'up_user' => self::id( 'Bob' ), 'up_property' => UserHooks::PREF ], __METHOD__ );
		}
	}

	public function testThePerformerIsExcludedAndTheListBounded() {
		$lookup = $this->lookup( true, false );
		$this->assertSame( [ 'Admin', 'Bob', 'Carol' ],
			$this->names( $lookup->getWatcherIds( self::$page, 100, self::id( 'Alice' ) ) ) );
		$this->assertCount( 2, $lookup->getWatcherIds( self::$page, 2 ) );
		$this->assertSame( [], $lookup->getWatcherIds( self::$page, 0 ) );
		$this->assertSame( [], $lookup->getWatcherIds( new TitleValue( NS_MAIN, 'Nobody_watches' ), 100 ) );
		$this->assertSame( [ 'Patty' ], $this->names( $lookup->getWatcherIds( new TitleValue( NS_MAIN, 'Another_page' ), 100 ) ) );
	}

	public function testCountsEveryWatcher() {
		// Core's count (preferences do not matter; expired entries do not count).
		$this->assertSame( 4, $this->lookup()->countWatchers( self::$page ) );
	}

	public function testTheServiceIsThisLookup() {
		$this->assertInstanceOf( DbWatcherLookup::class, self::services()->get( 'RealTimeNotify.WatcherLookup' ) );
		$this->assertSame( [ 'Alice', 'Carol' ],
			$this->names( self::services()->get( 'RealTimeNotify.WatcherLookup' )->getWatcherIds( self::$page, 100 ) ) );
	}
}
