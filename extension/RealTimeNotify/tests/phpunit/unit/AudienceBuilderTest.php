<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Unit;

use MediaWiki\Extension\RealTimeNotify\Targeting\AudienceBuilder;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\FakeWatcherLookup;
use MediaWiki\Page\PageIdentityValue;
use MediaWiki\User\UserIdentityLookup;
use MediaWiki\User\UserIdentityValue;
use PHPUnit\Framework\TestCase;
use TitleValue;

/**
 * @covers \MediaWiki\Extension\RealTimeNotify\Targeting\AudienceBuilder
 */
class AudienceBuilderTest extends TestCase {

	/** @var FakeWatcherLookup */
	private $watchers;

	private function builder( array $watchers, bool $public = true, int $max = 1000 ): AudienceBuilder {
		$this->watchers = new FakeWatcherLookup( $watchers );
		$users = $this->createMock( UserIdentityLookup::class );
		$users->method( 'getUserIdentityByName' )->willReturnCallback( static function ( $name ) {
			$known = [ 'Alice' => 7, 'Bob' => 8, 'Carol Smith' => 9 ];
			if ( isset( $known[$name] ) ) {
				return new UserIdentityValue( $known[$name], $name );
			}
			// An IP's talk page: an actor without a user id.
			return filter_var( $name, FILTER_VALIDATE_IP ) ? new UserIdentityValue( 0, $name ) : null;
		} );
		return new AudienceBuilder( $this->watchers, $users, $public, $max );
	}

	private static function bob(): UserIdentityValue {
		return new UserIdentityValue( 8, 'Bob' );
	}

	public function testWatchersAreAddressedAndThePerformerIsNot() {
		$audience = $this->builder( [ '0:Main_Page' => [ 7, 8, 12 ] ] )
			->forChange( new PageIdentityValue( 1, 0, 'Main_Page', false ), self::bob() );
		$this->assertSame( [ 'public' => true, 'users' => [ 7, 12 ], 'rights' => [] ], $audience );
	}

	public function testNobodyToAddressMeansNoAudienceWhenPublic() {
		$builder = $this->builder( [ '0:Main_Page' => [ 8 ] ] );
		$this->assertNull( $builder->forChange( new TitleValue( 0, 'Main_Page' ), self::bob() ) );
		$this->assertNull( $builder->forChange( new TitleValue( 0, 'Unwatched' ), self::bob() ) );
	}

	public function testPrivateAudienceIsAlwaysThere() {
		$builder = $this->builder( [ '0:Main_Page' => [ 7 ] ], false );
		$this->assertSame( [ 'public' => false, 'users' => [ 7 ], 'rights' => [] ],
			$builder->forChange( new TitleValue( 0, 'Main_Page' ), self::bob() ) );
		$this->assertSame( [ 'public' => false, 'users' => [], 'rights' => [] ],
			$builder->forChange( new TitleValue( 0, 'Unwatched' ), self::bob() ),
			'nobody: the caller decides not to publish' );
	}

	public function testTalkPageOwnerComesFirst() {
		$audience = $this->builder( [ '3:Alice' => [ 12, 7, 13 ] ] )
			->forChange( new TitleValue( NS_USER_TALK, 'Alice' ), self::bob() );
		$this->assertSame( [ 7, 12, 13 ], $audience['users'], 'owner once, first' );
	}

	public function testTalkPageOwnerWithSpacesInTheName() {
		$audience = $this->builder( [] )->forChange( new TitleValue( NS_USER_TALK, 'Carol_Smith' ), self::bob() );
		$this->assertSame( [ 9 ], $audience['users'] );
	}

	public function testNoOwnerForSubpagesUserPagesUnknownUsersAndIps() {
		$builder = $this->builder( [] );
		$this->assertNull( $builder->forChange( new TitleValue( NS_USER_TALK, 'Alice/Archive_1' ), self::bob() ) );
		$this->assertNull( $builder->forChange( new TitleValue( NS_USER, 'Alice' ), self::bob() ) );
		$this->assertNull( $builder->forChange( new TitleValue( NS_USER_TALK, 'Nobody' ), self::bob() ) );
		$this->assertNull( $builder->forChange( new TitleValue( NS_USER_TALK, '192.0.2.1' ), self::bob() ) );
		$this->assertSame( 0, $builder->talkPageOwner( new TitleValue( NS_TALK, 'Alice' ) ) );
	}

	public function testOwnerEditingTheirOwnTalkPageIsNotAddressed() {
		$builder = $this->builder( [ '3:Bob' => [ 8, 7 ] ] );
		$this->assertSame( [ 7 ], $builder->forChange( new TitleValue( NS_USER_TALK, 'Bob' ), self::bob() )['users'] );
	}

	public function testAnonymousPerformerExcludesNobody() {
		$audience = $this->builder( [ '0:P' => [ 7, 8 ] ] )
			->forChange( new TitleValue( 0, 'P' ), new UserIdentityValue( 0, '192.0.2.1' ) );
		$this->assertSame( [ 7, 8 ], $audience['users'] );
	}

	public function testTheWatcherListIsBounded() {
		$builder = $this->builder( [ '0:P' => range( 100, 199 ), '3:Alice' => range( 100, 199 ) ], true, 10 );
		$audience = $builder->forChange( new TitleValue( 0, 'P' ), self::bob() );
		$this->assertCount( 10, $audience['users'] );
		$this->assertSame( [ 10 ], $this->watchers->limits, 'the bound is passed to the lookup' );

		$audience = $builder->forChange( new TitleValue( NS_USER_TALK, 'Alice' ), self::bob() );
		$this->assertCount( 11, $audience['users'], 'the owner on top of the bound' );
		$this->assertSame( 7, $audience['users'][0] );
	}

	public function testZeroWatchersListsOnlyTheOwner() {
		$builder = $this->builder( [ '0:P' => [ 7 ], '3:Alice' => [ 12 ] ], true, 0 );
		$this->assertNull( $builder->forChange( new TitleValue( 0, 'P' ), self::bob() ) );
		$this->assertSame( [ 7 ], $builder->forChange( new TitleValue( NS_USER_TALK, 'Alice' ), self::bob() )['users'] );
	}
}
