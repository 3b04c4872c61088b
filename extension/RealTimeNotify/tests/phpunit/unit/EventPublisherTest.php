<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Unit;

use MediaWiki\Extension\RealTimeNotify\EventPublisher;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\FakeTransport;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\RecordingLogger;
use PHPUnit\Framework\TestCase;
use RuntimeException;

/**
 * @covers \MediaWiki\Extension\RealTimeNotify\EventPublisher
 */
class EventPublisherTest extends TestCase {

	/** @var callable[] */
	private $deferred = [];
	/** @var FakeTransport */
	private $transport;
	/** @var RecordingLogger */
	private $logger;

	protected function setUp(): void {
		$this->deferred = [];
		$this->transport = new FakeTransport();
		$this->logger = new RecordingLogger();
	}

	private function publisher(): EventPublisher {
		return new EventPublisher( $this->transport, $this->logger, function ( callable $cb ) {
			$this->deferred[] = $cb;
		} );
	}

	private function runDeferred(): void {
		foreach ( $this->deferred as $cb ) {
			$cb();
		}
		$this->deferred = [];
	}

	private static function event(): array {
		return [ 'schema' => 1, 'type' => 'edit', 'page_title' => 'Main Page', 'user_name' => 'Bob',
			'timestamp' => '2026-11-25T01:02:03Z', 'summary' => 'x' ];
	}

	public function testNothingHappensBeforeTheDeferredUpdateRuns() {
		$built = 0;
		$this->publisher()->publish( static function () use ( &$built ) {
			$built++;
			return self::event();
		}, 'test' );
		$this->assertSame( 0, $built, 'not even built during the request' );
		$this->assertSame( [], $this->transport->sent );
		$this->assertCount( 1, $this->deferred );

		$this->runDeferred();
		$this->assertSame( 1, $built );
		$this->assertSame( [ EventPublisher::encode( self::event() ) ], $this->transport->sent );
		$this->assertStringContainsString( 'Published edit event for "Main Page" via fake',
			$this->logger->messages( 'debug' )[0] );
	}

	public function testTransportFailureIsLoggedNotThrown() {
		$this->transport->failWith = new RuntimeException( 'could not connect to Redis' );
		$this->publisher()->publish( static function () {
			return self::event();
		}, 'test' );
		$this->runDeferred();

		$errors = $this->logger->messages( 'error' );
		$this->assertCount( 1, $errors );
		$this->assertStringContainsString( 'Failed to publish edit event for "Main Page"', $errors[0] );
		$this->assertStringContainsString( 'could not connect to Redis', $errors[0] );
		$this->assertStringEndsWith( '(RuntimeException)', $errors[0], 'an outage: an Exception' );
	}

	public function testBuilderErrorsAreCaughtToo() {
		$this->publisher()->publish( static function () {
			throw new \TypeError( 'boom' );
		}, 'test' );
		$this->runDeferred();
		$this->assertStringContainsString( 'boom', $this->logger->messages( 'error' )[0] );
		// The class tells a bug (an Error) from an outage: the e2e tests fail on an Error.
		$this->assertStringEndsWith( '(TypeError)', $this->logger->messages( 'error' )[0] );
		$this->assertSame( [], $this->transport->sent );
	}

	public function testSchedulingErrorsAreCaught() {
		$publisher = new EventPublisher( $this->transport, $this->logger, static function () {
			throw new \LogicException( 'no deferred updates here' );
		} );
		$publisher->publish( static function () {
			return self::event();
		}, 'test' );
		$this->assertStringContainsString( 'Could not schedule test', $this->logger->messages( 'error' )[0] );
		$this->assertStringEndsWith( '(LogicException)', $this->logger->messages( 'error' )[0] );
	}

	public function testNullMeansNothingToPublish() {
		$this->assertFalse( $this->publisher()->publishNow( static function () {
			return null;
		}, 'null edit' ) );
		$this->assertSame( [], $this->transport->sent );
		$this->assertSame( [], $this->logger->messages( 'error' ) );
	}

	public function testEncodeIsCompactUnescapedUtf8() {
		$this->assertSame(
			'{"page_title":"Café/x","url":"http://a/b?c=1&d=2"}',
			EventPublisher::encode( [ 'page_title' => 'Café/x', 'url' => 'http://a/b?c=1&d=2' ] )
		);
	}

	public function testPublishAllSendsEachEventInOrderAfterTheResponse() {
		$second = [ 'type' => 'alert' ] + self::event();
		$this->publisher()->publishAll( static function () use ( $second ) {
			return [ self::event(), null, $second ];
		}, 'test' );
		$this->assertSame( [], $this->transport->sent );
		$this->assertCount( 1, $this->deferred );
		$this->runDeferred();
		$this->assertSame( [ EventPublisher::encode( self::event() ), EventPublisher::encode( $second ) ],
			$this->transport->sent );
	}

	public function testPublishAllKeepsGoingAfterAFailure() {
		$bad = self::event();
		$bad['summary'] = NAN; // json_encode refuses it
		$this->publisher()->publishAll( static function () use ( $bad ) {
			return [ $bad, self::event() ];
		}, 'test' );
		$this->runDeferred();
		$this->assertSame( [ EventPublisher::encode( self::event() ) ], $this->transport->sent );
		$this->assertCount( 1, $this->logger->messages( 'error' ) );
	}

	public function testPublishAllCatchesBuilderErrors() {
		$this->publisher()->publishAll( static function () {
			throw new RuntimeException( 'boom' );
		}, 'test' );
		$this->runDeferred();
		$this->assertSame( [], $this->transport->sent );
		$this->assertStringContainsString( 'Failed to build events for test: boom', $this->logger->messages( 'error' )[0] );
	}
}
