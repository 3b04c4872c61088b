<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Unit;

use JobQueueGroup;
use JobQueueMemory;
use MediaWiki\Extension\RealTimeNotify\Retry\PublishJob;
use MediaWiki\Extension\RealTimeNotify\Retry\RetryPolicy;
use MediaWiki\Extension\RealTimeNotify\Retry\RetryQueue;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\FakeTransport;
use MediaWiki\Extension\RealTimeNotify\Tests\Support\RecordingLogger;
use MediaWiki\Extension\RealTimeNotify\Transport\RejectedEvent;
use PHPUnit\Framework\TestCase;
use RuntimeException;

/**
 * Issue 10 item 16: a publish the broker did not take is retried through the job queue until it
 * takes it, or given up when too old.
 *
 * @covers \MediaWiki\Extension\RealTimeNotify\Retry\RetryQueue
 * @covers \MediaWiki\Extension\RealTimeNotify\Retry\PublishJob
 */
class RetryQueueTest extends TestCase {

	private const T0 = 1764032523;
	private const EVENT = '{"schema":1,"type":"edit","page_title":"Main Page","user_name":"Bob",' .
		'"timestamp":"2026-11-25T01:02:03Z","summary":"x","uuid":"00000000-0000-4000-8000-000000000001"}';

	/** @var FakeTransport */
	private $transport;
	/** @var RecordingLogger */
	private $logger;
	/** @var PublishJob[] What was pushed */
	private $pushed;
	/** @var int */
	private $now;
	/** @var bool */
	private $delays;
	/** @var \Throwable|null */
	private $pushFails;

	protected function setUp(): void {
		$this->transport = new FakeTransport();
		$this->logger = new RecordingLogger();
		$this->pushed = [];
		$this->now = self::T0;
		$this->delays = false;
		$this->pushFails = null;
	}

	private function queue( int $delay = 10, int $maxAge = 3600 ): RetryQueue {
		$jobQueue = $this->getMockBuilder( JobQueueMemory::class )->disableOriginalConstructor()
			->onlyMethods( [ 'supportsDelayedJobs' ] )->getMock();
		$jobQueue->method( 'supportsDelayedJobs' )->willReturnCallback( function () {
			return $this->delays;
		} );
		$group = $this->createMock( JobQueueGroup::class );
		$group->method( 'get' )->with( RetryQueue::JOB_TYPE )->willReturn( $jobQueue );
		$group->method( 'push' )->willReturnCallback( function ( $job ) {
			if ( $this->pushFails ) {
				throw $this->pushFails;
			}
			$this->pushed[] = $job;
		} );
		return new RetryQueue( $this->transport, $group, new RetryPolicy( $delay, $maxAge ), $this->logger, function () {
			return $this->now;
		} );
	}

	/**
	 * Runs the job as the job runner would, with the queue given (not the wiki's service).
	 */
	private function runJob( RetryQueue $queue, PublishJob $job ): bool {
		return ( new PublishJob( $job->getParams(), $queue ) )->run();
	}

	public function testAFailedPublishBecomesAJobWithTheSameBytes() {
		$this->assertTrue( $this->queue()->enqueue( self::EVENT, 'PageSaveComplete' ) );
		$this->assertCount( 1, $this->pushed );
		$job = $this->pushed[0];
		$this->assertInstanceOf( PublishJob::class, $job );
		$this->assertSame( RetryQueue::JOB_TYPE, $job->getType() );
		$this->assertSame( self::EVENT, $job->getParams()['event'], 'same JSON, same uuid, on every try' );
		$this->assertSame( self::T0, $job->getParams()['since'] );
		$this->assertNull( $job->getReleaseTimestamp(), 'the database queue cannot delay a job' );
		$this->assertStringContainsString( 'Queued the edit event for "Main Page" (00000000-0000-4000-8000-000000000001) for a retry',
			$this->logger->messages( 'info' )[0] );
	}

	public function testTheJobPublishesOnceTheBrokerIsBack() {
		$queue = $this->queue();
		$queue->enqueue( self::EVENT, 'PageSaveComplete' );
		$this->now += 25;
		$this->assertTrue( $this->runJob( $queue, $this->pushed[0] ) );
		$this->assertSame( [ self::EVENT ], $this->transport->sent );
		$this->assertStringContainsString( 'Published the edit event for "Main Page" (00000000-0000-4000-8000-000000000001) on a retry, 25 s after the change',
			$this->logger->messages( 'info' )[1] );
		$this->assertCount( 1, $this->pushed, 'nothing more queued' );
	}

	public function testOnTheDatabaseQueueAFailingJobFailsSoTheQueueHandsItOutAgain() {
		$queue = $this->queue();
		$queue->enqueue( self::EVENT, 'PageSaveComplete' );
		$this->transport->failWith = new RuntimeException( 'could not connect to Redis' );
		$job = new PublishJob( $this->pushed[0]->getParams(), $queue );
		$this->assertFalse( $job->run(), 'not done: JobRunner leaves it claimed, JobQueueDB recycles it after claimTTL' );
		$this->assertStringContainsString( 'broker did not take the event', $job->getLastError() );
		$this->assertTrue( $job->allowRetries() );
		$this->assertCount( 1, $this->pushed, 'no copy pushed: the same job comes back' );
		$this->assertStringContainsString( 'failed again (0 s after the change): could not connect to Redis',
			$this->logger->messages( 'warning' )[0] );

		// Still down an hour later, then back: the same job delivers it.
		$this->now += 3600;
		$this->assertFalse( $this->runJob( $queue, $this->pushed[0] ) );
		$this->transport->failWith = null;
		$this->assertTrue( $this->runJob( $queue, $this->pushed[0] ) );
		$this->assertSame( [ self::EVENT ], $this->transport->sent );
	}

	public function testAQueueThatDelaysJobsGetsAnExponentialBackoff() {
		$this->delays = true;
		$queue = $this->queue( 10 );
		$queue->enqueue( self::EVENT, 'PageSaveComplete' );
		$this->assertSame( self::T0 + 10, (int)$this->pushed[0]->getReleaseTimestamp() );
		$this->transport->failWith = new RuntimeException( 'down' );
		$expected = [ 20, 40, 80, 160, 300, 300 ];
		foreach ( $expected as $i => $wait ) {
			$this->now = (int)$this->pushed[$i]->getReleaseTimestamp();
			$this->assertTrue( $this->runJob( $queue, $this->pushed[$i] ), 'done: the next try is its own job' );
			$next = $this->pushed[$i + 1];
			$this->assertSame( $this->now + $wait, (int)$next->getReleaseTimestamp() );
			$this->assertSame( $i + 2, $next->getParams()['failures'] );
			$this->assertSame( self::T0, $next->getParams()['since'], 'age counts from the first failure' );
			$this->assertSame( self::EVENT, $next->getParams()['event'] );
		}
		$this->transport->failWith = null;
		$this->now = (int)end( $this->pushed )->getReleaseTimestamp();
		$this->assertTrue( $this->runJob( $queue, end( $this->pushed ) ) );
		$this->assertSame( [ self::EVENT ], $this->transport->sent );
	}

	public function testWhenTheNextTryCannotBeQueuedTheQueueRetriesThisOne() {
		$this->delays = true;
		$queue = $this->queue();
		$queue->enqueue( self::EVENT, 'x' );
		$this->transport->failWith = new RuntimeException( 'down' );
		$this->pushFails = new RuntimeException( 'job queue full' );
		$this->assertFalse( $this->runJob( $queue, $this->pushed[0] ) );
	}

	public function testGivesUpWhenTooOldAndSaysSo() {
		$queue = $this->queue( 10, 3600 );
		$queue->enqueue( self::EVENT, 'PageSaveComplete' );
		$this->transport->failWith = new RuntimeException( 'down' );
		$this->now = self::T0 + 3601;
		$this->assertTrue( $this->runJob( $queue, $this->pushed[0] ), 'done: the queue drops it' );
		$this->assertSame( [], $this->transport->sent, 'not even tried' );
		$this->assertStringContainsString(
			'Gave up publishing the edit event for "Main Page" (00000000-0000-4000-8000-000000000001): the broker did not take it in 3601 s',
			$this->logger->messages( 'error' )[0] );
		$this->assertCount( 1, $this->pushed );
	}

	public function testAnEventTheBrokerRefusedIsNotRetried() {
		$queue = $this->queue();
		$queue->enqueue( self::EVENT, 'x' );
		$this->transport->failWith = new RejectedEvent( 'HTTP 413' );
		$this->assertTrue( $this->runJob( $queue, $this->pushed[0] ) );
		$this->assertStringContainsString( 'was refused, not retrying: HTTP 413', $this->logger->messages( 'error' )[0] );
	}

	public function testAJobWithoutAnEventIsDropped() {
		$this->assertTrue( $this->runJob( $this->queue(), new PublishJob( [ 'since' => self::T0 ] ) ) );
		$this->assertSame( [], $this->transport->sent );
		$this->assertCount( 1, $this->logger->messages( 'error' ) );
	}

	public function testWhenRetriesAreOffNothingIsQueued() {
		$this->assertFalse( $this->queue( 10, 0 )->enqueue( self::EVENT, 'x' ) );
		$this->assertSame( [], $this->pushed );
	}

	public function testAJobQueueFailureLosesTheEventLoudly() {
		$this->pushFails = new RuntimeException( 'database read-only' );
		$this->assertFalse( $this->queue()->enqueue( self::EVENT, 'PageSaveComplete' ) );
		$this->assertStringContainsString( 'Could not queue the PageSaveComplete event for a retry, it is lost: database read-only',
			$this->logger->messages( 'error' )[0] );
	}
}
