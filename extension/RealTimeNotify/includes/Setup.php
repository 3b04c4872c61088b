<?php

namespace MediaWiki\Extension\RealTimeNotify;

use MediaWiki\Extension\RealTimeNotify\Retry\RetryPolicy;
use MediaWiki\Extension\RealTimeNotify\Retry\RetryQueue;

/**
 * Registration callback (extension.json "callback"), run once the wiki's settings are loaded.
 */
final class Setup {

	/**
	 * Give the retry jobs their queue settings ($wgJobTypeConf['realTimeNotifyPublish']) unless
	 * the wiki set them itself: the wiki's default queue, with claimTTL = $wgRealTimeNotifyRetryDelay
	 * and enough tries to reach $wgRealTimeNotifyRetryMaxAge (RetryPolicy::queueConf()). Without
	 * this, the stock database queue would try a failed publish again only after an hour (the
	 * default claimTTL), and only twice (maxTries 3).
	 */
	public static function onRegistration(): void {
		$conf = $GLOBALS['wgJobTypeConf'] ?? null;
		if ( !is_array( $conf ) || isset( $conf[RetryQueue::JOB_TYPE] ) ) {
			return;
		}
		$policy = new RetryPolicy(
			(int)( $GLOBALS['wgRealTimeNotifyRetryDelay'] ?? 10 ),
			(int)( $GLOBALS['wgRealTimeNotifyRetryMaxAge'] ?? 3600 )
		);
		$GLOBALS['wgJobTypeConf'][RetryQueue::JOB_TYPE] = $policy->queueConf( (array)( $conf['default'] ?? [] ) );
	}
}
