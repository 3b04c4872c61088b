<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Unit;

use JobQueueDB;
use JobQueueRedis;
use MediaWiki\Extension\RealTimeNotify\Retry\RetryPolicy;
use MediaWiki\Extension\RealTimeNotify\Retry\RetryQueue;
use MediaWiki\Extension\RealTimeNotify\Setup;
use PHPUnit\Framework\TestCase;

/**
 * @covers \MediaWiki\Extension\RealTimeNotify\Retry\RetryPolicy
 * @covers \MediaWiki\Extension\RealTimeNotify\Setup
 */
class RetryPolicyTest extends TestCase {

	public function testGivesUpAfterTheMaximumAge() {
		$policy = new RetryPolicy( 10, 3600 );
		$this->assertFalse( $policy->isExpired( 1000, 1000 ) );
		$this->assertFalse( $policy->isExpired( 1000, 4600 ), 'exactly the maximum age: one last try' );
		$this->assertTrue( $policy->isExpired( 1000, 4601 ) );
		$this->assertTrue( $policy->isEnabled() );
	}

	public function testZeroMaximumAgeTurnsRetriesOff() {
		$this->assertFalse( ( new RetryPolicy( 10, 0 ) )->isEnabled() );
		$this->assertFalse( ( new RetryPolicy( 10, -5 ) )->isEnabled() );
	}

	public function testBoundsAreSane() {
		$policy = new RetryPolicy( 0, 5 );
		$this->assertSame( 1, $policy->getDelay(), 'at least a second' );
		$policy = new RetryPolicy( 60, 30 );
		$this->assertSame( 60, $policy->getMaxAge(), 'at least one delay: there is always a retry' );
	}

	public function testBackoffDoublesUpToTheCap() {
		$policy = new RetryPolicy( 10, 86400 );
		$this->assertSame( [ 10, 20, 40, 80, 160, 300, 300 ],
			array_map( [ $policy, 'backoff' ], [ 1, 2, 3, 4, 5, 6, 7 ] ) );
		$this->assertSame( 300, $policy->backoff( 1000 ), 'no overflow' );
		$this->assertSame( 600, ( new RetryPolicy( 600, 86400 ) )->backoff( 3 ), 'a delay longer than the cap stays' );
	}

	public function testTheDatabaseQueueRetriesAtTheDelayUntilOurAgeLimitEndsIt() {
		$policy = new RetryPolicy( 10, 3600 );
		$conf = $policy->queueConf( [ 'class' => JobQueueDB::class, 'order' => 'random', 'claimTTL' => 3600 ] );
		$this->assertSame( [ 'claimTTL' => 10, 'maxTries' => 362, 'class' => JobQueueDB::class, 'order' => 'fifo' ], $conf );
		// Handed out every 10 s, the job sees its 3600 s limit before the queue's own runs out.
		$this->assertGreaterThan( 3600 / 10, $conf['maxTries'] );
	}

	public function testOtherQueuesKeepTheirOrder() {
		$conf = ( new RetryPolicy( 5, 60 ) )->queueConf( [ 'class' => JobQueueRedis::class, 'redisServer' => 'r:6379' ] );
		$this->assertSame( [ 'claimTTL' => 5, 'maxTries' => 14, 'class' => JobQueueRedis::class, 'redisServer' => 'r:6379' ], $conf );
	}

	public function testRegistrationConfiguresTheRetryQueueUnlessTheWikiDid() {
		$saved = [];
		foreach ( [ 'wgJobTypeConf', 'wgRealTimeNotifyRetryDelay', 'wgRealTimeNotifyRetryMaxAge' ] as $name ) {
			$saved[$name] = $GLOBALS[$name] ?? null;
		}
		try {
			$GLOBALS['wgJobTypeConf'] = [ 'default' => [ 'class' => JobQueueDB::class, 'order' => 'random', 'claimTTL' => 3600 ] ];
			$GLOBALS['wgRealTimeNotifyRetryDelay'] = 2;
			$GLOBALS['wgRealTimeNotifyRetryMaxAge'] = 60;
			Setup::onRegistration();
			$this->assertSame( [ 'claimTTL' => 2, 'maxTries' => 32, 'class' => JobQueueDB::class, 'order' => 'fifo' ],
				$GLOBALS['wgJobTypeConf'][RetryQueue::JOB_TYPE] );
			$this->assertSame( 3600, $GLOBALS['wgJobTypeConf']['default']['claimTTL'], 'other jobs are left alone' );

			$mine = [ 'class' => JobQueueDB::class, 'claimTTL' => 99 ];
			$GLOBALS['wgJobTypeConf'][RetryQueue::JOB_TYPE] = $mine;
			Setup::onRegistration();
			$this->assertSame( $mine, $GLOBALS['wgJobTypeConf'][RetryQueue::JOB_TYPE], 'the wiki\'s own settings win' );
		} finally {
			foreach ( $saved as $name => $value ) {
				$GLOBALS[$name] = $value;
			}
		}
	}
}
