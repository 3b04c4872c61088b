<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Unit;

use CommentStoreComment;
use MediaWiki\Extension\RealTimeNotify\EventBuilder;
use MediaWiki\Extension\RealTimeNotify\EventPublisher;
use MediaWiki\Extension\RealTimeNotify\Hooks\ChangeHooks;
use MediaWiki\Extension\RealTimeNotify\Targeting\AlertRules;
use MediaWiki\Extension\RealTimeNotify\Targeting\AudienceBuilder;
use MediaWiki\Extension\RealTimeNotify\Targeting\Targeting;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\FakePageLinker;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\FakeTransport;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\FakeWatcherLookup;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\RecordingLogger;
use MediaWiki\Page\PageIdentityValue;
use MediaWiki\Permissions\PermissionManager;
use MediaWiki\Permissions\RestrictionStore;
use MediaWiki\Revision\MutableRevisionRecord;
use MediaWiki\Revision\RevisionLookup;
use MediaWiki\Storage\EditResult;
use MediaWiki\User\UserFactory;
use MediaWiki\User\UserIdentityLookup;
use MediaWiki\User\UserIdentityValue;
use PHPUnit\Framework\TestCase;
use TitleValue;
use User;

/**
 * @covers \MediaWiki\Extension\RealTimeNotify\Hooks\ChangeHooks
 */
class ChangeHooksTest extends TestCase {

	/** @var FakeTransport */
	private $transport;
	/** @var callable[] */
	private $deferred;

	/** @var RecordingLogger */
	private $logger;

	/**
	 * Targeting with Alice (7) and Bob (8) watching Main_Page, Bob an established plain user.
	 */
	private function targeting( ?FakeWatcherLookup $watchers = null ): Targeting {
		$watchers = $watchers ?? new FakeWatcherLookup( [ '0:Main_Page' => [ 7, 8 ], '0:A' => [ 7 ] ] );
		$bob = $this->createMock( User::class );
		$bob->method( 'isRegistered' )->willReturn( true );
		$bob->method( 'isAllowed' )->willReturn( false );
		$bob->method( 'getRegistration' )->willReturn( '20200101000000' );
		$bob->method( 'getEditCount' )->willReturn( 900 );
		$factory = $this->createMock( UserFactory::class );
		$factory->method( 'newFromUserIdentity' )->willReturn( $bob );
		$this->logger = new RecordingLogger();
		return new Targeting(
			new AudienceBuilder( $watchers, $this->createMock( UserIdentityLookup::class ), true, 1000 ),
			new AlertRules(),
			$watchers,
			$factory,
			$this->createMock( RestrictionStore::class ),
			$this->logger
		);
	}

	private function hooks( bool $userIsBot = false, ?Targeting $targeting = null ): ChangeHooks {
		$this->transport = new FakeTransport();
		$this->deferred = [];
		$publisher = new EventPublisher( $this->transport, new RecordingLogger(), function ( callable $cb ) {
			$this->deferred[] = $cb;
		} );
		$parent = new MutableRevisionRecord( new PageIdentityValue( 1, 0, 'Main_Page', false ) );
		$parent->setSize( 100 );
		$lookup = $this->createMock( RevisionLookup::class );
		$lookup->method( 'getRevisionById' )->with( 41 )->willReturn( $parent );
		$permissions = $this->createMock( PermissionManager::class );
		$permissions->method( 'userHasRight' )->willReturnCallback(
			static function ( $user, $right ) use ( $userIsBot ) {
				return $right === 'bot' && $userIsBot;
			}
		);
		return new ChangeHooks(
			new EventBuilder( 'testwiki', 500, new FakePageLinker() ),
			$publisher,
			$lookup,
			$permissions,
			null,
			$targeting
		);
	}

	private function revision(): MutableRevisionRecord {
		$rev = new MutableRevisionRecord( new PageIdentityValue( 1, 0, 'Main_Page', false ) );
		$rev->setId( 42 );
		$rev->setParentId( 41 );
		$rev->setSize( 110 );
		$rev->setUser( new UserIdentityValue( 8, 'Bob' ) );
		$rev->setComment( CommentStoreComment::newUnsavedComment( 'more' ) );
		$rev->setTimestamp( '20261125010203' );
		return $rev;
	}

	private function save( ChangeHooks $hooks, int $flags, bool $nullEdit = false, int $size = 110 ): void {
		$editResult = new EditResult( false, 41, null, null, null, false, $nullEdit, [] );
		$wikiPage = null;
		$rev = $this->revision();
		$rev->setSize( $size );
		$hooks->onPageSaveComplete( $wikiPage, new UserIdentityValue( 8, 'Bob' ), 'more', $flags,
			$rev, $editResult );
	}

	private function runDeferred(): array {
		foreach ( $this->deferred as $cb ) {
			$cb();
		}
		return array_map( static function ( $json ) {
			return json_decode( $json, true );
		}, $this->transport->sent );
	}

	public function testEditIsPublishedAfterTheResponse() {
		$hooks = $this->hooks();
		$this->save( $hooks, EDIT_UPDATE );
		$this->assertSame( [], $this->transport->sent, 'nothing sent during the request' );

		$events = $this->runDeferred();
		$this->assertCount( 1, $events );
		$this->assertSame( 'edit', $events[0]['type'] );
		$this->assertSame( 10, $events[0]['size_delta'], 'parent size looked up: 110 - 100' );
		$this->assertFalse( $events[0]['bot'] );
	}

	public function testBotRightMarksTheEvent() {
		$hooks = $this->hooks( true );
		$this->save( $hooks, EDIT_UPDATE );
		$this->assertTrue( $this->runDeferred()[0]['bot'] );
	}

	public function testNullEditSchedulesNothing() {
		$hooks = $this->hooks();
		$this->save( $hooks, EDIT_UPDATE, true );
		$this->assertSame( [], $this->deferred );
	}

	public function testEditsHiddenFromRecentChangesAreNotPublished() {
		$hooks = $this->hooks();
		$this->save( $hooks, EDIT_NEW | EDIT_SUPPRESS_RC );
		$this->assertSame( [], $this->deferred );
	}

	public function testMove() {
		$hooks = $this->hooks();
		$hooks->onPageMoveComplete( new TitleValue( 0, 'A' ), new TitleValue( 0, 'B' ),
			new UserIdentityValue( 8, 'Bob' ), 1, 2, 'why', $this->revision() );
		$event = $this->runDeferred()[0];
		$this->assertSame( [ 'move', 'A', 'B', 'why' ],
			[ $event['type'], $event['page_title'], $event['target_title'], $event['summary'] ] );
	}

	public function testEditEventIsAddressedToWatchersButThePerformer() {
		$hooks = $this->hooks( false, $this->targeting() );
		$this->save( $hooks, EDIT_UPDATE );
		$this->assertSame( [], $this->transport->sent, 'nothing computed or sent during the request' );
		$events = $this->runDeferred();
		$this->assertCount( 1, $events, 'a normal edit raises no alert' );
		$this->assertSame( [ 'public' => true, 'users' => [ 7 ], 'rights' => [] ], $events[0]['audience'] );
	}

	public function testBlankingPublishesTheEditAndThenAnAlert() {
		$hooks = $this->hooks( false, $this->targeting() );
		$this->save( $hooks, EDIT_UPDATE, false, 0 );
		$this->assertCount( 1, $this->deferred, 'one deferred update for both' );
		$events = $this->runDeferred();
		$this->assertSame( [ 'edit', 'alert' ], array_column( $events, 'type' ) );
		$this->assertSame( -100, $events[1]['size_delta'] );
		$this->assertSame( [ 'blanking' ], $events[1]['reasons'] );
		$this->assertSame( [ 'public' => false, 'users' => [], 'rights' => [ 'patrol' ] ], $events[1]['audience'] );
		$this->assertArrayNotHasKey( 'reasons', $events[0] );
	}

	public function testBotsRaiseNoAlert() {
		$hooks = $this->hooks( true, $this->targeting() );
		$this->save( $hooks, EDIT_UPDATE, false, 0 );
		$this->assertSame( [ 'edit' ], array_column( $this->runDeferred(), 'type' ) );
	}

	public function testTargetingFailureStillPublishesTheChange() {
		$watchers = new FakeWatcherLookup();
		$watchers->failWith = new \RuntimeException( 'replica gone' );
		$hooks = $this->hooks( false, $this->targeting( $watchers ) );
		$this->save( $hooks, EDIT_UPDATE );
		$events = $this->runDeferred();
		$this->assertCount( 1, $events );
		$this->assertArrayNotHasKey( 'audience', $events[0] );
		$this->assertCount( 1, $this->logger->messages( 'error' ) );
	}

	public function testMoveIsAddressedToTheOldTitlesWatchers() {
		$hooks = $this->hooks( false, $this->targeting() );
		$hooks->onPageMoveComplete( new TitleValue( 0, 'A' ), new TitleValue( 0, 'B' ),
			new UserIdentityValue( 8, 'Bob' ), 1, 2, 'why', $this->revision() );
		$this->assertSame( [ 7 ], $this->runDeferred()[0]['audience']['users'] );
	}
}
