<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Unit;

use MediaWiki\Extension\RealTimeNotify\EventBuilder;
use MediaWiki\Extension\RealTimeNotify\EventPublisher;
use MediaWiki\Extension\RealTimeNotify\Hooks\LogHooks;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\FakePageLinker;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\FakeTransport;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\RecordingLogger;
use MediaWiki\Page\PageReferenceValue;
use MediaWiki\Permissions\PermissionManager;
use MediaWiki\User\UserIdentityValue;
use PHPUnit\Framework\TestCase;
use RecentChange;

/**
 * @covers \MediaWiki\Extension\RealTimeNotify\Hooks\LogHooks
 * @covers \MediaWiki\Extension\RealTimeNotify\EventBuilder::newLogEvent
 */
class LogHooksTest extends TestCase {

	/** @var FakeTransport */
	private $transport;
	/** @var callable[] */
	private $deferred = [];

	private function hooks(): LogHooks {
		$this->transport = new FakeTransport();
		$publisher = new EventPublisher( $this->transport, new RecordingLogger(), function ( callable $cb ) {
			$this->deferred[] = $cb;
		} );
		return new LogHooks(
			new EventBuilder( 'testwiki', 500, new FakePageLinker() ),
			$publisher,
			$this->createMock( PermissionManager::class )
		);
	}

	/**
	 * A recent change of a log entry, as RecentChange_save hands it over.
	 *
	 * @param array $attribs Overrides of the attributes of a block of User:Vandal by Admin
	 * @return RecentChange
	 */
	private function logChange( array $attribs = [] ): RecentChange {
		$attribs += [
			'rc_id' => 31, 'rc_type' => 3, 'rc_deleted' => 0, 'rc_log_type' => 'block',
			'rc_log_action' => 'block', 'rc_logid' => 4, 'rc_comment' => 'spam',
			'rc_timestamp' => '20261125010203', 'rc_bot' => 0,
		];
		$rc = $this->createMock( RecentChange::class );
		$rc->method( 'getAttribute' )->willReturnCallback( static function ( $name ) use ( $attribs ) {
			return $attribs[$name] ?? null;
		} );
		$rc->method( 'getPage' )->willReturn( new PageReferenceValue( 2, 'Vandal', PageReferenceValue::LOCAL ) );
		$rc->method( 'getPerformerIdentity' )->willReturn( new UserIdentityValue( 1, 'Admin' ) );
		return $rc;
	}

	private function published(): array {
		foreach ( $this->deferred as $cb ) {
			$cb();
		}
		$this->deferred = [];
		return array_map( static function ( $json ) {
			return json_decode( $json, true );
		}, $this->transport->sent );
	}

	public function testABlockIsPublishedAfterTheResponseAsALogEvent() {
		$hooks = $this->hooks();
		$hooks->onRecentChange_save( $this->logChange() );
		$this->assertSame( [], $this->transport->sent, 'nothing sent during the request' );
		$events = $this->published();
		$this->assertCount( 1, $events );
		$e = $events[0];
		$this->assertSame( 'log', $e['type'] );
		$this->assertSame( [ 'block', 'block', 4, 31 ], [ $e['log_type'], $e['log_action'], $e['log_id'], $e['rc_id'] ] );
		$this->assertSame( 'Admin', $e['user_name'] );
		$this->assertSame( 'spam', $e['summary'] );
		$this->assertSame( '2026-11-25T01:02:03Z', $e['timestamp'] );
		$this->assertSame( 2, $e['namespace'] );
	}

	public function testEachPublishedLogTypeAndNothingElse() {
		$published = [
			[ 'block', 'unblock' ], [ 'protect', 'protect' ], [ 'protect', 'unprotect' ], [ 'rights', 'rights' ],
			[ 'patrol', 'patrol' ], [ 'newusers', 'create' ], [ 'newusers', 'autocreate' ], [ 'delete', 'restore' ],
		];
		$not = [
			// Their own events (ChangeHooks), or not news for readers.
			[ 'delete', 'delete' ], [ 'move', 'move' ], [ 'upload', 'upload' ], [ 'delete', 'revision' ],
			[ 'delete', 'event' ], [ 'suppress', 'block' ], [ 'patrol', 'autopatrol' ], [ 'import', 'upload' ],
		];
		foreach ( $published as [ $type, $action ] ) {
			$hooks = $this->hooks();
			$hooks->onRecentChange_save( $this->logChange( [ 'rc_log_type' => $type, 'rc_log_action' => $action ] ) );
			$this->assertCount( 1, $this->published(), "$type/$action is published" );
		}
		foreach ( $not as [ $type, $action ] ) {
			$hooks = $this->hooks();
			$hooks->onRecentChange_save( $this->logChange( [ 'rc_log_type' => $type, 'rc_log_action' => $action ] ) );
			$this->assertSame( [], $this->published(), "$type/$action is not published" );
		}
	}

	public function testNothingSuppressedOrRevisionDeletedAndNoEdits() {
		foreach ( [ 1, 2, 4, 8, 9, 15 ] as $deleted ) {
			$hooks = $this->hooks();
			$hooks->onRecentChange_save( $this->logChange( [ 'rc_deleted' => $deleted ] ) );
			$this->assertSame( [], $this->published(), "rc_deleted=$deleted is never published" );
		}
		foreach ( [ 0, 1, 6 ] as $rcType ) {
			$hooks = $this->hooks();
			$hooks->onRecentChange_save( $this->logChange( [ 'rc_type' => $rcType ] ) );
			$this->assertSame( [], $this->published(), "rc_type=$rcType is not a log entry" );
		}
	}
}
