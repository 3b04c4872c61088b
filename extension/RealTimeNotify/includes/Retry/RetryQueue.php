<?php

namespace MediaWiki\Extension\RealTimeNotify\Retry;

use JobQueueGroup;
use MediaWiki\Extension\RealTimeNotify\Transport\RejectedEvent;
use MediaWiki\Extension\RealTimeNotify\Transport\Transport;
use Psr\Log\LoggerInterface;
use Throwable;

/**
 * Keeps trying to publish events that the broker did not take (Redis down, the gateway's ingest
 * unreachable), through MediaWiki's job queue, until it takes them or they are too old.
 *
 * enqueue() is called by EventPublisher after a failed publish, in the deferred update after the
 * response: one job per event, nothing done during the save. retry() is the job's work: one try,
 * then either done, given up (too old, or refused for good), or tried again later (RetryPolicy).
 *
 * Each event keeps its JSON, so every try sends the same `uuid`: when a try reached the broker
 * but looked failed (a reply lost to the read timeout, a process killed before the job was marked
 * done, the stream written but pub/sub not), the gateway delivers that uuid only once.
 */
class RetryQueue {

	public const JOB_TYPE = 'realTimeNotifyPublish';

	/** @var Transport */
	private $transport;
	/** @var JobQueueGroup */
	private $jobQueueGroup;
	/** @var RetryPolicy */
	private $policy;
	/** @var LoggerInterface */
	private $logger;
	/** @var callable(): int */
	private $clock;

	/**
	 * @param Transport $transport
	 * @param JobQueueGroup $jobQueueGroup
	 * @param RetryPolicy $policy
	 * @param LoggerInterface $logger
	 * @param callable|null $clock Returns the current UNIX time (tests)
	 */
	public function __construct(
		Transport $transport,
		JobQueueGroup $jobQueueGroup,
		RetryPolicy $policy,
		LoggerInterface $logger,
		?callable $clock = null
	) {
		$this->transport = $transport;
		$this->jobQueueGroup = $jobQueueGroup;
		$this->policy = $policy;
		$this->logger = $logger;
		$this->clock = $clock ?? 'time';
	}

	/**
	 * Queue an event whose publish just failed. Never throws.
	 *
	 * @param string $json The event as it was sent
	 * @param string $what For logs (e.g. the hook name)
	 * @return bool Whether it was queued
	 */
	public function enqueue( string $json, string $what ): bool {
		if ( !$this->policy->isEnabled() ) {
			return false;
		}
		$params = [ 'event' => $json, 'what' => $what, 'since' => $this->now(), 'failures' => 1 ];
		try {
			$this->push( $params, $this->policy->backoff( 1 ) );
		} catch ( Throwable $e ) {
			$this->logger->error( 'Could not queue the {what} event for a retry, it is lost: {message}', [
				'what' => $what,
				'message' => $e->getMessage(),
				'exception' => $e,
			] + self::describe( $json ) );
			return false;
		}
		$this->logger->info( 'Queued the {type} event for "{page_title}" ({uuid}) for a retry', [
			'what' => $what,
		] + self::describe( $json ) );
		return true;
	}

	/**
	 * One more try (PublishJob::run()). Never throws.
	 *
	 * @param array $params The job's params (see PublishJob)
	 * @return bool True when there is nothing more to do (published, given up, or a next try
	 *   queued as a delayed job); false: the job queue should hand this job out again later
	 */
	public function retry( array $params ): bool {
		$json = (string)( $params['event'] ?? '' );
		$what = (string)( $params['what'] ?? '' );
		$since = (int)( $params['since'] ?? 0 );
		// Counted only where each try is a new job (a queue that delays jobs); the database
		// queue hands out the same job again.
		$failures = max( 1, (int)( $params['failures'] ?? 1 ) );
		$now = $this->now();
		$context = [ 'what' => $what, 'age' => $now - $since ] + self::describe( $json );
		if ( $json === '' ) {
			$this->logger->error( 'Dropping a retry job without an event', $context );
			return true;
		}
		if ( $this->policy->isExpired( $since, $now ) ) {
			$this->logger->error(
				'Gave up publishing the {type} event for "{page_title}" ({uuid}): the broker did not take it in {age} s',
				$context
			);
			return true;
		}
		try {
			$result = $this->transport->send( $json );
		} catch ( RejectedEvent $e ) {
			$this->logger->error( 'The {type} event for "{page_title}" ({uuid}) was refused, not retrying: {message}', [
				'message' => $e->getMessage(),
				'exception' => $e,
			] + $context );
			return true;
		} catch ( Throwable $e ) {
			return $this->failed( $params, $failures, $context + [
				'message' => $e->getMessage(),
				'exception' => $e,
			] );
		}
		$this->logger->info(
			'Published the {type} event for "{page_title}" ({uuid}) on a retry, {age} s after the change: {result}',
			[ 'result' => $result ] + $context
		);
		return true;
	}

	/**
	 * @param array $params
	 * @param int $failures Before this one
	 * @param array $context
	 * @return bool As retry()
	 */
	private function failed( array $params, int $failures, array $context ): bool {
		$context['transport'] = $this->transport->getName();
		$this->logger->warning(
			'Retry of the {type} event for "{page_title}" ({uuid}) via {transport} failed again ({age} s after the change): {message}',
			$context
		);
		try {
			if ( $this->jobQueueGroup->get( self::JOB_TYPE )->delayedJobsEnabled() ) {
				$failures++;
				$this->push( [ 'failures' => $failures ] + $params, $this->policy->backoff( $failures ) );
				return true;
			}
		} catch ( Throwable $e ) {
			$this->logger->warning( 'Could not queue the next try, the job queue retries this one: {message}', [
				'message' => $e->getMessage(),
				'exception' => $e,
			] );
		}
		// The database queue: the job stays, and is handed out again after its claim TTL.
		return false;
	}

	/**
	 * @param array $params
	 * @param int $delay Seconds, for queues that can delay a job (others run it when they can)
	 */
	private function push( array $params, int $delay ): void {
		unset( $params['jobReleaseTimestamp'] );
		if ( $this->jobQueueGroup->get( self::JOB_TYPE )->delayedJobsEnabled() ) {
			$params['jobReleaseTimestamp'] = $this->now() + $delay;
		}
		$this->jobQueueGroup->push( new PublishJob( $params ) );
	}

	/**
	 * @return int
	 */
	private function now(): int {
		return (int)( $this->clock )();
	}

	/**
	 * @param string $json
	 * @return array Log context: type, page_title, uuid of the event
	 */
	private static function describe( string $json ): array {
		$event = json_decode( $json, true );
		$event = is_array( $event ) ? $event : [];
		return [
			'type' => is_string( $event['type'] ?? null ) ? $event['type'] : 'edit',
			'page_title' => is_string( $event['page_title'] ?? null ) ? $event['page_title'] : '',
			'uuid' => is_string( $event['uuid'] ?? null ) ? $event['uuid'] : 'no uuid',
		];
	}
}
