<?php
/**
 * Services of the RealTimeNotify extension.
 */

use MediaWiki\Extension\RealTimeNotify\EventBuilder;
use MediaWiki\Extension\RealTimeNotify\EventPublisher;
use MediaWiki\Extension\RealTimeNotify\GatewayStatus;
use MediaWiki\Extension\RealTimeNotify\Retry\RetryPolicy;
use MediaWiki\Extension\RealTimeNotify\Retry\RetryQueue;
use MediaWiki\Extension\RealTimeNotify\Targeting\AlertRules;
use MediaWiki\Extension\RealTimeNotify\Targeting\AudienceBuilder;
use MediaWiki\Extension\RealTimeNotify\Targeting\DbRightHolderLookup;
use MediaWiki\Extension\RealTimeNotify\Targeting\DbWatcherLookup;
use MediaWiki\Extension\RealTimeNotify\Targeting\Targeting;
use MediaWiki\Extension\RealTimeNotify\Targeting\Visibility;
use MediaWiki\Extension\RealTimeNotify\Targeting\WatcherLookup;
use MediaWiki\Extension\RealTimeNotify\TitlePageLinker;
use MediaWiki\Extension\RealTimeNotify\TokenIssuer;
use MediaWiki\Extension\RealTimeNotify\Transport\HttpTransport;
use MediaWiki\Extension\RealTimeNotify\Transport\NullTransport;
use MediaWiki\Extension\RealTimeNotify\Transport\RedisTransport;
use MediaWiki\Extension\RealTimeNotify\Transport\Transport;
use MediaWiki\Extension\RealTimeNotify\WikiId;
use MediaWiki\Logger\LoggerFactory;
use MediaWiki\MediaWikiServices;
use MediaWiki\User\UserIdentity;

/** @phpcs-require-sorted-array */
return [
	'RealTimeNotify.EventBuilder' => static function ( MediaWikiServices $services ): EventBuilder {
		$config = $services->getMainConfig();
		return new EventBuilder(
			WikiId::fromConfig( $config ),
			(int)$config->get( 'RealTimeNotifyMaxSummaryLength' ),
			new TitlePageLinker( $services->getTitleFactory() ),
			null,
			// The performer's {{GENDER}} for the browser's messages (public, like list=users).
			static function ( UserIdentity $user ) use ( $services ): ?string {
				$gender = $services->getUserOptionsLookup()->getOption( $user, 'gender' );
				return is_string( $gender ) ? $gender : null;
			}
		);
	},

	'RealTimeNotify.EventPublisher' => static function ( MediaWikiServices $services ): EventPublisher {
		return new EventPublisher(
			$services->get( 'RealTimeNotify.Transport' ),
			LoggerFactory::getInstance( 'realtimenotify' ),
			static function ( callable $callback ) {
				// After the response: publishing never slows down or fails a save.
				DeferredUpdates::addCallableUpdate( $callback, DeferredUpdates::POSTSEND );
			},
			$services->get( 'RealTimeNotify.RetryQueue' )
		);
	},

	'RealTimeNotify.GatewayStatus' => static function ( MediaWikiServices $services ): GatewayStatus {
		$config = $services->getMainConfig();
		$url = (string)$config->get( 'RealTimeNotifyStatusUrl' );
		if ( $url === '' ) {
			$url = GatewayStatus::urlFromGatewayUrl(
				(string)$config->get( 'RealTimeNotifyGatewayUrl' ),
				(string)$config->get( 'CanonicalServer' )
			);
		}
		$http = $services->getHttpRequestFactory();
		$timeout = (float)$config->get( 'RealTimeNotifyConnectTimeout' ) + (float)$config->get( 'RealTimeNotifyReadTimeout' );
		return new GatewayStatus(
			$url,
			(string)$config->get( 'RealTimeNotifySecret' ),
			WikiId::fromConfig( $config ),
			static function ( string $url, string $authorization ) use ( $http, $timeout ): array {
				$request = $http->create( $url, [
					'method' => 'GET',
					'timeout' => max( 1.0, $timeout ),
					// An internal service: never through $wgHTTPProxy (as HttpTransport).
					'noProxy' => true,
					'followRedirects' => false,
				], __METHOD__ );
				$request->setHeader( 'Authorization', $authorization );
				$request->execute();
				return [ (int)$request->getStatus(), (string)$request->getContent() ];
			}
		);
	},

	'RealTimeNotify.RetryQueue' => static function ( MediaWikiServices $services ): RetryQueue {
		return new RetryQueue(
			$services->get( 'RealTimeNotify.Transport' ),
			$services->getJobQueueGroup(),
			RetryPolicy::fromConfig( $services->getMainConfig() ),
			LoggerFactory::getInstance( 'realtimenotify' )
		);
	},

	'RealTimeNotify.Targeting' => static function ( MediaWikiServices $services ): Targeting {
		$config = $services->getMainConfig();
		$watchers = $services->get( 'RealTimeNotify.WatcherLookup' );
		return new Targeting(
			new AudienceBuilder(
				$watchers,
				$services->getUserIdentityLookup(),
				(bool)$config->get( 'RealTimeNotifyBroadcastChanges' ),
				(int)$config->get( 'RealTimeNotifyMaxWatchers' )
			),
			AlertRules::fromConfig( $config ),
			$watchers,
			$services->getUserFactory(),
			$services->getRestrictionStore(),
			LoggerFactory::getInstance( 'realtimenotify' ),
			null,
			(int)$config->get( 'RealTimeNotifyMaxEventBytes' ),
			$services->get( 'RealTimeNotify.Visibility' ),
			(int)$config->get( 'RealTimeNotifyMaxWatchers' )
		);
	},

	'RealTimeNotify.TokenIssuer' => static function ( MediaWikiServices $services ): TokenIssuer {
		$config = $services->getMainConfig();
		return new TokenIssuer(
			(string)$config->get( 'RealTimeNotifySecret' ),
			WikiId::fromConfig( $config ),
			(int)$config->get( 'RealTimeNotifyTokenTTL' ),
			null,
			// Patrollers' tokens must carry the right their alerts are addressed to.
			[ (string)$config->get( 'RealTimeNotifyAlertRight' ) ]
		);
	},

	'RealTimeNotify.Transport' => static function ( MediaWikiServices $services ): Transport {
		$config = $services->getMainConfig();
		$logger = LoggerFactory::getInstance( 'realtimenotify' );
		$connectTimeout = (float)$config->get( 'RealTimeNotifyConnectTimeout' );
		$readTimeout = (float)$config->get( 'RealTimeNotifyReadTimeout' );
		$transport = $config->get( 'RealTimeNotifyTransport' );

		switch ( $transport ) {
			case 'redis':
				$server = (string)$config->get( 'RealTimeNotifyRedisServer' );
				$password = $config->get( 'RealTimeNotifyRedisPassword' );
				$minIdAge = $config->get( 'RealTimeNotifyStreamMinIdAge' );
				$connect = static function () use ( $server, $password, $connectTimeout, $readTimeout, $logger ) {
					// Core's pool: short timeouts, AUTH, and a server that just failed is
					// skipped for a while instead of timing out again.
					$pool = RedisConnectionPool::singleton( [
						'connectTimeout' => $connectTimeout,
						'readTimeout' => $readTimeout,
						'password' => ( $password === null || $password === '' ) ? null : (string)$password,
						'persistent' => false,
						'serializer' => 'none',
					] );
					return $pool->getConnection( $server, $logger );
				};
				return new RedisTransport(
					$connect,
					$config->get( 'RealTimeNotifyRedisChannel' ),
					$config->get( 'RealTimeNotifyRedisStream' ),
					(int)$config->get( 'RealTimeNotifyStreamMaxLen' ),
					$minIdAge === null ? null : (int)$minIdAge
				);

			case 'http':
				return new HttpTransport(
					$services->getHttpRequestFactory(),
					(string)$config->get( 'RealTimeNotifyIngestUrl' ),
					(string)$config->get( 'RealTimeNotifyIngestSecret' ),
					$connectTimeout,
					$connectTimeout + $readTimeout
				);

			case 'none':
				return new NullTransport();

			default:
				$logger->warning(
					'Unknown $wgRealTimeNotifyTransport "{transport}"; publishing nothing',
					[ 'transport' => is_scalar( $transport ) ? (string)$transport : gettype( $transport ) ]
				);
				return new NullTransport();
		}
	},

	'RealTimeNotify.Visibility' => static function ( MediaWikiServices $services ): Visibility {
		$config = $services->getMainConfig();
		return new Visibility(
			$services->getPermissionManager(),
			$services->getUserFactory(),
			new DbRightHolderLookup(
				$services->getDBLoadBalancer(),
				$services->getGroupPermissionsLookup(),
				$services->getUserGroupManager()->listAllImplicitGroups()
			),
			(bool)$config->get( 'RealTimeNotifyAddressReaders' )
		);
	},

	'RealTimeNotify.WatcherLookup' => static function ( MediaWikiServices $services ): WatcherLookup {
		$config = $services->getMainConfig();
		return new DbWatcherLookup(
			$services->getDBLoadBalancer(),
			$services->getWatchedItemStore(),
			(bool)$config->get( 'WatchlistExpiry' ),
			(bool)$config->get( 'RealTimeNotifyWatchersOptedInOnly' ),
			// The preference's effective default ($wgDefaultUserOptions, see UserHooks).
			(bool)$services->getUserOptionsLookup()->getDefaultOption( 'realtimenotify-enable' )
		);
	},
];
