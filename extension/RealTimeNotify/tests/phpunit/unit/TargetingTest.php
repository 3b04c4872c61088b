<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Unit;

use CommentStoreComment;
use MediaWiki\Extension\RealTimeNotify\EventBuilder;
use MediaWiki\Extension\RealTimeNotify\EventPublisher;
use MediaWiki\Extension\RealTimeNotify\Targeting\AlertRules;
use MediaWiki\Extension\RealTimeNotify\Targeting\AudienceBuilder;
use MediaWiki\Extension\RealTimeNotify\Targeting\Targeting;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\FakePageLinker;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\FakeWatcherLookup;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\RecordingLogger;
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
 * @covers \MediaWiki\Extension\RealTimeNotify\Targeting\Targeting
 */
class TargetingTest extends TestCase {

	private const NOW = 1764032523;
	private const DAY = 86400;

	/** @var FakeWatcherLookup */
	private $watchers;
	/** @var RecordingLogger */
	private $logger;
	/** @var array Performer facts by user name: registered, temp, rights, registration, edits */
	private $people;
	/** @var bool */
	private $protected;

	protected function setUp(): void {
		$this->watchers = new FakeWatcherLookup( [ '0:Main_Page' => [ 7, 8 ] ] );
		$this->logger = new RecordingLogger();
		$this->protected = false;
		$old = gmdate( 'YmdHis', self::NOW - 400 * self::DAY );
		$this->people = [
			'Bob' => [ 'id' => 8, 'rights' => [ 'edit' ], 'registration' => $old, 'edits' => 900 ],
			'Newbie' => [ 'id' => 20, 'rights' => [ 'edit' ], 'registration' => gmdate( 'YmdHis', self::NOW - 3600 ), 'edits' => 2 ],
			'Patty' => [ 'id' => 21, 'rights' => [ 'edit', 'patrol' ], 'registration' => $old, 'edits' => 5 ],
			'Trusted' => [ 'id' => 22, 'rights' => [ 'edit', 'autopatrol' ], 'registration' => $old, 'edits' => 5 ],
			'192.0.2.1' => [ 'id' => 0, 'rights' => [ 'edit' ], 'registration' => null, 'edits' => null ],
			'~2026-1' => [ 'id' => 23, 'temp' => true, 'rights' => [ 'edit' ], 'registration' => gmdate( 'YmdHis', self::NOW ), 'edits' => 0 ],
		];
	}

	private function targeting(
		array $rules = [], bool $public = true, int $maxWatchers = 1000, int $maxBytes = Targeting::MAX_EVENT_BYTES
	): Targeting {
		$users = $this->createMock( UserIdentityLookup::class );
		$users->method( 'getUserIdentityByName' )->willReturn( null );
		$factory = $this->createMock( UserFactory::class );
		$factory->method( 'newFromUserIdentity' )->willReturnCallback( function ( $identity ) {
			if ( !isset( $this->people[$identity->getName()] ) ) {
				throw new RuntimeException( 'user lookup failed' );
			}
			$p = $this->people[$identity->getName()];
			$user = $this->createMock( User::class );
			$user->method( 'getId' )->willReturn( $p['id'] );
			$user->method( 'getName' )->willReturn( $identity->getName() );
			$user->method( 'isRegistered' )->willReturn( $p['id'] > 0 );
			$user->method( 'isTemp' )->willReturn( $p['temp'] ?? false );
			$user->method( 'isAllowed' )->willReturnCallback( static function ( $right ) use ( $p ) {
				return in_array( $right, $p['rights'], true );
			} );
			$user->method( 'getRegistration' )->willReturn( $p['registration'] ?? false );
			$user->method( 'getEditCount' )->willReturn( $p['edits'] );
			return $user;
		} );
		$restrictions = $this->createMock( RestrictionStore::class );
		$restrictions->method( 'isProtected' )->willReturnCallback( function () {
			return $this->protected;
		} );
		$restrictions->method( 'isCascadeProtected' )->willReturn( false );
		return new Targeting(
			new AudienceBuilder( $this->watchers, $users, $public, $maxWatchers ),
			new AlertRules( $rules ),
			$this->watchers,
			$factory,
			$restrictions,
			$this->logger,
			static function () {
				return self::NOW;
			},
			$maxBytes
		);
	}

	private function revision( int $size, string $user = 'Bob' ): MutableRevisionRecord {
		$rev = new MutableRevisionRecord( new PageIdentityValue( 1, 0, 'Main_Page', false ) );
		$rev->setId( 42 );
		$rev->setParentId( 41 );
		$rev->setSize( $size );
		$rev->setUser( new UserIdentityValue( $this->people[$user]['id'], $user ) );
		$rev->setComment( CommentStoreComment::newUnsavedComment( 'gone' ) );
		$rev->setTimestamp( '20261125010203' );
		return $rev;
	}

	private function editResult( bool $revert = false ): EditResult {
		return new EditResult( false, 41, $revert ? EditResult::REVERT_UNDO : null,
			$revert ? 40 : null, $revert ? 40 : null, false, false, [] );
	}

	/**
	 * @return array|null The alert for $user's edit of Main_Page from $old to $new bytes
	 */
	private function alert( int $old, int $new, string $user = 'Bob', array $rules = [], bool $bot = false,
		bool $revert = false
	): ?array {
		$rev = $this->revision( $new, $user );
		$event = ( new EventBuilder( 'testwiki', 500, new FakePageLinker() ) )
			->newEditEvent( $rev, EDIT_UPDATE, $this->editResult( $revert ), $old, $bot );
		return $this->targeting( $rules )->alertFor( $event, $rev,
			new UserIdentityValue( $this->people[$user]['id'], $user ), $old, $this->editResult( $revert ), $bot );
	}

	private static function event( string $title = 'Main Page', string $type = 'edit' ): array {
		return [ 'schema' => 1, 'type' => $type, 'page_title' => $title, 'user_name' => 'Bob',
			'timestamp' => '2026-11-25T01:02:03Z', 'summary' => '' ];
	}

	public function testAudienceIsAdded() {
		$event = $this->targeting()->withAudience( self::event(), new TitleValue( 0, 'Main_Page' ),
			new UserIdentityValue( 8, 'Bob' ) );
		$this->assertSame( [ 'public' => true, 'users' => [ 7 ], 'rights' => [] ], $event['audience'] );
		$this->assertSame( '{"schema":1,"type":"edit","page_title":"Main Page","user_name":"Bob",' .
			'"timestamp":"2026-11-25T01:02:03Z","summary":"","audience":{"public":true,"users":[7],"rights":[]}}',
			EventPublisher::encode( $event ) );
	}

	public function testNoAudienceWhenNobodyIsAddressed() {
		$event = $this->targeting()->withAudience( self::event( 'Other' ), new TitleValue( 0, 'Other' ),
			new UserIdentityValue( 8, 'Bob' ) );
		$this->assertSame( self::event( 'Other' ), $event );
	}

	public function testNotPublishedWhenNotBroadcastAndNobodyIsAddressed() {
		$targeting = $this->targeting( [], false );
		$this->assertNull( $targeting->withAudience( self::event( 'Other' ), new TitleValue( 0, 'Other' ),
			new UserIdentityValue( 8, 'Bob' ) ) );
		$event = $targeting->withAudience( self::event(), new TitleValue( 0, 'Main_Page' ), new UserIdentityValue( 8, 'Bob' ) );
		$this->assertSame( [ 'public' => false, 'users' => [ 7 ], 'rights' => [] ], $event['audience'] );
	}

	public function testAudienceFailureIsLoggedAndFallsBackSafely() {
		$this->watchers->failWith = new RuntimeException( 'db down' );
		$event = $this->targeting()->withAudience( self::event(), new TitleValue( 0, 'Main_Page' ), null );
		$this->assertSame( self::event(), $event, 'public: published as for everyone' );
		$this->assertStringContainsString( 'Could not compute the audience of the edit event for "Main Page": db down',
			$this->logger->messages( 'error' )[0] );

		$this->assertNull( $this->targeting( [], false )->withAudience( self::event(), new TitleValue( 0, 'Main_Page' ), null ),
			'not broadcast: better silent than sent to everyone' );
	}

	public function testHugeAudiencesAreCutToFitTheGateway() {
		$this->watchers->watchers['0:Main_Page'] = range( 1000000, 1002999 );
		$event = $this->targeting( [], true, 3000 )->withAudience( self::event(), new TitleValue( 0, 'Main_Page' ), null );
		$length = strlen( EventPublisher::encode( $event ) );
		$this->assertLessThanOrEqual( Targeting::MAX_EVENT_BYTES, $length );
		$this->assertGreaterThan( Targeting::MAX_EVENT_BYTES - 20, $length, 'cut no more than needed' );
		$this->assertSame( 1000000, $event['audience']['users'][0] );
		$this->assertStringContainsString( 'cut from 3000 to', $this->logger->messages( 'warning' )[0] );
	}

	public function testALoweredGatewayLimitIsHonoured() {
		// An operator who runs the gateway with --max-event-bytes 1024 sets the same here:
		// the event is fitted (watchers first, then the summary) instead of silently dropped.
		$this->watchers->watchers['0:Main_Page'] = range( 1000000, 1000199 );
		$event = self::event();
		$event['summary'] = str_repeat( 'ü', 800 );
		$event = $this->targeting( [], true, 1000, 1024 )->withAudience( $event, new TitleValue( 0, 'Main_Page' ), null );
		$this->assertLessThanOrEqual( 1024, strlen( EventPublisher::encode( $event ) ) );
		$this->assertSame( 1000000, $event['audience']['users'][0], 'the first addressee stays' );
		$this->assertStringEndsWith( '…', $event['summary'] );
		$this->assertGreaterThan( 100, mb_strlen( $event['summary'] ), 'cut no more than needed' );
		$this->assertSame( [], $this->logger->messages( 'error' ) );
	}

	public function testAnEventThatCannotFitIsLoggedAsAnError() {
		$event = self::event();
		$event['page_title'] = str_repeat( 'T', 400 );
		$fitted = $this->targeting( [], true, 1000, 256 )->withAudience( $event, new TitleValue( 0, 'Main_Page' ), null );
		$this->assertSame( '', $fitted['summary'] );
		$this->assertStringContainsString( 'larger than the gateway accepts (256 bytes)', $this->logger->messages( 'error' )[0] );
	}

	public function testBlankingAlert() {
		$alert = $this->alert( 5000, 0 );
		$this->assertSame( 'alert', $alert['type'] );
		$this->assertSame( [ 'blanking' ], $alert['reasons'] );
		$this->assertSame( [ 'public' => false, 'users' => [], 'rights' => [ 'patrol' ] ], $alert['audience'] );
		// Same change fields as the edit event.
		$this->assertSame( [ 'Main Page', 'Bob', 42, 41, -5000 ],
			[ $alert['page_title'], $alert['user_name'], $alert['rev_id'], $alert['old_rev_id'], $alert['size_delta'] ] );
		$this->assertSame( 'http://wiki.test/index.php?title=Main_Page&diff=42&oldid=41', $alert['url'] );
		$this->assertSame( [ 'schema', 'type', 'page_title', 'user_name', 'timestamp' ], array_slice( array_keys( $alert ), 0, 5 ) );
	}

	public function testLargeRemovalAlert() {
		$this->assertSame( [ 'large_removal' ], $this->alert( 10000, 7000 )['reasons'] );
		$this->assertSame( [ 'large_removal' ], $this->alert( 1000, 400 )['reasons'] );
	}

	public function testThresholdsComeFromTheRules() {
		$this->assertNull( $this->alert( 10000, 7000, 'Bob', [ 'removalBytes' => 5000, 'removalFraction' => 0 ] ) );
		$this->assertSame( [ 'large_removal' ], $this->alert( 10000, 9900, 'Bob', [ 'removalBytes' => 100 ] )['reasons'] );
		$this->assertSame( [ 'rollback' ], $this->alert( 5000, 0, 'Bob', [ 'right' => 'rollback' ] )['audience']['rights'] );
	}

	public function testNoAlertForNormalEdits() {
		$this->assertNull( $this->alert( 5000, 5100 ) );
		$this->assertNull( $this->alert( 5000, 4000 ), 'a 1000-byte cut of a 5000-byte page' );
		$this->assertSame( 0, $this->watchers->counted, 'an established user: watchers not even counted' );
	}

	public function testNoRemovalAlertForReverts() {
		$this->assertNull( $this->alert( 10000, 3000, 'Bob', [], false, true ) );
		$this->assertSame( [ 'blanking' ], $this->alert( 10000, 0, 'Bob', [], false, true )['reasons'] );
	}

	public function testNoAlertForBotsPatrollersOrExemptUsers() {
		$this->assertNull( $this->alert( 5000, 0, 'Bob', [], true ), 'bot edit' );
		$this->assertNull( $this->alert( 5000, 0, 'Patty' ), 'holds the alert right' );
		$this->assertNull( $this->alert( 5000, 0, 'Trusted' ), 'autopatrol' );
		$this->assertSame( [ 'blanking' ], $this->alert( 5000, 0, 'Trusted', [ 'exemptRights' => [ 'bot' ] ] )['reasons'] );
	}

	public function testNoAlertWhenAlertsAreOff() {
		$this->assertNull( $this->alert( 5000, 0, 'Bob', [ 'right' => '' ] ) );
	}

	public function testProtectedPageEditedByNewcomers() {
		$this->protected = true;
		$this->assertSame( [ 'new_user_protected' ], $this->alert( 100, 120, 'Newbie' )['reasons'] );
		$this->assertSame( [ 'anon_protected' ], $this->alert( 100, 120, '192.0.2.1' )['reasons'] );
		$this->assertSame( [ 'anon_protected' ], $this->alert( 100, 120, '~2026-1' )['reasons'], 'temporary account' );
		$this->assertNull( $this->alert( 100, 120, 'Bob' ), 'an established user' );
		$this->assertSame( [ 'blanking', 'new_user_protected' ], $this->alert( 100, 0, 'Newbie' )['reasons'] );
	}

	public function testNewUserThresholdsAreConfigurable() {
		$this->protected = true;
		// Newbie: registered an hour ago, 2 edits.
		$this->assertNull( $this->alert( 100, 120, 'Newbie', [ 'newUserDays' => 0, 'newUserEdits' => 2 ] ) );
		$this->assertNotNull( $this->alert( 100, 120, 'Newbie', [ 'newUserDays' => 0, 'newUserEdits' => 3 ] ) );
		// Bob: 400 days, 900 edits.
		$this->assertNotNull( $this->alert( 100, 120, 'Bob', [ 'newUserDays' => 401 ] ) );
		$this->assertNotNull( $this->alert( 100, 120, 'Bob', [ 'newUserEdits' => 901 ] ) );
	}

	public function testMuchWatchedPageEditedByNewcomers() {
		$this->watchers->watchers['0:Main_Page'] = range( 1, 30 );
		$this->assertSame( [ 'new_user_watched' ], $this->alert( 100, 120, 'Newbie' )['reasons'] );
		$this->assertSame( [ 'anon_watched' ], $this->alert( 100, 120, '192.0.2.1' )['reasons'] );
		$this->assertNull( $this->alert( 100, 120, 'Newbie', [ 'watchersThreshold' => 31 ] ) );
		$this->assertNull( $this->alert( 100, 120, 'Newbie', [ 'watchersThreshold' => 0 ] ) );
		$this->assertNull( $this->alert( 100, 120, 'Bob' ) );
	}

	public function testCreationsRaiseNoRemovalAlerts() {
		$targeting = $this->targeting();
		$rev = $this->revision( 0, 'Newbie' );
		$event = self::event( 'Main Page', 'create' );
		$this->assertNull( $targeting->alertFor( $event, $rev, new UserIdentityValue( 20, 'Newbie' ), null,
			new EditResult( true, false, null, null, null, false, false, [] ), false ) );
	}

	public function testAlertFailureIsLogged() {
		$rev = $this->revision( 0, 'Bob' );
		$this->assertNull( $this->targeting()->alertFor( self::event(), $rev, new UserIdentityValue( 99, 'Ghost' ), 5000,
			$this->editResult(), false ) );
		$this->assertStringContainsString( 'Could not check the edit of "Main Page" for alerts',
			$this->logger->messages( 'error' )[0] );
	}
}
