<?php

namespace MediaWiki\Extension\RealTimeNotify\Retry;

use GenericParameterJob;
use Job;
use MediaWiki\MediaWikiServices;

/**
 * One more try at publishing one event whose publish failed (job type `realTimeNotifyPublish`).
 * The work and the policy are RetryQueue's; this class is what the job queue stores and runs.
 *
 * Params: `event` (the event's JSON, with its `uuid`: byte for byte what the first try sent),
 * `what` (for logs), `since` (UNIX time of the first failure), `failures` (tries failed so far).
 *
 * run() returns false while the broker still refuses: on the database queue the job then stays
 * where it is and is handed out again after the claim TTL (see RetryPolicy).
 */
class PublishJob extends Job implements GenericParameterJob {

	/** @var RetryQueue|null */
	private $retryQueue;

	/**
	 * @param array $params
	 * @param RetryQueue|null $retryQueue The service (tests); null: taken from the wiki's
	 *   services when the job runs (MediaWiki 1.39's job factory passes only $params)
	 */
	public function __construct( array $params, ?RetryQueue $retryQueue = null ) {
		parent::__construct( RetryQueue::JOB_TYPE, $params );
		$this->retryQueue = $retryQueue;
	}

	/** @inheritDoc */
	public function run() {
		$queue = $this->retryQueue ?? MediaWikiServices::getInstance()->get( 'RealTimeNotify.RetryQueue' );
		if ( $queue->retry( $this->params ) ) {
			return true;
		}
		$this->setLastError( 'the broker did not take the event; the job queue tries again later' );
		return false;
	}
}
