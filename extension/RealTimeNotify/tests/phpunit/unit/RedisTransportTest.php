<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Unit;

use MediaWiki\Extension\RealTimeNotify\Tests\Support\FakeRedis;
use MediaWiki\Extension\RealTimeNotify\Transport\RedisTransport;
use PHPUnit\Framework\TestCase;
use Psr\Log\NullLogger;
use RedisConnectionPool;
use RuntimeException;

/**
 * @covers \MediaWiki\Extension\RealTimeNotify\Transport\RedisTransport
 */
class RedisTransportTest extends TestCase {

	private const JSON = '{"page_title":"P","user_name":"U","timestamp":"2026-11-25T01:02:03Z","summary":""}';

	public function testPublishesToTheChannel() {
		$redis = new FakeRedis();
		$transport = new RedisTransport( static function () use ( $redis ) {
			return $redis;
		}, 'mediawiki:notifications', null );

		$this->assertSame( 'PUBLISH mediawiki:notifications (1 receivers)', $transport->send( self::JSON ) );
		$this->assertSame( [ [ 'publish', [ 'mediawiki:notifications', self::JSON ] ] ], $redis->calls );
	}

	public function testStreamWithApproximateMaxLen() {
		$redis = new FakeRedis();
		$transport = new RedisTransport( static function () use ( $redis ) {
			return $redis;
		}, '', 'mediawiki:events', 10000 );

		$this->assertSame( 'XADD mediawiki:events 1764032523000-0', $transport->send( self::JSON ) );
		$this->assertSame(
			[ [ 'xAdd', [ 'mediawiki:events', '*', [ 'event' => self::JSON ], 10000, true ] ] ],
			$redis->calls,
			'channel "" means no PUBLISH; MAXLEN ~ 10000'
		);
	}

	public function testStreamTrimmedByAgeUsesMinId() {
		$redis = new FakeRedis();
		$transport = new RedisTransport( static function () use ( $redis ) {
			return $redis;
		}, 'ch', 'st', 10000, 3600, static function () {
			return 1764032523.25;
		} );
		$transport->send( self::JSON );
		$this->assertSame( [
			[ 'publish', [ 'ch', self::JSON ] ],
			[ 'rawCommand', [ 'XADD', 'st', 'MINID', '~', '1764028923250', '*', 'event', self::JSON ] ],
		], $redis->calls );
	}

	public function testNoChannelNoStreamDoesNotConnect() {
		$transport = new RedisTransport( function () {
			$this->fail( 'must not connect' );
		}, null, null );
		$this->assertStringContainsString( 'nothing to do', $transport->send( self::JSON ) );
	}

	public function testUnreachableServerThrows() {
		$transport = new RedisTransport( static function () {
			return false;
		}, 'ch', null );
		$this->expectException( RuntimeException::class );
		$this->expectExceptionMessage( 'could not connect to Redis' );
		$transport->send( self::JSON );
	}

	public function testCommandErrorThrowsButStillTriesTheStream() {
		$redis = new FakeRedis();
		$redis->publishResult = false;
		$redis->lastError = 'NOAUTH Authentication required.';
		$transport = new RedisTransport( static function () use ( $redis ) {
			return $redis;
		}, 'ch', 'st', 0 );
		try {
			$transport->send( self::JSON );
			$this->fail( 'expected an exception' );
		} catch ( RuntimeException $e ) {
			$this->assertStringContainsString( 'PUBLISH ch: PUBLISH failed: NOAUTH', $e->getMessage() );
			$this->assertStringContainsString( 'succeeded: XADD st', $e->getMessage() );
		}
		$this->assertSame( [ 'xAdd', [ 'st', '*', [ 'event' => self::JSON ] ] ], $redis->calls[1], 'MAXLEN 0: no trim' );
	}

	/**
	 * Against a real redis-server, through core's RedisConnectionPool as production uses it.
	 */
	public function testRealRedisServer() {
		$server = trim( (string)shell_exec( 'command -v redis-server' ) );
		$cli = trim( (string)shell_exec( 'command -v redis-cli' ) );
		if ( $server === '' || $cli === '' || !extension_loaded( 'redis' ) ) {
			$this->markTestSkipped( 'needs redis-server, redis-cli and the phpredis extension' );
		}
		$port = self::freePort();
		$proc = proc_open(
			[ $server, '--port', (string)$port, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
				// Small stream nodes, so that MAXLEN ~ visibly trims 40 entries.
				'--stream-node-max-entries', '4' ],
			[ [ 'pipe', 'r' ], [ 'file', '/dev/null', 'w' ], [ 'file', '/dev/null', 'w' ] ],
			$pipes
		);
		$subscriber = null;
		try {
			self::waitFor( static function () use ( $cli, $port ) {
				return trim( (string)shell_exec( "$cli -p $port PING 2>/dev/null" ) ) === 'PONG';
			} );
			// A subscriber on a raw socket, to see the PUBLISHed message arrive.
			$subscriber = stream_socket_client( "tcp://127.0.0.1:$port", $errno, $errstr, 2 );
			stream_set_timeout( $subscriber, 3 );
			fwrite( $subscriber, "*2\r\n\$9\r\nSUBSCRIBE\r\n\$23\r\nmediawiki:notifications\r\n" );
			$confirm = '';
			while ( substr_count( $confirm, "\r\n" ) < 6 && ( $chunk = fread( $subscriber, 4096 ) ) ) {
				$confirm .= $chunk;
			}
			$this->assertStringContainsString( 'subscribe', $confirm );

			RedisConnectionPool::destroySingletons();
			$connect = static function () use ( $port ) {
				return RedisConnectionPool::singleton( [
					'connectTimeout' => 0.5, 'readTimeout' => 0.5, 'serializer' => 'none',
				] )->getConnection( "127.0.0.1:$port", new NullLogger() );
			};
			$transport = new RedisTransport( $connect, 'mediawiki:notifications', 'mediawiki:events', 5 );
			for ( $i = 0; $i < 40; $i++ ) {
				$result = $transport->send( self::JSON );
			}
			$this->assertMatchesRegularExpression(
				'/^PUBLISH mediawiki:notifications \(1 receivers\); XADD mediawiki:events \d+-\d+$/', $result
			);

			// The subscriber received the event verbatim: RESP ["message", channel, payload].
			$received = '';
			while ( strpos( $received, self::JSON ) === false && ( $chunk = fread( $subscriber, 65536 ) ) ) {
				$received .= $chunk;
			}
			$this->assertStringContainsString(
				"\$7\r\nmessage\r\n\$23\r\nmediawiki:notifications\r\n\$" . strlen( self::JSON ) . "\r\n" . self::JSON . "\r\n",
				$received
			);

			// The stream holds the event under field "event", trimmed to roughly MAXLEN.
			$redis = new \Redis();
			$redis->connect( '127.0.0.1', $port, 1 );
			$entries = $redis->xRange( 'mediawiki:events', '-', '+' );
			$this->assertNotEmpty( $entries );
			$this->assertSame( [ 'event' => self::JSON ], end( $entries ) );
			$this->assertLessThanOrEqual( 12, $redis->xLen( 'mediawiki:events' ), 'MAXLEN ~ 5 trims' );
			$redis->close();
		} finally {
			if ( $subscriber ) {
				fclose( $subscriber );
			}
			proc_terminate( $proc );
			proc_close( $proc );
			RedisConnectionPool::destroySingletons();
		}

		// Server gone: a clear exception, quickly (connect timeout), no hang.
		$start = microtime( true );
		try {
			$transport->send( self::JSON );
			$this->fail( 'expected an exception' );
		} catch ( \Throwable $e ) {
			$this->assertLessThan( 3.0, microtime( true ) - $start );
		}
	}

	private static function freePort(): int {
		$sock = stream_socket_server( 'tcp://127.0.0.1:0' );
		$name = stream_socket_get_name( $sock, false );
		fclose( $sock );
		return (int)substr( $name, strrpos( $name, ':' ) + 1 );
	}

	private static function waitFor( callable $ready ): void {
		for ( $i = 0; $i < 100; $i++ ) {
			if ( $ready() ) {
				return;
			}
			usleep( 50000 );
		}
		throw new RuntimeException( 'timed out waiting for redis' );
	}
}
