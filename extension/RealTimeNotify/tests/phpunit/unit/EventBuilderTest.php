<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Unit;

use CommentStoreComment;
use MediaWiki\Extension\RealTimeNotify\EventBuilder;
use MediaWiki\Extension\RealTimeNotify\EventPublisher;
use MediaWiki\Extension\RealTimeNotify\Uuid;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\FakePageLinker;
use MediaWiki\Page\PageIdentityValue;
use MediaWiki\Revision\MutableRevisionRecord;
use MediaWiki\Revision\RevisionRecord;
use MediaWiki\Storage\EditResult;
use MediaWiki\User\UserIdentityValue;
use PHPUnit\Framework\TestCase;
use TitleValue;

/**
 * @covers \MediaWiki\Extension\RealTimeNotify\EventBuilder
 */
class EventBuilderTest extends TestCase {

	private const UUID = '00000000-0000-4000-8000-000000000001';

	private function builder( int $maxSummary = 500, string $wiki = 'testwiki' ): EventBuilder {
		return new EventBuilder( $wiki, $maxSummary, new FakePageLinker(), static function () {
			return self::UUID;
		} );
	}

	/**
	 * A saved revision as PageSaveComplete receives it.
	 */
	private function revision( array $o = [] ): MutableRevisionRecord {
		$o += [
			'pageId' => 1, 'ns' => 0, 'dbkey' => 'Main_Page', 'id' => 42, 'parent' => 41,
			'size' => 97, 'minor' => false, 'user' => new UserIdentityValue( 8, 'Bob' ),
			'comment' => 'fix typo', 'timestamp' => '20261125010203', 'visibility' => 0,
		];
		$rev = new MutableRevisionRecord( new PageIdentityValue( $o['pageId'], $o['ns'], $o['dbkey'], false ) );
		$rev->setId( $o['id'] );
		if ( $o['parent'] !== null ) {
			$rev->setParentId( $o['parent'] );
		}
		$rev->setSize( $o['size'] );
		$rev->setMinorEdit( $o['minor'] );
		$rev->setUser( $o['user'] );
		$rev->setComment( CommentStoreComment::newUnsavedComment( $o['comment'] ) );
		$rev->setTimestamp( $o['timestamp'] );
		$rev->setVisibility( $o['visibility'] );
		return $rev;
	}

	private function editResult( bool $isNew = false, bool $isNullEdit = false ): EditResult {
		return new EditResult( $isNew, $isNew ? false : 41, null, null, null, false, $isNullEdit, [] );
	}

	public function testEditEventHasEveryFieldOfTheSchema() {
		$event = $this->builder()->newEditEvent(
			$this->revision( [ 'minor' => true ] ), EDIT_UPDATE | EDIT_MINOR, $this->editResult(), 100, false
		);

		// Exact equality: same keys, same values, same types, same order.
		$this->assertSame( [
			'schema' => 1,
			'type' => 'edit',
			'page_title' => 'Main Page',
			'user_name' => 'Bob',
			'timestamp' => '2026-11-25T01:02:03Z',
			'summary' => 'fix typo',
			'wiki' => 'testwiki',
			'namespace' => 0,
			'page_id' => 1,
			'rev_id' => 42,
			'old_rev_id' => 41,
			'bot' => false,
			'minor' => true,
			'size_delta' => -3,
			'url' => 'http://wiki.test/index.php?title=Main_Page&diff=42&oldid=41',
			'uuid' => self::UUID,
		], $event );
	}

	public function testEditEventEncodesAsTheDocumentedJson() {
		$event = $this->builder()->newEditEvent(
			$this->revision( [ 'dbkey' => 'Café/Ünïcode', 'comment' => 'ça va / “ok”' ] ),
			0, $this->editResult(), 90, false
		);
		$json = EventPublisher::encode( $event );
		$this->assertStringStartsWith(
			'{"schema":1,"type":"edit","page_title":"Café/Ünïcode","user_name":"Bob",' .
				'"timestamp":"2026-11-25T01:02:03Z","summary":"ça va / “ok”","wiki":"testwiki",',
			$json
		);
		$this->assertSame( $event, json_decode( $json, true ) );
		$this->assertSame( 7, $event['size_delta'] );
	}

	public function testTimestampIsIso8601Utc() {
		$this->assertSame( '2026-11-25T01:02:03Z', EventBuilder::isoTimestamp( '20261125010203' ) );
		$this->assertSame( '2025-11-25T01:02:03Z', EventBuilder::isoTimestamp( 1764032523 ), 'UNIX seconds' );
		$this->assertMatchesRegularExpression(
			'/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/',
			EventBuilder::isoTimestamp( '2026-02-03 04:05:06' )
		);
	}

	public function testCreationByFlag() {
		$event = $this->builder()->newEditEvent(
			$this->revision( [ 'parent' => null, 'minor' => true, 'size' => 120, 'comment' => 'new' ] ),
			EDIT_NEW | EDIT_MINOR, $this->editResult( true ), null, false
		);
		$this->assertSame( 'create', $event['type'] );
		$this->assertSame( 0, $event['old_rev_id'] );
		$this->assertSame( 120, $event['size_delta'], 'a new page grows by its whole size' );
		$this->assertFalse( $event['minor'], 'a creation is never minor' );
		$this->assertSame( 'http://wiki.test/index.php?title=Main_Page', $event['url'], 'page URL, no diff' );
	}

	public function testCreationWithoutParentEvenWithoutTheFlag() {
		$event = $this->builder()->newEditEvent(
			$this->revision( [ 'parent' => 0 ] ), 0, $this->editResult(), null, false
		);
		$this->assertSame( 'create', $event['type'] );
	}

	public function testNullEditProducesNoEvent() {
		$this->assertNull( $this->builder()->newEditEvent(
			$this->revision(), EDIT_UPDATE, $this->editResult( false, true ), 97, false
		) );
	}

	public function testUnknownParentSizeOmitsSizeDelta() {
		$event = $this->builder()->newEditEvent( $this->revision(), 0, $this->editResult(), null, false );
		$this->assertArrayNotHasKey( 'size_delta', $event );
		$this->assertSame( 'edit', $event['type'] );
	}

	public function testBotFromRightOrFromFlag() {
		$b = $this->builder();
		$this->assertTrue( $b->newEditEvent( $this->revision(), 0, $this->editResult(), 1, true )['bot'] );
		$this->assertTrue( $b->newEditEvent( $this->revision(), EDIT_FORCE_BOT, $this->editResult(), 1, false )['bot'] );
		$this->assertFalse( $b->newEditEvent( $this->revision(), 0, $this->editResult(), 1, false )['bot'] );
	}

	public function testTalkNamespaceTitle() {
		$event = $this->builder()->newEditEvent(
			$this->revision( [ 'ns' => 1, 'dbkey' => 'Main_Page' ] ), 0, $this->editResult(), 1, false
		);
		$this->assertSame( 'Talk:Main Page', $event['page_title'] );
		$this->assertSame( 1, $event['namespace'] );
	}

	public function testAnonymousEditorIsNamedByIp() {
		$event = $this->builder()->newEditEvent(
			$this->revision( [ 'user' => new UserIdentityValue( 0, '192.0.2.7' ) ] ), 0, $this->editResult(), 1, false
		);
		$this->assertSame( '192.0.2.7', $event['user_name'] );
	}

	public function testRevisionDeletedCommentIsNeverPublished() {
		$secret = 'call 555-0100, my address is 1 Secret Street';
		$event = $this->builder()->newEditEvent(
			$this->revision( [ 'comment' => $secret, 'visibility' => RevisionRecord::DELETED_COMMENT ] ),
			0, $this->editResult(), 1, false
		);
		$this->assertSame( '', $event['summary'] );
		$this->assertSame( 'Bob', $event['user_name'], 'only the comment is hidden' );
		$this->assertStringNotContainsString( 'Secret', EventPublisher::encode( $event ) );
	}

	public function testRevisionDeletedUserIsNeverPublished() {
		$event = $this->builder()->newEditEvent(
			$this->revision( [
				'user' => new UserIdentityValue( 9, 'Real Name Of Someone' ),
				'visibility' => RevisionRecord::DELETED_USER | RevisionRecord::DELETED_RESTRICTED,
			] ),
			0, $this->editResult(), 1, false
		);
		$this->assertSame( EventBuilder::HIDDEN_USER, $event['user_name'] );
		$this->assertSame( 'fix typo', $event['summary'] );
		$this->assertStringNotContainsString( 'Real Name', EventPublisher::encode( $event ) );
	}

	public function testSummaryWithinLimitIsUntouched() {
		$b = $this->builder( 10 );
		$this->assertSame( '', $b->trimSummary( '' ) );
		$this->assertSame( '0123456789', $b->trimSummary( '0123456789' ) );
		$this->assertSame( 'ééééééééé€', $b->trimSummary( 'ééééééééé€' ), '10 characters, 21 bytes' );
	}

	public function testLongSummaryIsCutToTheLimitWithEllipsis() {
		$cut = $this->builder( 10 )->trimSummary( str_repeat( 'abcdefghij', 5 ) );
		$this->assertSame( 'abcdefghi…', $cut );
		$this->assertSame( 10, mb_strlen( $cut, 'UTF-8' ) );
	}

	public function testMultibyteSummaryIsCutOnCharacterBoundaries() {
		$b = $this->builder( 5 );
		// 4-byte emoji and 3-byte CJK: a byte-based cut would split a character.
		$cut = $b->trimSummary( '😀😀😀😀😀😀😀' );
		$this->assertSame( '😀😀😀😀…', $cut );
		$this->assertTrue( mb_check_encoding( $cut, 'UTF-8' ) );

		$cut = $b->trimSummary( '日本語のテキストです' );
		$this->assertSame( '日本語の…', $cut );
		$this->assertSame( 5, mb_strlen( $cut, 'UTF-8' ) );
	}

	public function testTrailingSpaceBeforeEllipsisIsDropped() {
		$this->assertSame( 'abc…', $this->builder( 5 )->trimSummary( 'abc  defgh' ) );
	}

	public function testInvalidUtf8IsScrubbed() {
		$out = $this->builder()->trimSummary( "ok \xC3\x28 ok" );
		$this->assertTrue( mb_check_encoding( $out, 'UTF-8' ) );
		$this->assertStringStartsWith( 'ok ', $out );
	}

	public function testSummaryLimitIsClampedToTheSchemaMaximum() {
		$cut = $this->builder( 5000 )->trimSummary( str_repeat( 'x', 3000 ) );
		$this->assertSame( EventBuilder::SUMMARY_HARD_LIMIT, mb_strlen( $cut, 'UTF-8' ) );
		$this->assertSame( '…', mb_substr( $cut, -1, 1, 'UTF-8' ) );
	}

	public function testEditEventSummaryIsTrimmed() {
		$event = $this->builder( 8 )->newEditEvent(
			$this->revision( [ 'comment' => 'a very long edit summary' ] ), 0, $this->editResult(), 1, false
		);
		$this->assertSame( 'a very…', $event['summary'] );
	}

	public function testOverlongWikiIdIsLeftOut() {
		$event = $this->builder( 500, str_repeat( 'w', 65 ) )->newEditEvent(
			$this->revision(), 0, $this->editResult(), 1, false
		);
		$this->assertArrayNotHasKey( 'wiki', $event );
		$this->assertSame( 'Main Page', $event['page_title'] );
	}

	public function testDeleteEvent() {
		$event = $this->builder()->newDeleteEvent(
			new PageIdentityValue( 0, 1, 'Old_Talk', false ),
			new UserIdentityValue( 1, 'Admin' ),
			'spam',
			17,
			'20261125010203',
			false
		);
		$this->assertSame( [
			'schema' => 1,
			'type' => 'delete',
			'page_title' => 'Talk:Old Talk',
			'user_name' => 'Admin',
			'timestamp' => '2026-11-25T01:02:03Z',
			'summary' => 'spam',
			'wiki' => 'testwiki',
			'namespace' => 1,
			'page_id' => 17,
			'bot' => false,
			'url' => 'http://wiki.test/index.php?title=Talk:Old_Talk',
			'uuid' => self::UUID,
		], $event );
	}

	public function testMoveEvent() {
		$nullRev = $this->revision( [ 'id' => 50, 'parent' => 49, 'timestamp' => '20261125020304' ] );
		$event = $this->builder()->newMoveEvent(
			new TitleValue( 0, 'Old_Name' ),
			new TitleValue( 4, 'New_Name' ),
			new UserIdentityValue( 8, 'Bob' ),
			5,
			$nullRev,
			'better name',
			true
		);
		$this->assertSame( 'move', $event['type'] );
		$this->assertSame( 'Old Name', $event['page_title'] );
		$this->assertSame( 'Project:New Name', $event['target_title'] );
		$this->assertSame( 'Bob', $event['user_name'] );
		$this->assertSame( '2026-11-25T02:03:04Z', $event['timestamp'] );
		$this->assertSame( 'better name', $event['summary'] );
		$this->assertSame( 0, $event['namespace'] );
		$this->assertSame( 5, $event['page_id'] );
		$this->assertSame( 50, $event['rev_id'] );
		$this->assertTrue( $event['bot'] );
		$this->assertSame( 'http://wiki.test/index.php?title=Project:New_Name', $event['url'] );
		$this->assertSame( [ 'target_title', 'uuid' ], array_slice( array_keys( $event ), -2 ) );
	}

	public function testUploadEvent() {
		$event = $this->builder()->newUploadEvent(
			new TitleValue( 6, 'Cat.png' ),
			new UserIdentityValue( 7, 'Alice' ),
			'a cat',
			'20261125010203',
			12,
			false
		);
		$this->assertSame( [
			'schema' => 1,
			'type' => 'upload',
			'page_title' => 'File:Cat.png',
			'user_name' => 'Alice',
			'timestamp' => '2026-11-25T01:02:03Z',
			'summary' => 'a cat',
			'wiki' => 'testwiki',
			'namespace' => 6,
			'page_id' => 12,
			'bot' => false,
			'url' => 'http://wiki.test/index.php?title=File:Cat.png',
			'uuid' => self::UUID,
		], $event );
	}

	public function testUploadByHiddenUploader() {
		$event = $this->builder()->newUploadEvent(
			new TitleValue( 6, 'Cat.png' ), null, '', '20261125010203', 0, false
		);
		$this->assertSame( EventBuilder::HIDDEN_USER, $event['user_name'] );
		$this->assertSame( '', $event['summary'] );
		$this->assertArrayNotHasKey( 'page_id', $event, 'unknown page id is left out' );
	}

	public function testEveryEventSatisfiesTheGatewayRules() {
		$b = $this->builder();
		$events = [
			$b->newEditEvent( $this->revision(), 0, $this->editResult(), 1, false ),
			$b->newEditEvent( $this->revision( [ 'parent' => null ] ), EDIT_NEW, $this->editResult( true ), null, false ),
			$b->newDeleteEvent( new TitleValue( 0, 'X' ), new UserIdentityValue( 1, 'A' ), '', 3, '20260101000000', false ),
			$b->newMoveEvent( new TitleValue( 0, 'X' ), new TitleValue( 0, 'Y' ), new UserIdentityValue( 1, 'A' ), 3,
				$this->revision(), '', false ),
			$b->newUploadEvent( new TitleValue( 6, 'X.png' ), new UserIdentityValue( 1, 'A' ), '', '20260101000000', 3, false ),
		];
		$types = [ 'edit', 'create', 'delete', 'move', 'upload', 'alert' ];
		foreach ( $events as $event ) {
			$this->assertSame( 1, $event['schema'] );
			$this->assertContains( $event['type'], $types );
			foreach ( [ 'page_title', 'user_name', 'timestamp', 'summary' ] as $required ) {
				$this->assertIsString( $event[$required], $required );
			}
			$this->assertGreaterThan( 0, strlen( $event['page_title'] ) );
			$this->assertLessThanOrEqual( 512, strlen( $event['page_title'] ) );
			$this->assertGreaterThan( 0, strlen( $event['user_name'] ) );
			$this->assertNotFalse( \DateTime::createFromFormat( \DateTime::RFC3339, $event['timestamp'] ) );
			$this->assertMatchesRegularExpression( '#^https?://#', $event['url'] );
			$this->assertIsBool( $event['bot'] );
			$this->assertIsInt( $event['namespace'] );
			$this->assertLessThan( 16384, strlen( EventPublisher::encode( $event ) ) );
		}
	}

	public function testUserGenderOnlyForRegisteredUsersWhoSetIt() {
		$asked = [];
		$builder = new EventBuilder( 'testwiki', 500, new FakePageLinker(), null, static function ( $user ) use ( &$asked ) {
			$asked[] = $user->getName();
			return [ 'Bob' => 'male', 'Alice' => 'female', 'Carol' => 'unknown' ][$user->getName()] ?? null;
		} );
		$gender = function ( $user, int $visibility = 0 ) use ( $builder ) {
			$event = $builder->newEditEvent( $this->revision( [ 'user' => $user, 'visibility' => $visibility ] ),
				EDIT_UPDATE, $this->editResult(), 100, false );
			return $event['user_gender'] ?? null;
		};
		$this->assertSame( 'male', $gender( new UserIdentityValue( 8, 'Bob' ) ) );
		$this->assertSame( 'female', $gender( new UserIdentityValue( 9, 'Alice' ) ) );
		$this->assertNull( $gender( new UserIdentityValue( 10, 'Carol' ) ), 'unknown is left out' );
		$this->assertNull( $gender( new UserIdentityValue( 0, '192.0.2.7' ) ), 'an IP has none' );
		$this->assertNotContains( '192.0.2.7', $asked, 'and is not even looked up' );
		// A user hidden by revision deletion: neither name nor gender.
		$asked = [];
		$this->assertNull( $gender( new UserIdentityValue( 8, 'Bob' ), RevisionRecord::DELETED_USER ) );
		$this->assertSame( [], $asked );

		$delete = $builder->newDeleteEvent( new TitleValue( 0, 'Gone' ), new UserIdentityValue( 9, 'Alice' ),
			'spam', 5, '20261125010203', false );
		$this->assertSame( 'female', $delete['user_gender'] );
	}

	public function testHandledEvent() {
		$builder = new EventBuilder( 'testwiki', 500, new FakePageLinker(), static function () {
			return '00000000-0000-4000-8000-000000000000';
		} );
		$event = $builder->newHandledEvent( new TitleValue( 0, 'Blank_me' ), new UserIdentityValue( 1, 'Admin' ),
			EventBuilder::HANDLED_REVERTED, 57, 55, 12, '20261125010203' );
		$this->assertSame( [
			'schema' => 1,
			'type' => 'handled',
			'page_title' => 'Blank me',
			'user_name' => 'Admin',
			'timestamp' => '2026-11-25T01:02:03Z',
			'summary' => '',
			'wiki' => 'testwiki',
			'namespace' => 0,
			'page_id' => 12,
			'rev_id' => 57,
			'handled' => 'reverted',
			'first_rev_id' => 55,
			'uuid' => '00000000-0000-4000-8000-000000000000',
		], $event );
		// A range of one revision is just that revision.
		$one = $builder->newHandledEvent( new TitleValue( 0, 'Blank_me' ), new UserIdentityValue( 1, 'Admin' ),
			EventBuilder::HANDLED_PATROLLED, 57, 57, 0, '20261125010203' );
		$this->assertArrayNotHasKey( 'first_rev_id', $one );
		$this->assertArrayNotHasKey( 'page_id', $one );
	}

	public function testEveryEventGetsItsOwnRandomUuid() {
		$b = new EventBuilder( 'testwiki', 500, new FakePageLinker() );
		$uuids = [];
		for ( $i = 0; $i < 50; $i++ ) {
			$event = $b->newDeleteEvent( new TitleValue( 0, 'X' ), new UserIdentityValue( 1, 'A' ), '', 3,
				'20260101000000', false );
			$this->assertMatchesRegularExpression( Uuid::PATTERN, $event['uuid'] );
			// Version 4, RFC 4122 variant.
			$this->assertSame( '4', $event['uuid'][14] );
			$this->assertContains( $event['uuid'][19], [ '8', '9', 'a', 'b' ] );
			$this->assertSame( 'uuid', array_key_last( $event ), 'a new field goes last (decision C)' );
			$uuids[] = $event['uuid'];
		}
		$this->assertCount( 50, array_unique( $uuids ), 'a new uuid for every event' );
	}
}
