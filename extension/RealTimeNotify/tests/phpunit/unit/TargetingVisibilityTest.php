<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Unit;

use CommentStoreComment;
use MediaWiki\Extension\RealTimeNotify\EventBuilder;
use MediaWiki\Extension\RealTimeNotify\Targeting\AlertRules;
use MediaWiki\Extension\RealTimeNotify\Targeting\AudienceBuilder;
use MediaWiki\Extension\RealTimeNotify\Targeting\Targeting;
use MediaWiki\Extension\RealTimeNotify\Targeting\Visibility;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\FakePageLinker;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\FakeRightHolderLookup;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\FakeWatcherLookup;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\FakeWiki;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\RecordingLogger;
use MediaWiki\Extension\RealTimeNotify\Uuid;
use MediaWiki\Page\PageIdentityValue;
use MediaWiki\Permissions\RestrictionStore;
use MediaWiki\Revision\MutableRevisionRecord;
use MediaWiki\Storage\EditResult;
use MediaWiki\User\UserFactory;
use MediaWiki\User\UserIdentityLookup;
use MediaWiki\User\UserIdentityValue;
use PHPUnit\Framework\TestCase;
use RuntimeException;
use TitleValue;
use User;

/**
 * Issue 10 item 8: a change anonymous visitors may not read is never public, and reaches only
 * those who may read it. Targeting with a real Visibility over a FakeWiki's permissions.
 *
 * @covers \MediaWiki\Extension\RealTimeNotify\Targeting\Targeting
 * @covers \MediaWiki\Extension\RealTimeNotify\Targeting\Visibility
 */
class TargetingVisibilityTest extends TestCase {

	/** @var FakeWiki */
	private $wiki;
	/** @var FakeWatcherLookup */
	private $watchers;
	/** @var FakeRightHolderLookup */
	private $holders;
	/** @var RecordingLogger */
	private $logger;

	protected function setUp(): void {
		// Alice 7, Bob 8 (the editor), Carol 9; Patty 21 and Pat 22 patrol; staff 30 (patrols).
		// The Project namespace is for Bob, Patty and staff only (a Lockdown-like hook).
		$this->wiki = new FakeWiki( $this );
		$this->wiki->readers = [ 7, 8, 9, 21, 22, 30 ];
		$this->wiki->lockdown = [ NS_PROJECT => [ 8, 21, 30 ] ];
		$this->wiki->rights = [ 21 => [ 'patrol' ], 22 => [ 'patrol' ], 30 => [ 'patrol' ] ];
		$this->watchers = new FakeWatcherLookup( [
			'0:Main_Page' => [ 7, 8, 9 ],
			'4:Secret' => [ 7, 9, 30 ],
			'0:Open' => [ 9 ],
		] );
		$this->holders = new FakeRightHolderLookup( [ 'patrol' => [ 21, 22 ] ] );
		$this->logger = new RecordingLogger();
	}

	private function targeting( bool $broadcast = true, bool $addressReaders = true, int $maxChecked = 1000 ): Targeting {
		$users = $this->createMock( UserIdentityLookup::class );
		$users->method( 'getUserIdentityByName' )->willReturn( null );
		// The editor: a new user (so protected or much-watched pages raise alerts), no rights.
		$newbie = $this->createMock( User::class );
		$newbie->method( 'isRegistered' )->willReturn( true );
		$newbie->method( 'isAllowed' )->willReturn( false );
		$newbie->method( 'getRegistration' )->willReturn( '20200101000000' );
		$newbie->method( 'getEditCount' )->willReturn( 900 );
		$factory = $this->createMock( UserFactory::class );
		$factory->method( 'newFromUserIdentity' )->willReturn( $newbie );
		return new Targeting(
			new AudienceBuilder( $this->watchers, $users, $broadcast, 1000 ),
			new AlertRules(),
			$this->watchers,
			$factory,
			$this->createMock( RestrictionStore::class ),
			$this->logger,
			null,
			Targeting::MAX_EVENT_BYTES,
			new Visibility( $this->wiki->permissionManager, $this->wiki->userFactory, $this->holders, $addressReaders ),
			$maxChecked
		);
	}

	private static function event( string $title = 'Main Page' ): array {
		return [ 'schema' => 1, 'type' => 'edit', 'page_title' => $title, 'user_name' => 'Bob',
			'timestamp' => '2026-11-25T01:02:03Z', 'summary' => '', 'uuid' => '00000000-0000-4000-8000-000000000001' ];
	}

	private function change( Targeting $t, int $ns, string $dbkey, array $alsoNamed = [] ): ?array {
		return $t->withAudience( self::event(), new TitleValue( $ns, $dbkey ), new UserIdentityValue( 8, 'Bob' ), $alsoNamed );
	}

	/**
	 * The blanking alert for Bob's edit of the page.
	 */
	private function alert( Targeting $t, int $ns, string $dbkey ): ?array {
		$rev = new MutableRevisionRecord( new PageIdentityValue( 1, $ns, $dbkey, false ) );
		$rev->setId( 42 );
		$rev->setParentId( 41 );
		$rev->setSize( 0 );
		$rev->setUser( new UserIdentityValue( 8, 'Bob' ) );
		$rev->setComment( CommentStoreComment::newUnsavedComment( 'gone' ) );
		$rev->setTimestamp( '20261125010203' );
		$editResult = new EditResult( false, 41, null, null, null, false, false, [] );
		$event = ( new EventBuilder( 'testwiki', 500, new FakePageLinker() ) )
			->newEditEvent( $rev, EDIT_UPDATE, $editResult, 5000, false );
		return $t->alertFor( $event, $rev, new UserIdentityValue( 8, 'Bob' ), 5000, $editResult, false );
	}

	public function testOnAPublicWikiNothingChanges() {
		$event = $this->change( $this->targeting(), 0, 'Main_Page' );
		$this->assertSame( [ 'public' => true, 'users' => [ 7, 9 ], 'rights' => [] ], $event['audience'] );
		$this->assertSame( self::event(), $this->change( $this->targeting(), 0, 'Nobody_watches' ) );
		$this->assertSame( [ 'public' => false, 'users' => [], 'rights' => [ 'patrol' ] ],
			$this->alert( $this->targeting(), 0, 'Main_Page' )['audience'] );
	}

	public function testOnAPrivateWikiAChangeGoesToReadersNeverToEveryone() {
		$this->wiki->anonRead = false;
		$event = $this->change( $this->targeting(), 0, 'Main_Page' );
		// Visible to every reader, addressed only to the watchers: the watchlist mode stays a watchlist.
		$this->assertSame( [ 'public' => false, 'users' => [ 7, 9 ], 'rights' => [], 'visible_to' => [ 'read' ] ], $event['audience'] );
		$this->assertSame( [ 'public' => false, 'users' => [], 'rights' => [], 'visible_to' => [ 'read' ] ],
			$this->change( $this->targeting(), 0, 'Nobody_watches' )['audience'],
			'nobody addressed: still for every reader, and not public' );
	}

	public function testAddressedWatchersMustBeReaders() {
		$this->wiki->anonRead = false;
		$this->wiki->readers = [ 8, 9 ]; // Alice (7) lost the read right
		$this->assertSame( [ 9 ], $this->change( $this->targeting(), 0, 'Main_Page' )['audience']['users'] );
	}

	public function testReadersAreNotAddressedWhenTheWikiSaysSo() {
		$this->wiki->anonRead = false;
		$this->assertSame( [ 'public' => false, 'users' => [ 7, 9 ], 'rights' => [] ],
			$this->change( $this->targeting( true, false ), 0, 'Main_Page' )['audience'] );
		$this->assertNull( $this->change( $this->targeting( true, false ), 0, 'Nobody_watches' ),
			'nobody to send it to' );
	}

	public function testWithoutBroadcastOnlyAddresseesWhoMayReadGetIt() {
		$this->wiki->anonRead = false;
		$this->assertSame( [ 'public' => false, 'users' => [ 7, 9 ], 'rights' => [] ],
			$this->change( $this->targeting( false ), 0, 'Main_Page' )['audience'] );
	}

	public function testARestrictedPageGoesOnlyToAddresseesWhoMayReadIt() {
		// A public wiki with one locked-down namespace: 7 and 9 watch but may not read it.
		$event = $this->change( $this->targeting(), NS_PROJECT, 'Secret' );
		$this->assertSame( [ 'public' => false, 'users' => [ 30 ], 'rights' => [] ], $event['audience'] );
		$this->assertNull( $this->change( $this->targeting(), NS_PROJECT, 'Unwatched' ), 'nobody may: not published' );
		$this->wiki->anonRead = false;
		$this->assertSame( [ 'public' => false, 'users' => [ 30 ], 'rights' => [] ],
			$this->change( $this->targeting(), NS_PROJECT, 'Secret' )['audience'], 'not even to every reader' );
	}

	public function testAMoveIsAsVisibleAsItsLessVisibleTitle() {
		// Out of the public main namespace into the locked one: Carol (9) watches the old title
		// but may not read the new one.
		$event = $this->change( $this->targeting(), 0, 'Open', [ new TitleValue( NS_PROJECT, 'Hidden' ) ] );
		$this->assertNull( $event, 'nobody who watches may read both titles' );
		$this->watchers->watchers['0:Open'] = [ 9, 30 ];
		$event = $this->change( $this->targeting(), 0, 'Open', [ new TitleValue( NS_PROJECT, 'Hidden' ) ] );
		$this->assertSame( [ 'public' => false, 'users' => [ 30 ], 'rights' => [] ], $event['audience'] );
	}

	public function testWhenVisibilityCannotBeDecidedNothingIsPublished() {
		$this->wiki->failWith = new RuntimeException( 'hook exploded' );
		$this->assertNull( $this->change( $this->targeting(), 0, 'Main_Page' ) );
		$this->assertStringContainsString( 'could not decide who may read it: hook exploded', $this->logger->messages( 'error' )[0] );
		$this->assertNull( $this->alert( $this->targeting(), 0, 'Main_Page' ) );
	}

	public function testWhenAddresseesCannotBeCheckedNothingIsPublished() {
		$this->wiki->anonRead = false;
		$this->wiki->failForUsers = new RuntimeException( 'user table gone' );
		$this->assertNull( $this->change( $this->targeting(), 0, 'Main_Page' ),
			'not even to every reader: better silent than wrong' );
		$this->assertStringContainsString( 'could not check who may read it: user table gone',
			$this->logger->messages( 'error' )[0] );
		$this->assertNull( $this->alert( $this->targeting(), NS_PROJECT, 'Secret' ) );
		$this->assertStringContainsString( 'No alert for "Project:Secret": could not check who may read it',
			$this->logger->messages( 'error' )[1] );
	}

	public function testAlertsOnAPrivateWikiStayWithTheAlertRight() {
		// Only readers get connection tokens (ApiRealTimeNotifyToken), so every patroller the
		// gateway knows may read the page.
		$this->wiki->anonRead = false;
		$alert = $this->alert( $this->targeting(), 0, 'Main_Page' );
		$this->assertSame( [ 'public' => false, 'users' => [], 'rights' => [ 'patrol' ] ], $alert['audience'] );
	}

	public function testAlertsOnARestrictedPageGoToPatrollersWhoMayReadIt() {
		$alert = $this->alert( $this->targeting(), NS_PROJECT, 'Secret' );
		// Patty (21, group member) and staff (30, a watcher) patrol and may read; Pat (22) may not;
		// Alice and Carol (watchers) may not and do not patrol.
		$this->assertSame( [ 'public' => false, 'users' => [ 21, 30 ], 'rights' => [] ], $alert['audience'] );
		$this->assertSame( [ 'blanking' ], $alert['reasons'] );
		$this->assertSame( [ 1000 ], $this->holders->limits, 'as many as the watcher list' );
	}

	public function testNoAlertWhenNoPatrollerMayReadThePage() {
		$this->wiki->lockdown[NS_PROJECT] = [ 8 ];
		$this->assertNull( $this->alert( $this->targeting(), NS_PROJECT, 'Secret' ) );
		$this->assertStringContainsString( 'no holder of the alert right may read it', $this->logger->messages( 'debug' )[0] );
	}

	public function testAlertCandidatesAreBounded() {
		$this->holders->holders['patrol'] = range( 100, 200 );
		$this->wiki->rights += array_fill_keys( range( 100, 200 ), [ 'patrol' ] );
		$this->wiki->readers = array_merge( $this->wiki->readers, range( 100, 200 ) );
		$this->wiki->lockdown[NS_PROJECT] = array_merge( [ 8 ], range( 100, 200 ) );
		$alert = $this->alert( $this->targeting( true, true, 10 ), NS_PROJECT, 'Secret' );
		$this->assertSame( range( 100, 109 ), $alert['audience']['users'] );
		$this->assertSame( [ 10 ], $this->watchers->limits );
	}

	public function testAnAlertIsAnotherEventWithItsOwnUuid() {
		$alert = $this->alert( $this->targeting(), 0, 'Main_Page' );
		$this->assertMatchesRegularExpression( Uuid::PATTERN, $alert['uuid'] );
		$t = $this->targeting();
		$this->assertNotSame( '00000000-0000-4000-8000-0000000000ed',
			$t->alertEvent( [ 'uuid' => '00000000-0000-4000-8000-0000000000ed' ] + self::event(), [ 'blanking' ] )['uuid'],
			'the gateway delivers a uuid once: the alert must not share the edit\'s' );
		$this->assertArrayNotHasKey( 'uuid', $t->alertEvent( [ 'page_title' => 'P' ], [ 'blanking' ] ) );
	}
}
