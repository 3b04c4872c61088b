<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Unit;

use MediaWiki\Extension\RealTimeNotify\EventBuilder;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\FakePageLinker;
use MediaWiki\User\UserIdentityValue;
use PHPUnit\Framework\TestCase;

/**
 * The events of Echo notifications (issue 17): `notification` and `notification_read`, each
 * addressed to its one user (the gateway refuses them otherwise), with plain text only.
 *
 * @covers \MediaWiki\Extension\RealTimeNotify\EventBuilder
 */
class NotificationEventTest extends TestCase {

	private const UUID = '00000000-0000-4000-8000-000000000002';

	private function builder(): EventBuilder {
		return new EventBuilder( 'testwiki', 500, new FakePageLinker(), static function () {
			return self::UUID;
		}, static function () {
			return 'female';
		} );
	}

	public function testANotificationIsForItsRecipientAlone() {
		$event = $this->builder()->newNotificationEvent(
			3, 'User talk:Alice', 3, new UserIdentityValue( 4, 'Bob' ), '20261125010203',
			"\u{202A}Bob\u{202C} left a message\non your talk page.", 'http://wiki.test/index.php?title=User_talk:Alice&markasread=7',
			'edit-user-talk', 'alert', 7, [ 'alert' => 2, 'message' => 0 ]
		);
		$this->assertSame( [
			'schema' => 1,
			'type' => 'notification',
			'page_title' => 'User talk:Alice',
			'user_name' => 'Bob',
			'timestamp' => '2026-11-25T01:02:03Z',
			'summary' => '',
			'wiki' => 'testwiki',
			'namespace' => 3,
			'url' => 'http://wiki.test/index.php?title=User_talk:Alice&markasread=7',
			'user_gender' => 'female',
			'category' => 'edit-user-talk',
			'section' => 'alert',
			'header' => "\u{202A}Bob\u{202C} left a message on your talk page.",
			'notification_id' => 7,
			'unread_alerts' => 2,
			'unread_notices' => 0,
			'audience' => [ 'public' => false, 'users' => [ 3 ], 'rights' => [] ],
			'uuid' => self::UUID,
		], $event );
	}

	public function testWhatCannotBeSentSafelyIsLeftOutOrMadeSafe() {
		$event = $this->builder()->newNotificationEvent(
			3, 'Special:Notifications', null, null, '20261125010203', str_repeat( 'x', 2000 ),
			'javascript:alert(1)', 'a category', 'elsewhere', 0, [ 'alert' => -1 ]
		);
		$this->assertSame( EventBuilder::SYSTEM_USER, $event['user_name'] );
		$this->assertArrayNotHasKey( 'url', $event );
		$this->assertArrayNotHasKey( 'notification_id', $event );
		$this->assertArrayNotHasKey( 'user_gender', $event );
		$this->assertSame( 'other', $event['category'] );
		$this->assertSame( 'message', $event['section'] );
		$this->assertSame( 500, mb_strlen( $event['header'] ) );
		$this->assertSame( 0, $event['unread_alerts'] );
		$this->assertSame( 0, $event['unread_notices'] );

		// A hidden agent: the name is hidden too.
		$hidden = $this->builder()->newNotificationEvent(
			3, 'User talk:Alice', 3, new UserIdentityValue( 0, '' ), '20261125010203', 'x', null,
			'edit-user-talk', 'alert', 7, []
		);
		$this->assertSame( EventBuilder::HIDDEN_USER, $hidden['user_name'] );
	}

	public function testMarkedReadCarriesTheNewCountsToTheUserOnly() {
		$event = $this->builder()->newNotificationReadEvent(
			new UserIdentityValue( 3, 'Alice' ), 'Special:Notifications', '20261125010203', [ 'alert' => 0, 'message' => 1 ]
		);
		$this->assertSame( 'notification_read', $event['type'] );
		$this->assertSame( 'Alice', $event['user_name'] );
		$this->assertSame( 0, $event['unread_alerts'] );
		$this->assertSame( 1, $event['unread_notices'] );
		$this->assertSame( [ 'public' => false, 'users' => [ 3 ], 'rights' => [] ], $event['audience'] );
	}
}
