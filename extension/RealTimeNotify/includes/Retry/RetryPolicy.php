<?php

namespace MediaWiki\Extension\RealTimeNotify\Retry;

/**
 * When a failed publish is tried again, and when it is given up (pure: no services).
 *
 * MediaWiki's job queues retry differently, and this policy serves both kinds:
 *  - a queue that can delay a job (JobQueueRedis, EventBus's) gets a new job per try, released
 *    after backoff(): exponential from the retry delay, capped at MAX_BACKOFF;
 *  - the stock database queue (JobQueueDB, MediaWiki 1.39 to 1.43) cannot delay a job
 *    ("delays are not supported"), but keeps a job that fails and hands it out again once its
 *    claim has expired (claimTTL), at most maxTries times. queueConf() makes that our backoff:
 *    claimTTL = the retry delay, and enough tries to reach the maximum age.
 * Either way a publish is given up once it is older than the maximum age (isExpired()), so an
 * unreachable broker cannot grow the queue for ever: at most (changes per second x max age) jobs.
 */
class RetryPolicy {

	/** Longest wait between two tries on a queue that delays jobs, in seconds. */
	public const MAX_BACKOFF = 300;

	/** @var int */
	private $delay;
	/** @var int */
	private $maxAge;

	/**
	 * @param int $delay Seconds before a failed publish is tried again ($wgRealTimeNotifyRetryDelay),
	 *   at least 1
	 * @param int $maxAge Seconds after which it is given up ($wgRealTimeNotifyRetryMaxAge), at
	 *   least the delay; 0 turns retries off
	 */
	public function __construct( int $delay, int $maxAge ) {
		$this->delay = max( 1, $delay );
		$this->maxAge = $maxAge <= 0 ? 0 : max( $this->delay, $maxAge );
	}

	/**
	 * @param \Config $config
	 * @return self
	 */
	public static function fromConfig( $config ): self {
		return new self(
			(int)$config->get( 'RealTimeNotifyRetryDelay' ),
			(int)$config->get( 'RealTimeNotifyRetryMaxAge' )
		);
	}

	/**
	 * @return bool Whether failed publishes are retried at all
	 */
	public function isEnabled(): bool {
		return $this->maxAge > 0;
	}

	/**
	 * @return int Seconds between two tries on a queue that cannot delay jobs (its claimTTL)
	 */
	public function getDelay(): int {
		return $this->delay;
	}

	/**
	 * @return int Seconds after the change at which a publish is given up
	 */
	public function getMaxAge(): int {
		return $this->maxAge;
	}

	/**
	 * @param int $since UNIX time the publish first failed
	 * @param int $now
	 * @return bool Too old to try again
	 */
	public function isExpired( int $since, int $now ): bool {
		return $now - $since > $this->maxAge;
	}

	/**
	 * @param int $failures Tries that failed so far (1 after the first)
	 * @return int Seconds to wait before the next try: delay, 2 x delay, 4 x delay, … at most
	 *   MAX_BACKOFF (or the delay, when that is longer)
	 */
	public function backoff( int $failures ): int {
		$cap = max( self::MAX_BACKOFF, $this->delay );
		$exponent = min( 30, max( 0, $failures - 1 ) );
		return (int)min( $cap, $this->delay * ( 2 ** $exponent ) );
	}

	/**
	 * @return int How many times the database queue may hand the job out: more than fit into
	 *   the maximum age, so that it is always our age limit (logged) that ends the retries
	 */
	public function maxTries(): int {
		return intdiv( $this->maxAge, $this->delay ) + 2;
	}

	/**
	 * The $wgJobTypeConf entry for the retry jobs, made from the wiki's default queue: the same
	 * queue, with our claimTTL (the retry delay) and maxTries; oldest first on the database
	 * queue, so that changes held back by an outage arrive in the order they were made.
	 *
	 * @param array $default $wgJobTypeConf['default']
	 * @return array
	 */
	public function queueConf( array $default ): array {
		$conf = [ 'claimTTL' => $this->delay, 'maxTries' => $this->maxTries() ] + $default;
		if ( ( $default['class'] ?? null ) === \JobQueueDB::class ) {
			$conf['order'] = 'fifo';
		}
		return $conf;
	}
}
