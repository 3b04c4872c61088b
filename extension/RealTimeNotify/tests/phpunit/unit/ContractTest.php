<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Unit;

use CommentStoreComment;
use MediaWiki\Extension\RealTimeNotify\EventBuilder;
use MediaWiki\Extension\RealTimeNotify\EventPublisher;
use MediaWiki\Extension\RealTimeNotify\Targeting\AlertRules;
use MediaWiki\Extension\RealTimeNotify\Targeting\Targeting;
use MediaWiki\Extension\RealTimeNotify\TokenIssuer;
use MediaWiki\Extension\RealTimeNotify\Transport\RedisTransport;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\FakePageLinker;
use MediaWiki\Page\PageIdentityValue;
use MediaWiki\Revision\MutableRevisionRecord;
use MediaWiki\Storage\EditResult;
use MediaWiki\User\UserIdentityValue;
use PHPUnit\Framework\TestCase;
use TitleValue;

/**
 * The extension against contract/ (repository root): the limits, names and example events that
 * the gateway (cargo test) and the browser module (node tests) check too.
 *
 * The gateway refuses events that break the contract's rules; the extension must never build
 * one. So this test holds a small checker of those rules, proves it right on the contract's own
 * valid and invalid examples, and then runs it on what EventBuilder makes of hostile input.
 *
 * @coversNothing
 */
class ContractTest extends TestCase {

	private static function contract( string $file ): array {
		$path = dirname( __DIR__, 5 ) . '/contract/' . $file;
		$json = file_get_contents( $path );
		if ( $json === false ) {
			self::fail( "cannot read $path" );
		}
		return json_decode( $json, true, 512, JSON_THROW_ON_ERROR );
	}

	private static function extensionJson(): array {
		return json_decode( file_get_contents( dirname( __DIR__, 3 ) . '/extension.json' ), true, 512, JSON_THROW_ON_ERROR );
	}

	/**
	 * The gateway's rules (contract/limits.json), as far as the wiki's events touch them.
	 *
	 * @param mixed $event Decoded JSON
	 * @return string|null Why the gateway would refuse it, or null
	 */
	private static function problem( $event ): ?string {
		$l = self::contract( 'limits.json' )['event'];
		$names = self::contract( 'names.json' );
		if ( !is_array( $event ) || array_is_list( $event ) && $event !== [] ) {
			return 'not an object';
		}
		foreach ( [ 'page_title', 'user_name', 'timestamp', 'summary' ] as $required ) {
			if ( !isset( $event[$required] ) || !is_string( $event[$required] ) ) {
				return "$required missing or not a string";
			}
		}
		if ( ( $event['schema'] ?? $l['schema'] ) !== $l['schema'] ) {
			return 'schema';
		}
		if ( !in_array( $event['type'] ?? 'edit', $names['event_types'], true ) ) {
			return 'type';
		}
		$text = [ 'page_title' => $l['page_title_max_bytes'], 'user_name' => $l['user_name_max_bytes'] ];
		if ( isset( $event['wiki'] ) ) {
			$text['wiki'] = $l['wiki_max_bytes'];
		}
		if ( isset( $event['target_title'] ) ) {
			$text['target_title'] = $l['page_title_max_bytes'];
		}
		foreach ( $text as $field => $max ) {
			$value = $event[$field];
			if ( !is_string( $value ) || $value === '' || strlen( $value ) > $max || preg_match( '/[\p{Cc}]/u', $value ) ) {
				return $field;
			}
		}
		if ( mb_strlen( $event['summary'] ) > $l['summary_max_chars'] ) {
			return 'summary';
		}
		if ( !preg_match( '/^\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$/', $event['timestamp'] )
			|| !checkdate( (int)substr( $event['timestamp'], 5, 2 ), (int)substr( $event['timestamp'], 8, 2 ),
				(int)substr( $event['timestamp'], 0, 4 ) )
		) {
			return 'timestamp';
		}
		if ( isset( $event['url'] ) && ( strlen( $event['url'] ) > $l['url_max_bytes'] || !preg_match( '#^https?://#i', $event['url'] ) ) ) {
			return 'url';
		}
		$reasons = $event['reasons'] ?? [];
		if ( count( $reasons ) > $l['reasons_max'] ) {
			return 'reasons';
		}
		foreach ( $reasons as $r ) {
			if ( !is_string( $r ) || !preg_match( '/' . trim( $l['reason_code_pattern'], '/' ) . '/', $r ) ) {
				return 'reasons';
			}
		}
		foreach ( array_keys( $event ) as $key ) {
			// The gateway refuses a misspelt audience (it would otherwise fail open).
			$norm = strtolower( preg_replace( '/[^A-Za-z0-9]/', '', (string)$key ) );
			if ( $key !== 'audience' && strlen( $norm ) <= 16 && levenshtein( $norm, 'audience' ) <= 2 ) {
				return 'audience';
			}
		}
		// Decision C: one UUID per event (the gateway de-duplicates by it).
		if ( array_key_exists( 'uuid', $event ) && ( !is_string( $event['uuid'] ) ||
			!preg_match( '/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i', $event['uuid'] ) )
		) {
			return 'uuid';
		}
		if ( isset( $event['user_gender'] ) && !in_array( $event['user_gender'], [ 'male', 'female' ], true ) ) {
			return 'user_gender';
		}
		if ( isset( $event['handled'] ) && ( !is_string( $event['handled'] ) ||
			!preg_match( '/' . trim( $l['reason_code_pattern'], '/' ) . '/', $event['handled'] ) )
		) {
			return 'handled';
		}
		if ( isset( $event['section'] ) && !in_array( $event['section'], [ 'alert', 'message' ], true ) ) {
			return 'section';
		}
		if ( isset( $event['category'] ) && !preg_match( '/^[A-Za-z0-9_-]{1,64}$/', (string)$event['category'] ) ) {
			return 'category';
		}
		if ( isset( $event['header'] ) && ( !is_string( $event['header'] ) ||
			mb_strlen( $event['header'] ) > $l['summary_max_chars'] || preg_match( '/[\p{Cc}]/u', $event['header'] ) )
		) {
			return 'header';
		}
		// A notification is its recipient's alone: addressed to users, never public or to a right.
		if ( in_array( $event['type'] ?? 'edit', [ 'notification', 'notification_read' ], true ) ) {
			$a = $event['audience'] ?? null;
			if ( !is_array( $a ) || !empty( $a['public'] ) || empty( $a['users'] ) ||
				!empty( $a['rights'] ) || !empty( $a['visible_to'] )
			) {
				return 'audience';
			}
		}
		if ( array_key_exists( 'audience', $event ) ) {
			$a = $event['audience'];
			if ( !is_array( $a ) || array_diff( array_keys( $a ), [ 'public', 'users', 'rights', 'visible_to' ] ) ) {
				return 'audience';
			}
			foreach ( [ $a['rights'] ?? [], $a['visible_to'] ?? [] ] as $rights ) {
				if ( count( $rights ) > $l['audience_rights_max'] ) {
					return 'audience';
				}
				foreach ( $rights as $right ) {
					if ( !is_string( $right ) || $right === '' || strlen( $right ) > $l['audience_right_max_bytes'] ) {
						return 'audience';
					}
				}
			}
		}
		return null;
	}

	/** @return array[] [ name, decoded ] for each file in contract/events/$kind */
	private static function examples( string $kind ): array {
		$files = glob( dirname( __DIR__, 5 ) . "/contract/events/$kind/*.json" );
		$out = [];
		foreach ( $files as $file ) {
			$out[basename( $file )] = [ json_decode( file_get_contents( $file ), true, 512, JSON_THROW_ON_ERROR ) ];
		}
		return $out;
	}

	public static function provideValid(): array {
		return self::examples( 'valid' );
	}

	public static function provideInvalid(): array {
		return self::examples( 'invalid' );
	}

	/** @dataProvider provideValid */
	public function testTheCheckerAcceptsEachValidExample( $event ) {
		$this->assertNull( self::problem( $event ) );
	}

	/** @dataProvider provideInvalid */
	public function testTheCheckerRefusesEachInvalidExample( $event ) {
		$this->assertNotNull( self::problem( $event ) );
	}

	public function testLimitsAndNamesMatchTheContract() {
		$limits = self::contract( 'limits.json' );
		$names = self::contract( 'names.json' );
		$config = self::extensionJson()['config'];

		$this->assertSame( $limits['event']['schema'], EventBuilder::SCHEMA );
		$this->assertSame( $limits['event']['summary_max_chars'], EventBuilder::SUMMARY_HARD_LIMIT );
		$this->assertSame( $limits['event']['wiki_max_bytes'], EventBuilder::WIKI_MAX_BYTES );
		$this->assertSame( $limits['event']['url_max_bytes'], EventBuilder::URL_MAX_BYTES );
		$this->assertSame( $limits['event']['reasons_max'], AlertRules::MAX_REASONS );
		$this->assertSame( '/' . $limits['event']['reason_code_pattern'] . '/', AlertRules::CODE_PATTERN );
		$this->assertSame( $limits['event']['max_event_bytes_default'], Targeting::MAX_EVENT_BYTES );
		$this->assertSame( $limits['event']['max_event_bytes_default'], $config['RealTimeNotifyMaxEventBytes']['value'] );
		$this->assertSame( $limits['token']['secret_min_length'], TokenIssuer::MIN_SECRET_LENGTH );

		$this->assertSame( $names['token_issuer'], TokenIssuer::ISSUER );
		$this->assertSame( $names['stream_field'], RedisTransport::STREAM_FIELD );
		$this->assertSame( $names['pubsub_channel'], $config['RealTimeNotifyRedisChannel']['value'] );
		$this->assertSame( $names['alert_reasons'], AlertRules::REASONS );
	}

	public function testEveryReasonCodeHasAMessage() {
		$en = json_decode( file_get_contents( dirname( __DIR__, 3 ) . '/i18n/en.json' ), true );
		foreach ( self::contract( 'names.json' )['alert_reasons'] as $code ) {
			$key = 'realtimenotify-alert-reason-' . str_replace( '_', '-', $code );
			$this->assertArrayHasKey( $key, $en, "no message for reason $code" );
		}
	}

	public function testWhatTheBuilderMakesOfHostileInputPassesTheGateway() {
		$builder = new EventBuilder( str_repeat( 'w', 80 ), 1000, new FakePageLinker() );
		$rev = new MutableRevisionRecord( new PageIdentityValue( 1, 0, str_repeat( 'Ť', 255 ), false ) );
		$rev->setId( 42 );
		$rev->setParentId( 41 );
		$rev->setSize( 10 );
		$rev->setMinorEdit( false );
		$rev->setUser( new UserIdentityValue( 8, "Bob\u{202E}" ) );
		$rev->setComment( CommentStoreComment::newUnsavedComment( str_repeat( "<img src=x>\u{1F600}", 400 ) ) );
		$rev->setTimestamp( '20261125010203' );
		$event = $builder->newEditEvent( $rev, 0, new EditResult( false, 41, null, null, null, false, false, [] ), 50, false );
		$decoded = json_decode( EventPublisher::encode( $event ), true );
		$this->assertNull( self::problem( $decoded ), EventPublisher::encode( $event ) );
		$this->assertArrayHasKey( 'uuid', $decoded );
		$this->assertArrayNotHasKey( 'wiki', $decoded, 'a wiki id the gateway would refuse is left out' );

		$move = $builder->newMoveEvent( new TitleValue( 0, 'A' ), new TitleValue( 0, 'B' ), new UserIdentityValue( 8, 'Bob' ),
			7, $rev, "moved\n<b>", false );
		$this->assertNull( self::problem( json_decode( EventPublisher::encode( $move ), true ) ) );
	}
}
