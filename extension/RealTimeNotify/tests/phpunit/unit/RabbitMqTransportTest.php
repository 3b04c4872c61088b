<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Unit;

use JobQueueGroup;
use JobQueueMemory;
use MediaWiki\Extension\RealTimeNotify\EventPublisher;
use MediaWiki\Extension\RealTimeNotify\Retry\RetryPolicy;
use MediaWiki\Extension\RealTimeNotify\Retry\RetryQueue;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\RecordingLogger;
use MediaWiki\Extension\RealTimeNotify\Transport\RabbitMqTransport;
use PHPUnit\Framework\TestCase;
use RuntimeException;

/**
 * The rabbitmq transport against a real, private rabbitmq-server (scripts/rabbitmq-node.sh: its
 * own node name, ports and data; never the machine's broker). Skipped, saying why, without
 * php-amqplib or rabbitmq-server (scripts/install-deps.sh installs both).
 *
 * @covers \MediaWiki\Extension\RealTimeNotify\Transport\RabbitMqTransport
 */
class RabbitMqTransportTest extends TestCase {

	private const EXCHANGE = 'rtn-php-test';
	private const QUEUE = 'rtn-php-test.events';

	/** @var string|null */
	private static $dir = null;
	/** @var string|null */
	private static $url = null;
	/** @var string|null */
	private static $skip = null;

	public static function setUpBeforeClass(): void {
		if ( !RabbitMqTransport::isAvailable() ) {
			self::$skip = 'php-amqplib is not installed (apt-get install php-amqplib; scripts/install-deps.sh does)';
			return;
		}
		if ( !is_executable( '/usr/lib/rabbitmq/bin/rabbitmq-server' ) ) {
			self::$skip = 'rabbitmq-server is not installed (scripts/install-deps.sh installs it)';
			return;
		}
		self::$dir = sys_get_temp_dir() . '/rtn-rabbitmq-php-' . getmypid();
		$script = dirname( __DIR__, 5 ) . '/scripts/rabbitmq-node.sh';
		$out = [];
		exec( 'bash ' . escapeshellarg( $script ) . ' start ' . escapeshellarg( self::$dir ) .
			' --watch ' . getmypid() . ' 2>&1', $out, $status );
		if ( $status !== 0 ) {
			self::fail( "could not start a private rabbitmq-server:\n" . implode( "\n", $out ) );
		}
		self::$url = trim( (string)end( $out ) );
	}

	public static function tearDownAfterClass(): void {
		if ( self::$dir !== null ) {
			$script = dirname( __DIR__, 5 ) . '/scripts/rabbitmq-node.sh';
			exec( 'bash ' . escapeshellarg( $script ) . ' stop ' . escapeshellarg( self::$dir ) . ' 2>&1' );
			exec( 'rm -rf ' . escapeshellarg( self::$dir ) );
		}
	}

	protected function setUp(): void {
		if ( self::$skip !== null ) {
			$this->markTestSkipped( self::$skip );
		}
	}

	/**
	 * What the gateway declares, with a classic queue in place of its stream, so the test can
	 * read back what was published (basic.get does not read streams).
	 *
	 * @param bool $bind Bind the queue (false: nothing takes the exchange's messages)
	 * @return \PhpAmqpLib\Channel\AMQPChannel
	 */
	private static function topology( bool $bind ) {
		$server = RabbitMqTransport::parseUrl( (string)self::$url );
		$conn = new \PhpAmqpLib\Connection\AMQPStreamConnection(
			$server['host'], $server['port'], $server['user'], $server['password'], $server['vhost'] );
		$channel = $conn->channel();
		$channel->exchange_declare( self::EXCHANGE, 'fanout', false, true, false );
		$channel->queue_declare( self::QUEUE, false, true, false, false );
		$channel->queue_purge( self::QUEUE );
		if ( $bind ) {
			$channel->queue_bind( self::QUEUE, self::EXCHANGE );
		} else {
			$channel->queue_unbind( self::QUEUE, self::EXCHANGE );
		}
		return $channel;
	}

	private static function event( int $n ): string {
		return EventPublisher::encode( [ 'schema' => 1, 'type' => 'edit', 'page_title' => "Page $n",
			'user_name' => 'Bob', 'timestamp' => '2026-11-25T01:02:03Z', 'summary' => 'x',
			'uuid' => sprintf( '00000000-0000-4000-8000-%012d', $n ) ] );
	}

	public function testAnEventIsPublishedPersistentAndConfirmed() {
		$channel = self::topology( true );
		$transport = new RabbitMqTransport( (string)self::$url, self::EXCHANGE, 2.0, 2.0 );
		$this->assertSame( 'rabbitmq', $transport->getName() );
		$this->assertSame( 'published to exchange ' . self::EXCHANGE . ' (confirmed)', $transport->send( self::event( 1 ) ) );
		$transport->send( self::event( 2 ) );
		$first = $channel->basic_get( self::QUEUE, true );
		$this->assertNotNull( $first );
		$this->assertSame( self::event( 1 ), $first->getBody() );
		$this->assertSame( 2, $first->get( 'delivery_mode' ), 'persistent' );
		$this->assertSame( '00000000-0000-4000-8000-000000000001', $first->get( 'message_id' ) );
		$this->assertSame( self::event( 2 ), $channel->basic_get( self::QUEUE, true )->getBody() );
	}

	public function testAnUnroutedEventIsAFailureThatTheRetryJobDeliversLater() {
		$channel = self::topology( false );
		$transport = new RabbitMqTransport( (string)self::$url, self::EXCHANGE, 2.0, 2.0 );
		$jobs = [];
		$group = $this->createMock( JobQueueGroup::class );
		$group->method( 'get' )->willReturn( $this->getMockBuilder( JobQueueMemory::class )
			->disableOriginalConstructor()->onlyMethods( [ 'supportsDelayedJobs' ] )->getMock() );
		$group->method( 'push' )->willReturnCallback( static function ( $job ) use ( &$jobs ) {
			$jobs[] = $job;
		} );
		$logger = new RecordingLogger();
		$retries = new RetryQueue( $transport, $group, new RetryPolicy( 10, 3600 ), $logger );
		$deferred = [];
		$publisher = new EventPublisher( $transport, $logger, static function ( callable $cb ) use ( &$deferred ) {
			$deferred[] = $cb;
		}, $retries );

		// No gateway has bound its stream yet: the broker returns the event as unroutable.
		$publisher->publish( static function () {
			return json_decode( self::event( 3 ), true );
		}, 'PageSaveComplete' );
		$this->assertSame( [], $jobs, 'nothing happens during the save' );
		foreach ( $deferred as $cb ) {
			$cb();
		}
		$this->assertCount( 1, $jobs, 'queued for retry, as a failed Redis publish is' );
		$this->assertStringContainsString( 'routed the event to no queue', $logger->messages( 'error' )[0] );
		$this->assertNull( $channel->basic_get( self::QUEUE, true ) );

		// The stream is there now: the job's try goes through, with the same JSON (and uuid).
		$channel->queue_bind( self::QUEUE, self::EXCHANGE );
		$this->assertTrue( $retries->retry( $jobs[0]->getParams() ) );
		$this->assertSame( self::event( 3 ), $channel->basic_get( self::QUEUE, true )->getBody() );
	}

	public function testABrokerThatIsDownFailsFastOncePerRequestAndNeverShowsThePassword() {
		// A port nothing listens on.
		$socket = stream_socket_server( 'tcp://127.0.0.1:0' );
		$port = (int)substr( (string)strrchr( stream_socket_get_name( $socket, false ), ':' ), 1 );
		fclose( $socket );
		$transport = new RabbitMqTransport( "amqp://rtn:hunter2@127.0.0.1:$port/%2f", self::EXCHANGE, 0.5, 0.5 );
		$start = microtime( true );
		try {
			$transport->send( self::event( 4 ) );
			$this->fail( 'a broker that is down is a failure' );
		} catch ( RuntimeException $e ) {
			$this->assertStringContainsString( "could not connect to RabbitMQ at amqp://127.0.0.1:$port/%2F", $e->getMessage() );
			$this->assertStringNotContainsString( 'hunter2', $e->getMessage() );
		}
		try {
			$transport->send( self::event( 5 ) );
			$this->fail( 'still a failure' );
		} catch ( RuntimeException $e ) {
			$this->assertStringContainsString( 'not tried again in this request', $e->getMessage() );
		}
		$this->assertLessThan( 1.5, microtime( true ) - $start, 'one connect timeout at most' );

		// A wrong password: refused, and the message does not quote it.
		$server = RabbitMqTransport::parseUrl( (string)self::$url );
		$wrong = new RabbitMqTransport(
			"amqp://{$server['user']}:hunter2@{$server['host']}:{$server['port']}/%2f", self::EXCHANGE, 2.0, 2.0 );
		try {
			$wrong->send( self::event( 6 ) );
			$this->fail( 'a wrong password is a failure' );
		} catch ( RuntimeException $e ) {
			$this->assertStringNotContainsString( 'hunter2', $e->getMessage() );
		}
	}

	public function testABadUrlNeverThrowsBeforeSendAndSendSaysWhy() {
		$transport = new RabbitMqTransport( 'redis://user:hunter2@host', self::EXCHANGE, 0.5, 0.5 );
		$this->expectException( RuntimeException::class );
		$this->expectExceptionMessage( 'not an amqp:// or amqps:// URL' );
		$transport->send( self::event( 7 ) );
	}

	public function testUrlsFollowRabbitMqsUriSpec() {
		$this->assertSame(
			[ 'scheme' => 'amqps', 'host' => 'mq.example', 'port' => 5671, 'user' => 'wiki', 'password' => 'p@ss',
				'vhost' => '/' ],
			RabbitMqTransport::parseUrl( 'amqps://wiki:p%40ss@mq.example/%2f' )
		);
		$this->assertSame( 'prod', RabbitMqTransport::parseUrl( 'amqp://h:5673/prod' )['vhost'] );
		$this->assertSame( '/', RabbitMqTransport::parseUrl( 'amqp://h' )['vhost'] );
		$this->assertSame( 5673, RabbitMqTransport::parseUrl( 'amqp://h:5673/prod' )['port'] );
	}
}
