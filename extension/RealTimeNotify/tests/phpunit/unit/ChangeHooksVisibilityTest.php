<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Unit;

use MediaWiki\Extension\RealTimeNotify\EventBuilder;
use MediaWiki\Extension\RealTimeNotify\EventPublisher;
use MediaWiki\Extension\RealTimeNotify\Hooks\ChangeHooks;
use MediaWiki\Extension\RealTimeNotify\Targeting\AlertRules;
use MediaWiki\Extension\RealTimeNotify\Targeting\AudienceBuilder;
use MediaWiki\Extension\RealTimeNotify\Targeting\Targeting;
use MediaWiki\Extension\RealTimeNotify\Targeting\Visibility;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\FakePageLinker;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\FakeTransport;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\FakeWatcherLookup;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\FakeWiki;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\RecordingLogger;
use MediaWiki\Page\PageIdentityValue;
use MediaWiki\Permissions\PermissionManager;
use MediaWiki\Permissions\RestrictionStore;
use MediaWiki\Revision\MutableRevisionRecord;
use MediaWiki\Revision\RevisionLookup;
use MediaWiki\User\UserFactory;
use MediaWiki\User\UserIdentityLookup;
use MediaWiki\User\UserIdentityValue;
use PHPUnit\Framework\TestCase;
use TitleValue;

/**
 * The hooks hand Targeting every page an event names.
 *
 * @covers \MediaWiki\Extension\RealTimeNotify\Hooks\ChangeHooks
 */
class ChangeHooksVisibilityTest extends TestCase {

	public function testAMoveIsCheckedAgainstBothTitles() {
		$wiki = new FakeWiki( $this );
		$wiki->readers = [ 7, 9 ];
		$wiki->lockdown = [ NS_PROJECT => [ 9 ] ];
		$watchers = new FakeWatcherLookup( [ '0:A' => [ 7, 9 ] ] );
		$transport = new FakeTransport();
		$deferred = [];
		$publisher = new EventPublisher( $transport, new RecordingLogger(), static function ( callable $cb ) use ( &$deferred ) {
			$deferred[] = $cb;
		} );
		$targeting = new Targeting(
			new AudienceBuilder( $watchers, $this->createMock( UserIdentityLookup::class ), true, 1000 ),
			new AlertRules(), $watchers, $this->createMock( UserFactory::class ),
			$this->createMock( RestrictionStore::class ), new RecordingLogger(), null, Targeting::MAX_EVENT_BYTES,
			new Visibility( $wiki->permissionManager, $wiki->userFactory, null, true )
		);
		$hooks = new ChangeHooks( new EventBuilder( 'testwiki', 500, new FakePageLinker() ), $publisher,
			$this->createMock( RevisionLookup::class ), $this->createMock( PermissionManager::class ), null, $targeting );
		$rev = new MutableRevisionRecord( new PageIdentityValue( 1, NS_PROJECT, 'B', false ) );
		$rev->setId( 43 );
		$rev->setTimestamp( '20261125010203' );

		// From the public main namespace into the locked one.
		$hooks->onPageMoveComplete( new TitleValue( 0, 'A' ), new TitleValue( NS_PROJECT, 'B' ),
			new UserIdentityValue( 8, 'Bob' ), 1, 0, 'hide it', $rev );
		foreach ( $deferred as $cb ) {
			$cb();
		}
		$this->assertCount( 1, $transport->sent );
		$event = json_decode( $transport->sent[0], true );
		$this->assertSame( 'Project:B', $event['target_title'] );
		$this->assertSame( [ 'public' => false, 'users' => [ 9 ], 'rights' => [] ], $event['audience'],
			'not public; only the watcher who may read the new title' );
	}
}
