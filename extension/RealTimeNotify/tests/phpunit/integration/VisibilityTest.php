<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Integration;

use MediaWiki\Extension\RealTimeNotify\Targeting\DbRightHolderLookup;
use MediaWiki\Extension\RealTimeNotify\Targeting\Visibility;
use MediaWiki\Permissions\PermissionManager;
use TitleValue;

/**
 * Who may see a change, with the integration wiki's real PermissionManager: anonymous users may
 * not read ($wgGroupPermissions['*']['read'] = false) except the main page ($wgWhitelistRead),
 * and a getUserPermissionsErrors hook keeps everyone but sysops out of the Project namespace,
 * the way Extension:Lockdown does. And DbRightHolderLookup on its user_groups table.
 *
 * @covers \MediaWiki\Extension\RealTimeNotify\Targeting\Visibility
 * @covers \MediaWiki\Extension\RealTimeNotify\Targeting\DbRightHolderLookup
 */
class VisibilityTest extends WikiTestCase {

	private function visibility(): Visibility {
		$v = self::services()->get( 'RealTimeNotify.Visibility' );
		$this->assertInstanceOf( Visibility::class, $v );
		return $v;
	}

	public function testClassesFollowTheWikisReadPermissions() {
		$v = $this->visibility();
		$this->assertSame( Visibility::PUBLIC, $v->classify( [ new TitleValue( NS_MAIN, 'Main_Page' ) ] ), 'whitelisted' );
		$this->assertSame( Visibility::READERS, $v->classify( [ new TitleValue( NS_MAIN, 'Some_page' ) ] ), 'private wiki' );
		$this->assertSame( Visibility::READERS, $v->classify( [ new TitleValue( NS_USER_TALK, 'Alice' ) ] ) );
		$this->assertSame( Visibility::RESTRICTED, $v->classify( [ new TitleValue( NS_PROJECT, 'Secret' ) ] ), 'the hook' );
		$this->assertSame( Visibility::RESTRICTED,
			$v->classify( [ new TitleValue( NS_MAIN, 'Main_Page' ), new TitleValue( NS_PROJECT, 'Secret' ) ] ) );
	}

	public function testTheStandInsReadRightDoesNotOutliveTheCheck() {
		$this->visibility()->classify( [ new TitleValue( NS_MAIN, 'Some_page' ) ] );
		$pm = self::services()->getPermissionManager();
		$anon = self::services()->getUserFactory()->newAnonymous( Visibility::PROBE_IP );
		$this->assertFalse( $pm->userHasRight( $anon, 'read' ) );
		$this->assertFalse( $pm->userCan( 'read', $anon, new TitleValue( NS_MAIN, 'Some_page' ), PermissionManager::RIGOR_FULL ) );
	}

	public function testAddresseesAreCheckedWithTheirRealGroups() {
		$v = $this->visibility();
		$ids = [ self::id( 'Alice' ), self::id( 'Admin' ), self::id( 'Patty' ) ];
		$this->assertSame( [ self::id( 'Admin' ) ], $v->mayRead( $ids, [ new TitleValue( NS_PROJECT, 'Secret' ) ] ) );
		$this->assertSame( $ids, $v->mayRead( $ids, [ new TitleValue( NS_MAIN, 'Some_page' ) ] ) );
		$this->assertSame( [ self::id( 'Admin' ), self::id( 'Patty' ) ],
			$v->mayRead( $ids, [ new TitleValue( NS_MAIN, 'Some_page' ) ], 'patrol' ), 'sysops and patrollers patrol' );
	}

	public function testPatrollersAreListedFromTheirGroups() {
		$services = self::services();
		$lookup = new DbRightHolderLookup( $services->getDBLoadBalancer(), $services->getGroupPermissionsLookup(),
			$services->getUserGroupManager()->listAllImplicitGroups() );
		$ids = $lookup->getUserIdsWithRight( 'patrol', 100 );
		sort( $ids );
		$expected = [ self::id( 'Admin' ), self::id( 'Patty' ) ];
		sort( $expected );
		$this->assertSame( $expected, $ids, 'sysop and patroller members; nobody else' );
		$this->assertCount( 1, $lookup->getUserIdsWithRight( 'patrol', 1 ) );
		$this->assertSame( [], $lookup->getUserIdsWithRight( 'read', 100 ), 'held through implicit groups: not listed' );

		// A membership that has expired does not count.
		$groups = $services->getUserGroupManager();
		$carol = self::user( 'Carol' );
		$groups->addUserToGroup( $carol, 'patroller', wfTimestamp( TS_MW, time() + 3600 ) );
		try {
			$this->assertContains( $carol->getId(), $lookup->getUserIdsWithRight( 'patrol', 100 ) );
			self::db()->update( 'user_groups', [ 'ug_expiry' => self::db()->timestamp( time() - 60 ) ],
				[ 'ug_user' => $carol->getId(), 'ug_group' => 'patroller' ], __METHOD__ );
			$this->assertNotContains( $carol->getId(), $lookup->getUserIdsWithRight( 'patrol', 100 ) );
		} finally {
			self::db()->delete( 'user_groups', [ 'ug_user' => $carol->getId() ], __METHOD__ );
		}
	}

	public function testAnAlertOnARestrictedPageFindsThePatrollersWhoMayReadIt() {
		// Patty patrols but may not read Project:; Admin may.
		$this->assertSame( [ self::id( 'Admin' ) ],
			$this->visibility()->rightHoldersWhoMayRead( 'patrol', [ new TitleValue( NS_PROJECT, 'Secret' ) ], 100 ) );
	}
}
