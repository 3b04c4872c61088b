<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Unit;

use MediaWiki\Extension\RealTimeNotify\Targeting\Visibility;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\FakeRightHolderLookup;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\FakeWiki;
use MediaWiki\Page\PageIdentityValue;
use MediaWiki\Permissions\PermissionManager;
use PHPUnit\Framework\TestCase;
use TitleValue;

/**
 * @covers \MediaWiki\Extension\RealTimeNotify\Targeting\Visibility
 */
class VisibilityTest extends TestCase {

	/** @var FakeWiki */
	private $wiki;
	/** @var FakeRightHolderLookup */
	private $holders;

	protected function setUp(): void {
		$this->wiki = new FakeWiki( $this );
		$this->wiki->readers = [ 7, 8, 21, 22, 30 ];
		$this->wiki->lockdown = [ NS_PROJECT => [ 8, 21, 30 ] ];
		$this->wiki->rights = [ 21 => [ 'patrol' ], 22 => [ 'patrol' ], 30 => [ 'patrol' ] ];
		$this->holders = new FakeRightHolderLookup( [ 'patrol' => [ 21, 22, 30 ] ] );
	}

	private function visibility( bool $addressReaders = true ): Visibility {
		return new Visibility( $this->wiki->permissionManager, $this->wiki->userFactory, $this->holders, $addressReaders );
	}

	public function testAPageAnonymousVisitorsMayReadIsPublic() {
		$this->assertSame( Visibility::PUBLIC, $this->visibility()->classify( [ new TitleValue( 0, 'Main_Page' ) ] ) );
		// The stand-in: anonymous, a documentation address (not the editor's), full rigor.
		$this->assertSame( [ [ 'read', 0, Visibility::PROBE_IP, '0:Main_Page', PermissionManager::RIGOR_FULL ] ],
			$this->wiki->checks );
	}

	public function testOnAPrivateWikiOnlyReadersMay() {
		$this->wiki->anonRead = false;
		$visibility = $this->visibility();
		$this->assertSame( Visibility::READERS, $visibility->classify( [ new TitleValue( 0, 'Main_Page' ) ] ) );
		$this->assertSame( [], $this->wiki->temporary, 'the temporary read right is gone again' );
		$this->assertCount( 2, $this->wiki->checks, 'once as a visitor, once as a visitor holding read' );
	}

	public function testWhitelistedPagesOfAPrivateWikiArePublic() {
		$this->wiki->anonRead = false;
		$this->wiki->whitelist = [ '0:Main_Page' ];
		$this->assertSame( Visibility::PUBLIC, $this->visibility()->classify( [ new TitleValue( 0, 'Main_Page' ) ] ) );
		$this->assertSame( Visibility::READERS, $this->visibility()->classify( [ new TitleValue( 0, 'Other' ) ] ) );
	}

	public function testANamespaceAHookRestrictsIsRestricted() {
		$this->assertSame( Visibility::RESTRICTED, $this->visibility()->classify( [ new TitleValue( NS_PROJECT, 'Secret' ) ] ) );
		$this->wiki->anonRead = false;
		$this->assertSame( Visibility::RESTRICTED, $this->visibility()->classify( [ new TitleValue( NS_PROJECT, 'Secret' ) ] ) );
		$this->assertSame( [], $this->wiki->temporary );
	}

	public function testAnEventIsAsVisibleAsItsLeastVisiblePage() {
		$v = $this->visibility();
		// A move out of a restricted namespace names the restricted old title too, and back.
		$this->assertSame( Visibility::RESTRICTED, $v->classify( [ new TitleValue( 0, 'A' ), new TitleValue( NS_PROJECT, 'B' ) ] ) );
		$this->assertSame( Visibility::RESTRICTED, $v->classify( [ new TitleValue( NS_PROJECT, 'B' ), new TitleValue( 0, 'A' ) ] ) );
		$this->assertSame( Visibility::PUBLIC, $v->classify( [ new TitleValue( 0, 'A' ), new TitleValue( 1, 'A' ) ] ) );
		$this->wiki->anonRead = false;
		$this->wiki->whitelist = [ '0:A' ];
		$this->assertSame( Visibility::READERS, $v->classify( [ new TitleValue( 0, 'A' ), new TitleValue( 0, 'B' ) ] ) );
	}

	public function testPageReferencesAreCheckedToo() {
		// What RevisionRecord::getPage() and the delete hook hand over.
		$this->assertSame( Visibility::RESTRICTED, $this->visibility()->classify( [ new PageIdentityValue( 5, NS_PROJECT, 'Secret', false ) ] ) );
	}

	public function testTheTemporaryRightIsRevokedEvenWhenACheckThrows() {
		$this->wiki->anonRead = false;
		$pm = $this->wiki->permissionManager;
		$calls = 0;
		$wiki = $this->wiki;
		$failing = $this->createMock( PermissionManager::class );
		$failing->method( 'addTemporaryUserRights' )->willReturnCallback( static function ( $u, $r ) use ( $pm ) {
			return $pm->addTemporaryUserRights( $u, $r );
		} );
		$failing->method( 'userCan' )->willReturnCallback( static function () use ( &$calls ) {
			if ( ++$calls === 2 ) {
				throw new \RuntimeException( 'hook failed' );
			}
			return false;
		} );
		$v = new Visibility( $failing, $this->wiki->userFactory, null, true );
		try {
			$v->classify( [ new TitleValue( 0, 'X' ) ] );
			$this->fail( 'the hook\'s exception reaches the caller (Targeting logs it, publishes nothing)' );
		} catch ( \RuntimeException $e ) {
			$this->assertSame( 'hook failed', $e->getMessage() );
		}
		$this->assertSame( [], $wiki->temporary );
	}

	public function testAddresseesAreCheckedOneByOne() {
		$v = $this->visibility();
		$this->assertSame( [ 8, 21 ], $v->mayRead( [ 7, 8, 0, 21, 99 ], [ new TitleValue( NS_PROJECT, 'Secret' ) ] ),
			'7 holds read but is kept out of the namespace, 99 holds neither' );
		$this->wiki->anonRead = false;
		$this->assertSame( [ 7, 8, 21 ], $v->mayRead( [ 7, 8, 21, 99 ], [ new TitleValue( 0, 'Main_Page' ) ] ) );
		$this->assertSame( [ 21 ], $v->mayRead( [ 7, 8, 21 ], [ new TitleValue( 0, 'X' ) ], 'patrol' ) );
		$this->assertSame( [ 8 ], $v->mayRead( [ 7, 8 ], [ new TitleValue( 0, 'A' ), new TitleValue( NS_PROJECT, 'B' ) ] ),
			'every page the event names' );
		foreach ( $this->wiki->checks as $check ) {
			$this->assertSame( PermissionManager::RIGOR_FULL, $check[4] );
		}
	}

	public function testAlertRecipientsOnARestrictedPage() {
		$v = $this->visibility();
		// 21 and 30 patrol and may read the namespace; 22 patrols but may not; 8 may read but
		// does not patrol (a watcher).
		$this->assertSame( [ 21, 30 ], $v->rightHoldersWhoMayRead( 'patrol', [ new TitleValue( NS_PROJECT, 'Secret' ) ], 100, [ 8, 21 ] ) );
		$this->assertSame( [ 100 ], $this->holders->limits );
		$this->assertSame( [ 21 ], $v->rightHoldersWhoMayRead( 'patrol', [ new TitleValue( NS_PROJECT, 'Secret' ) ], 2 ),
			'at most the limit of candidates is looked at' );
		$this->assertSame( [ 30 ], ( new Visibility( $this->wiki->permissionManager, $this->wiki->userFactory, null, true ) )
			->rightHoldersWhoMayRead( 'patrol', [ new TitleValue( NS_PROJECT, 'Secret' ) ], 100, [ 30 ] ),
			'without a lookup, only the other candidates' );
	}

	public function testAddressReadersIsASetting() {
		$this->assertTrue( $this->visibility()->addressesReaders() );
		$this->assertFalse( $this->visibility( false )->addressesReaders() );
	}
}
