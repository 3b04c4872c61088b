<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Unit;

use HashConfig;
use MediaWiki\Extension\RealTimeNotify\Alerts\PersistentAlerts;
use MediaWiki\Extension\RealTimeNotify\EventBuilder;
use MediaWiki\Extension\RealTimeNotify\EventPublisher;
use MediaWiki\Extension\RealTimeNotify\Hooks\HandledHooks;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\FakePageLinker;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\FakeTransport;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\RecordingLogger;
use MediaWiki\Page\PageIdentityValue;
use MediaWiki\Revision\MutableRevisionRecord;
use MediaWiki\Storage\EditResult;
use MediaWiki\User\UserIdentityValue;
use PHPUnit\Framework\TestCase;
use RecentChange;
use User;
use WikiPage;

/**
 * @covers \MediaWiki\Extension\RealTimeNotify\Hooks\HandledHooks
 * @covers \MediaWiki\Extension\RealTimeNotify\EventBuilder::newHandledEvent
 */
class HandledHooksTest extends TestCase {

	/** @var FakeTransport */
	private $transport;
	/** @var callable[] */
	private $deferred = [];

	private function hooks( string $alertRight = 'patrol', ?RecentChange $rc = null, ?PersistentAlerts $alerts = null ): HandledHooks {
		$this->transport = new FakeTransport();
		$publisher = new EventPublisher( $this->transport, new RecordingLogger(), function ( callable $cb ) {
			$this->deferred[] = $cb;
		} );
		$builder = new EventBuilder( 'testwiki', 500, new FakePageLinker(), null, static function ( $user ) {
			return $user->getName() === 'Admin' ? 'female' : null;
		} );
		return new HandledHooks( $builder, $publisher, new HashConfig( [ 'RealTimeNotifyAlertRight' => $alertRight ] ),
			$alerts,
			static function ( int $rcid ) use ( $rc ) {
				return $rcid === 31 ? $rc : null;
			}
		);
	}

	/** @return array[] The events published, after the response */
	private function published(): array {
		foreach ( $this->deferred as $cb ) {
			$cb();
		}
		$this->deferred = [];
		$sent = $this->transport->sent;
		$this->transport->sent = [];
		return array_map( static function ( $json ) {
			return json_decode( $json, true );
		}, $sent );
	}

	private function recentChange( int $revId ): RecentChange {
		$rc = $this->createMock( RecentChange::class );
		$rc->method( 'getAttribute' )->willReturnCallback( static function ( $name ) use ( $revId ) {
			return [ 'rc_this_oldid' => $revId, 'rc_cur_id' => 12 ][$name] ?? null;
		} );
		$rc->method( 'getPage' )->willReturn( new PageIdentityValue( 12, 0, 'Blank_me', false ) );
		return $rc;
	}

	private function admin(): User {
		$user = $this->createMock( User::class );
		$user->method( 'getName' )->willReturn( 'Admin' );
		$user->method( 'getId' )->willReturn( 1 );
		$user->method( 'isRegistered' )->willReturn( true );
		$user->method( 'getWikiId' )->willReturn( UserIdentityValue::LOCAL );
		return $user;
	}

	public function testAManualPatrolIsPublishedToPatrollersOnly() {
		$hooks = $this->hooks( 'patrol', $this->recentChange( 57 ) );
		$hooks->onMarkPatrolledComplete( 31, $this->admin(), false, false );
		$events = $this->published();
		$this->assertCount( 1, $events );
		$e = $events[0];
		$this->assertSame( 'handled', $e['type'] );
		$this->assertSame( 'patrolled', $e['handled'] );
		$this->assertSame( 57, $e['rev_id'] );
		$this->assertArrayNotHasKey( 'first_rev_id', $e );
		$this->assertSame( 12, $e['page_id'] );
		$this->assertSame( 'Blank me', $e['page_title'] );
		$this->assertSame( 'Admin', $e['user_name'] );
		$this->assertSame( 'female', $e['user_gender'] );
		$this->assertSame( '', $e['summary'] );
		$this->assertSame( [ 'public' => false, 'users' => [], 'rights' => [ 'patrol' ] ], $e['audience'] );
	}

	public function testAutopatrolUnknownChangesAndAlertsOffPublishNothing() {
		$hooks = $this->hooks( 'patrol', $this->recentChange( 57 ) );
		$hooks->onMarkPatrolledComplete( 31, $this->admin(), false, true );
		$hooks->onMarkPatrolledComplete( 99, $this->admin(), false, false );
		$this->assertSame( [], $this->published() );
		// A log entry's change has no revision.
		$this->hooks( 'patrol', $this->recentChange( 0 ) )->onMarkPatrolledComplete( 31, $this->admin(), false, false );
		$this->assertSame( [], $this->published() );
		$this->hooks( '', $this->recentChange( 57 ) )->onMarkPatrolledComplete( 31, $this->admin(), false, false );
		$this->assertSame( [], $this->published() );
	}

	private function save( HandledHooks $hooks, EditResult $result ): void {
		$rev = new MutableRevisionRecord( new PageIdentityValue( 12, 0, 'Blank_me', false ) );
		$rev->setId( 60 );
		$rev->setTimestamp( '20261125010203' );
		$hooks->onPageSaveComplete( $this->createMock( WikiPage::class ), $this->admin(), 'revert', 0, $rev, $result );
	}

	public function testARevertNamesTheRangeOfRevisionsItReverted() {
		$hooks = $this->hooks();
		// Rollback of revisions 55..57, back to 54.
		$this->save( $hooks, new EditResult( false, 57, EditResult::REVERT_ROLLBACK, 55, 57, true, false, [] ) );
		$events = $this->published();
		$this->assertCount( 1, $events );
		$this->assertSame( 'reverted', $events[0]['handled'] );
		$this->assertSame( 57, $events[0]['rev_id'] );
		$this->assertSame( 55, $events[0]['first_rev_id'] );
		$this->assertSame( '2026-11-25T01:02:03Z', $events[0]['timestamp'] );
		$this->assertSame( [ 'patrol' ], $events[0]['audience']['rights'] );

		// Undo of one revision: no range.
		$this->save( $hooks, new EditResult( false, 59, EditResult::REVERT_UNDO, 59, 59, false, false, [] ) );
		$events = $this->published();
		$this->assertSame( 59, $events[0]['rev_id'] );
		$this->assertArrayNotHasKey( 'first_rev_id', $events[0] );
	}

	public function testPatrolsAndRevertsCloseTheKeptAlertsTheyCover() {
		$alerts = $this->createMock( PersistentAlerts::class );
		$alerts->expects( $this->exactly( 2 ) )->method( 'handled' )->withConsecutive(
			[ 12, 57, 57, 'Admin', 'patrolled' ],
			[ 12, 55, 57, 'Admin', 'reverted' ]
		)->willReturn( 1 );
		$this->hooks( 'patrol', $this->recentChange( 57 ), $alerts )->onMarkPatrolledComplete( 31, $this->admin(), false, false );
		$this->assertCount( 1, $this->published() );
		$this->save( $this->hooks( 'patrol', null, $alerts ),
			new EditResult( false, 57, EditResult::REVERT_ROLLBACK, 55, 57, true, false, [] ) );
		$this->assertCount( 1, $this->published() );
	}

	public function testAnOrdinaryEditIsNoRevert() {
		$hooks = $this->hooks();
		$this->save( $hooks, new EditResult( false, 59, null, null, null, false, false, [] ) );
		$this->assertSame( [], $this->published() );
		$this->save( $this->hooks( '' ), new EditResult( false, 57, EditResult::REVERT_ROLLBACK, 55, 57, true, false, [] ) );
		$this->assertSame( [], $this->published() );
	}
}
