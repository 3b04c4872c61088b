<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Integration;

use MediaWiki\Extension\RealTimeNotify\Transport\HttpTransport;
use MediaWiki\Extension\RealTimeNotify\Transport\RejectedEvent;
use MediaWiki\MediaWikiServices;
use PHPUnit\Framework\TestCase;
use RuntimeException;

/**
 * HttpTransport with the wiki's real HttpRequestFactory against a real HTTP server.
 *
 * @covers \MediaWiki\Extension\RealTimeNotify\Transport\HttpTransport
 */
class HttpTransportTest extends TestCase {

	private const EVENT = '{"schema":1,"page_title":"Café","user_name":"Bob","timestamp":"2026-11-25T01:02:03Z","summary":"ü"}';

	/** @var IngestServer */
	private static $server;

	public static function setUpBeforeClass(): void {
		self::$server = new IngestServer( self::freePort() );
	}

	public static function tearDownAfterClass(): void {
		self::$server->stop();
	}

	private static function freePort(): int {
		$socket = stream_socket_server( 'tcp://127.0.0.1:0' );
		$name = stream_socket_get_name( $socket, false );
		fclose( $socket );
		return (int)substr( $name, strrpos( $name, ':' ) + 1 );
	}

	private function transport( string $path, string $secret = 'sekret-0123456789', float $timeout = 2.0 ): HttpTransport {
		return new HttpTransport(
			MediaWikiServices::getInstance()->getHttpRequestFactory(),
			self::$server->url( $path ),
			$secret,
			0.5,
			$timeout
		);
	}

	private function lastRequest(): array {
		$requests = self::$server->requests();
		$this->assertNotEmpty( $requests, 'the server got a request' );
		return end( $requests );
	}

	public function testPostsTheEventWithTheBearerSecret() {
		$result = $this->transport( '/status/202' )->send( self::EVENT );
		$this->assertSame( 'POST ' . self::$server->url( '/status/202' ) . ' (HTTP 202)', $result );
		$request = $this->lastRequest();
		$this->assertSame( 'POST', $request['method'] );
		$this->assertSame( self::EVENT, $request['body'], 'the bytes as given' );
		$this->assertSame( 'application/json', $request['headers']['content-type'] );
		$this->assertSame( 'Bearer sekret-0123456789', $request['headers']['authorization'] );
	}

	public function testNoSecretNoAuthorizationHeader() {
		$this->transport( '/status/202', '' )->send( self::EVENT );
		$this->assertArrayNotHasKey( 'authorization', $this->lastRequest()['headers'] );
	}

	public static function provideRefusals(): array {
		return [ 'malformed' => [ 400 ], 'too large' => [ 413 ] ];
	}

	/** @dataProvider provideRefusals */
	public function testAnEventTheGatewayRefusesIsRejectedForGood( int $status ) {
		try {
			$this->transport( "/status/$status" )->send( self::EVENT );
			$this->fail( 'no exception' );
		} catch ( RejectedEvent $e ) {
			$this->assertStringContainsString( "HTTP $status", $e->getMessage() );
			$this->assertStringContainsString( "status $status", $e->getMessage(), 'the body, for the log' );
		}
	}

	public static function provideFailures(): array {
		return [ 'unauthorized' => [ 401 ], 'unavailable' => [ 503 ], 'a redirect is not followed' => [ 302 ] ];
	}

	/** @dataProvider provideFailures */
	public function testOtherFailuresMayBeRetried( int $status ) {
		try {
			$this->transport( "/status/$status" )->send( self::EVENT );
			$this->fail( 'no exception' );
		} catch ( RejectedEvent $e ) {
			$this->fail( "HTTP $status is not a refusal of the event: " . $e->getMessage() );
		} catch ( RuntimeException $e ) {
			$this->assertStringContainsString( "HTTP $status", $e->getMessage() );
		}
		if ( $status === 302 ) {
			$paths = array_column( self::$server->requests(), 'path' );
			$this->assertSame( '/status/302', end( $paths ), 'the Location was not requested' );
		}
	}

	public function testAnUnreachableGatewayFailsFast() {
		$transport = new HttpTransport( MediaWikiServices::getInstance()->getHttpRequestFactory(),
			'http://127.0.0.1:' . self::freePort() . '/v1/events', '', 0.5, 1.0 );
		$start = microtime( true );
		try {
			$transport->send( self::EVENT );
			$this->fail( 'no exception' );
		} catch ( RuntimeException $e ) {
			$this->assertNotInstanceOf( RejectedEvent::class, $e );
			$this->assertStringContainsString( 'failed: HTTP 0', $e->getMessage() );
		}
		$this->assertLessThan( 1.0, microtime( true ) - $start );
	}

	public function testASlowGatewayTimesOut() {
		$start = microtime( true );
		try {
			$this->transport( '/sleep', '', 1.0 )->send( self::EVENT );
			$this->fail( 'no exception' );
		} catch ( RuntimeException $e ) {
			$this->assertNotInstanceOf( RejectedEvent::class, $e );
		}
		$elapsed = microtime( true ) - $start;
		$this->assertGreaterThan( 0.9, $elapsed );
		$this->assertLessThan( 2.5, $elapsed, 'gave up at the timeout, not after the server\'s 3 s' );
	}
}
