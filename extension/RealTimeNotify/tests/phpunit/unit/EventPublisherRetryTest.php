<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Unit;

use JobQueueGroup;
use JobQueueMemory;
use MediaWiki\Extension\RealTimeNotify\EventPublisher;
use MediaWiki\Extension\RealTimeNotify\Retry\RetryPolicy;
use MediaWiki\Extension\RealTimeNotify\Retry\RetryQueue;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\FakeTransport;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\RecordingLogger;
use MediaWiki\Extension\RealTimeNotify\Transport\RejectedEvent;
use PHPUnit\Framework\TestCase;
use RuntimeException;

/**
 * A publish that fails is handed to the retry queue, after the response like the publish itself.
 *
 * @covers \MediaWiki\Extension\RealTimeNotify\EventPublisher
 */
class EventPublisherRetryTest extends TestCase {

	/** @var FakeTransport */
	private $transport;
	/** @var RecordingLogger */
	private $logger;
	/** @var callable[] */
	private $deferred;
	/** @var \IJobSpecification[] */
	private $jobs;

	protected function setUp(): void {
		$this->transport = new FakeTransport();
		$this->logger = new RecordingLogger();
		$this->deferred = [];
		$this->jobs = [];
	}

	private function publisher(): EventPublisher {
		$group = $this->createMock( JobQueueGroup::class );
		$group->method( 'get' )->willReturn( $this->getMockBuilder( JobQueueMemory::class )
			->disableOriginalConstructor()->onlyMethods( [ 'supportsDelayedJobs' ] )->getMock() );
		$group->method( 'push' )->willReturnCallback( function ( $job ) {
			$this->jobs[] = $job;
		} );
		$retries = new RetryQueue( $this->transport, $group, new RetryPolicy( 10, 3600 ), $this->logger );
		return new EventPublisher( $this->transport, $this->logger, function ( callable $cb ) {
			$this->deferred[] = $cb;
		}, $retries );
	}

	private static function event(): array {
		return [ 'schema' => 1, 'type' => 'edit', 'page_title' => 'Main Page', 'user_name' => 'Bob',
			'timestamp' => '2026-11-25T01:02:03Z', 'summary' => 'x', 'uuid' => '00000000-0000-4000-8000-000000000001' ];
	}

	private function runDeferred(): void {
		foreach ( $this->deferred as $cb ) {
			$cb();
		}
	}

	public function testAFailedPublishIsQueuedAfterTheResponse() {
		$this->transport->failWith = new RuntimeException( 'could not connect to Redis' );
		$this->publisher()->publishAll( static function () {
			return [ self::event(), [ 'type' => 'alert', 'uuid' => '00000000-0000-4000-8000-000000000002' ] + self::event() ];
		}, 'PageSaveComplete' );
		$this->assertSame( [], $this->jobs, 'nothing during the request' );
		$this->runDeferred();
		$this->assertCount( 2, $this->jobs, 'one job per event' );
		$this->assertSame( EventPublisher::encode( self::event() ), $this->jobs[0]->getParams()['event'] );
		$this->assertSame( 'PageSaveComplete', $this->jobs[0]->getParams()['what'] );
		$this->assertStringContainsString( '00000000-0000-4000-8000-000000000002', $this->jobs[1]->getParams()['event'] );
		$this->assertStringContainsString( 'could not connect to Redis', $this->logger->messages( 'error' )[0] );
	}

	public function testADeliveredEventIsNotQueued() {
		$this->publisher()->publish( static function () {
			return self::event();
		}, 'x' );
		$this->runDeferred();
		$this->assertCount( 1, $this->transport->sent );
		$this->assertSame( [], $this->jobs );
	}

	public function testWhatCanNeverBeSentIsNotQueued() {
		$publisher = $this->publisher();
		$publisher->publish( static function () {
			throw new RuntimeException( 'could not build' );
		}, 'x' );
		$bad = self::event();
		$bad['summary'] = NAN;
		$publisher->publish( static function () use ( $bad ) {
			return $bad;
		}, 'x' );
		$this->runDeferred();
		$this->transport->failWith = new RejectedEvent( 'HTTP 400 invalid' );
		$publisher->publishNow( static function () {
			return self::event();
		}, 'x' );
		$this->assertSame( [], $this->jobs, 'unbuildable, unencodable and refused events are only logged' );
		$this->assertCount( 3, $this->logger->messages( 'error' ) );
	}
}
