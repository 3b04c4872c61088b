<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Unit;

use MediaWiki\Extension\RealTimeNotify\GatewayStatus;
use PHPUnit\Framework\TestCase;

/**
 * @covers \MediaWiki\Extension\RealTimeNotify\GatewayStatus
 */
class GatewayStatusTest extends TestCase {

	private const NOW = 1764032523;
	private const SECRET = 'a-secret-of-at-least-32-bytes-abc';

	/** @var array[] Requests the fake gateway got: [ url, authorization ] */
	private $requests = [];

	private function status( int $code, string $body, string $secret = self::SECRET, string $url = 'http://gw:8080/v1/status' ): GatewayStatus {
		return new GatewayStatus( $url, $secret, 'testwiki', function ( string $url, string $auth ) use ( $code, $body ) {
			$this->requests[] = [ $url, $auth ];
			return [ $code, $body ];
		}, static function () {
			return self::NOW;
		} );
	}

	private static function claims( string $jwt ): array {
		$parts = explode( '.', $jwt );
		$decode = static function ( string $part ) {
			return base64_decode( strtr( $part, '-_', '+/' ) . str_repeat( '=', ( 4 - strlen( $part ) % 4 ) % 4 ) );
		};
		self::assertTrue( hash_equals( hash_hmac( 'sha256', "$parts[0].$parts[1]", self::SECRET, true ), $decode( $parts[2] ) ) );
		return json_decode( $decode( $parts[1] ), true );
	}

	public static function provideUrls(): array {
		return [
			[ 'ws://127.0.0.1:8080/v1/ws', 'http://127.0.0.1:8080/v1/status' ],
			[ 'wss://wiki.example.org/realtime/v1/ws', 'https://wiki.example.org/realtime/v1/status' ],
			[ 'ws://gw:8080/', 'http://gw:8080/v1/status' ],
			[ 'WSS://gw', 'https://gw/v1/status' ],
			[ 'ftp://not-a-gateway', '' ],
			[ '', '' ],
			// A path on the wiki's host (the proxy in front of both).
			[ '/realtime/v1/ws', 'https://wiki.example.org/realtime/v1/status' ],
			[ '//elsewhere/v1/ws', '' ],
		];
	}

	/**
	 * @dataProvider provideUrls
	 */
	public function testStatusUrlFromTheWebSocketUrl( string $ws, string $expected ) {
		$this->assertSame( $expected, GatewayStatus::urlFromGatewayUrl( $ws, 'https://wiki.example.org' ) );
	}

	public function testAsksWithAShortLivedStatusToken() {
		$result = $this->status( 200, '{"ready":true}' )->fetch( 7 );
		$this->assertTrue( $result['ok'] );
		[ $url, $auth ] = $this->requests[0];
		$this->assertSame( 'http://gw:8080/v1/status', $url );
		$this->assertStringStartsWith( 'Bearer ', $auth );
		$claims = self::claims( substr( $auth, 7 ) );
		$this->assertSame( 'realtimenotify', $claims['iss'] );
		$this->assertSame( 'testwiki/status', $claims['aud'], 'an audience no connection token has' );
		$this->assertSame( '7', $claims['sub'] );
		$this->assertSame( self::NOW + GatewayStatus::TOKEN_TTL, $claims['exp'] );
	}

	public function testEachFailureHasItsCode() {
		$this->assertSame( [ 'ok' => false, 'error' => 'nosecret' ], $this->status( 200, '{}', 'short' )->fetch( 1 ) );
		$this->assertSame( [ 'ok' => false, 'error' => 'nourl' ], $this->status( 200, '{}', self::SECRET, '' )->fetch( 1 ) );
		$this->assertSame( [], $this->requests, 'nothing is asked without a secret or an address' );
		$this->assertSame( 'unreachable', $this->status( 0, '' )->fetch( 1 )['error'] );
		$this->assertSame( 'unauthorized', $this->status( 401, '' )->fetch( 1 )['error'] );
		$this->assertSame( 'http', $this->status( 503, '{}' )->fetch( 1 )['error'] );
		$this->assertSame( 'invalid', $this->status( 200, '<html>' )->fetch( 1 )['error'] );
	}

	public function testOnlyKnownFieldsOfTheirTypesArePassedOn() {
		$report = GatewayStatus::report( [
			'ready' => true,
			'version' => '<b>0.1.0</b>',
			'source' => [ 'kind' => 'redis-stream', 'up' => true ],
			'broker' => [ 'kind' => '<script>', 'up' => 'yes' ],
			'clients' => 3,
			'events_received' => '12',
			'latency_p50_ms' => 1.5,
			'latency_p99_ms' => null,
			'extra' => 'dropped',
			'series' => [ [ 't' => 1, 'clients' => 2, 'received' => 1, 'delivered' => '<i>' ], 'junk' ],
		] );
		$this->assertTrue( $report['ready'] );
		$this->assertSame( '', $report['version'] );
		$this->assertSame( [ 'kind' => 'redis-stream', 'up' => true ], $report['source'] );
		$this->assertSame( [ 'kind' => 'unknown', 'up' => false ], $report['broker'] );
		$this->assertSame( 3.0, $report['clients'] );
		$this->assertNull( $report['events_received'], 'a string is no number' );
		$this->assertSame( 1.5, $report['latency_p50_ms'] );
		$this->assertNull( $report['latency_p99_ms'] );
		$this->assertArrayNotHasKey( 'extra', $report );
		$this->assertSame( [ [ 't' => 1, 'clients' => 2.0, 'received' => 1.0, 'delivered' => 0.0 ] ], $report['series'] );
	}

	public function testTheTestEventIsAddressedToItsSenderAlone() {
		$event = GatewayStatus::testEvent( 'testwiki', 7, 'Admin', 'Special:RealTimeNotifyStatus',
			'9b2f6c1e-4d0a-4c3b-8e7f-0a1b2c3d4e5f', self::NOW );
		$this->assertSame( 'test', $event['type'] );
		$this->assertSame( [ 'public' => false, 'users' => [ 7 ] ], $event['audience'] );
		$this->assertSame( '2025-11-25T01:02:03Z', $event['timestamp'] );
		$this->assertSame( '9b2f6c1e-4d0a-4c3b-8e7f-0a1b2c3d4e5f', $event['uuid'] );
	}
}
