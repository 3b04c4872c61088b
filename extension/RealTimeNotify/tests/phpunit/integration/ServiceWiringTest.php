<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Integration;

use ApiMain;
use HashConfig;
use Job;
use MediaWiki\Extension\RealTimeNotify\Api\ApiRealTimeNotifyToken;
use MediaWiki\Extension\RealTimeNotify\Hooks\ChangeHooks;
use MediaWiki\Extension\RealTimeNotify\Hooks\UserHooks;
use MediaWiki\Extension\RealTimeNotify\Retry\PublishJob;
use MediaWiki\Extension\RealTimeNotify\Retry\RetryQueue;
use MediaWiki\Extension\RealTimeNotify\Transport\HttpTransport;
use MediaWiki\Extension\RealTimeNotify\Transport\NullTransport;
use MediaWiki\Extension\RealTimeNotify\Transport\RedisTransport;
use MediaWiki\MediaWikiServices;
use MultiConfig;
use ReflectionFunction;
use RequestContext;

/**
 * ServiceWiring.php in the real wiki: every service resolves to what it declares, with the
 * wiki's real configuration and core services; the hook handlers, the API module and the job
 * are built by MediaWiki as extension.json says; and each transport the settings can choose
 * is built and works (Redis against a real redis-server).
 *
 * @coversNothing
 */
class ServiceWiringTest extends WikiTestCase {

	private static function wiring(): array {
		return require dirname( __DIR__, 3 ) . '/ServiceWiring.php';
	}

	public function testEveryServiceResolvesToWhatItDeclares() {
		$wiring = self::wiring();
		$this->assertSame( [
			'RealTimeNotify.AlertStore', 'RealTimeNotify.EventBuilder', 'RealTimeNotify.EventPublisher', 'RealTimeNotify.GatewayStatus',
			'RealTimeNotify.PersistentAlerts', 'RealTimeNotify.RetryQueue',
			'RealTimeNotify.Targeting', 'RealTimeNotify.TokenIssuer', 'RealTimeNotify.Transport',
			'RealTimeNotify.Visibility', 'RealTimeNotify.WatcherLookup',
		], array_keys( $wiring ) );
		foreach ( $wiring as $name => $factory ) {
			$type = ( new ReflectionFunction( $factory ) )->getReturnType();
			$this->assertNotNull( $type, "$name declares its type" );
			$service = self::services()->get( $name );
			$this->assertInstanceOf( $type->getName(), $service, $name );
			$this->assertSame( $service, self::services()->get( $name ), "$name is one shared instance" );
		}
	}

	public function testTheWikisSettingsReachTheServices() {
		// integration.sh: transport http to the test's ingest URL, tokens on.
		$this->assertInstanceOf( HttpTransport::class, self::services()->get( 'RealTimeNotify.Transport' ) );
		$issuer = self::services()->get( 'RealTimeNotify.TokenIssuer' );
		$this->assertTrue( $issuer->isEnabled() && $issuer->isSecretStrong() );
		$this->assertSame( [ 'read', 'patrol', 'bot' ], $issuer->getRights() );
	}

	public function testHookHandlersAreBuiltWithTheirServices() {
		$hooks = self::services()->getHookContainer();
		foreach ( [ 'PageSaveComplete', 'PageDeleteComplete', 'PageMoveComplete', 'UploadComplete' ] as $hook ) {
			$handlers = array_filter( $hooks->getHandlers( $hook ), static function ( $h ) {
				return $h instanceof ChangeHooks;
			} );
			$this->assertCount( 1, $handlers, $hook );
		}
		foreach ( [ 'GetPreferences', 'UserGetDefaultOptions', 'BeforePageDisplay' ] as $hook ) {
			$this->assertCount( 1, array_filter( $hooks->getHandlers( $hook ), static function ( $h ) {
				return $h instanceof UserHooks;
			} ), $hook );
		}
	}

	public function testTheApiModuleAndTheJobAreRegistered() {
		$main = new ApiMain( RequestContext::getMain() );
		$this->assertInstanceOf( ApiRealTimeNotifyToken::class, $main->getModuleManager()->getModule( 'realtimenotifytoken' ) );
		$job = Job::factory( RetryQueue::JOB_TYPE, [ 'event' => '{}', 'since' => time() ] );
		$this->assertInstanceOf( PublishJob::class, $job );
		$this->assertContains( RetryQueue::JOB_TYPE, self::services()->getJobQueueGroup()->getQueueTypes() );
	}

	public function testTheRetryQueueIsConfiguredAtRegistration() {
		$conf = self::services()->getMainConfig()->get( 'JobTypeConf' )[RetryQueue::JOB_TYPE] ?? null;
		// integration.sh: $wgRealTimeNotifyRetryDelay = 2, $wgRealTimeNotifyRetryMaxAge = 600.
		$this->assertSame( 2, $conf['claimTTL'] ?? null );
		$this->assertSame( 302, $conf['maxTries'] ?? null );
		$this->assertSame( \JobQueueDB::class, $conf['class'] ?? null );
		$this->assertSame( 'fifo', $conf['order'] ?? null );
	}

	/**
	 * The Transport service's factory, with settings of our own over the wiki's.
	 */
	private function transportWith( array $settings ) {
		$real = self::services();
		$services = $this->createMock( MediaWikiServices::class );
		$services->method( 'getMainConfig' )->willReturn( new MultiConfig( [ new HashConfig( $settings ), $real->getMainConfig() ] ) );
		$services->method( 'getHttpRequestFactory' )->willReturn( $real->getHttpRequestFactory() );
		return ( self::wiring()['RealTimeNotify.Transport'] )( $services );
	}

	public function testEachTransportTheSettingsCanChoose() {
		$this->assertInstanceOf( HttpTransport::class, $this->transportWith( [ 'RealTimeNotifyTransport' => 'http' ] ) );
		$this->assertInstanceOf( NullTransport::class, $this->transportWith( [ 'RealTimeNotifyTransport' => 'none' ] ) );
		$this->assertInstanceOf( NullTransport::class, $this->transportWith( [ 'RealTimeNotifyTransport' => 'carrier-pigeon' ] ),
			'an unknown transport publishes nothing (and says so in the log)' );
		$this->assertInstanceOf( RedisTransport::class, $this->transportWith( [ 'RealTimeNotifyTransport' => 'redis' ] ) );
	}

	public function testTheRedisTransportReachesARealRedis() {
		$port = self::freePort();
		$redis = proc_open( [ 'redis-server', '--port', (string)$port, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no' ],
			[ [ 'file', '/dev/null', 'r' ], [ 'file', '/dev/null', 'w' ], [ 'file', '/dev/null', 'w' ] ], $pipes );
		try {
			$client = new \Redis();
			$deadline = microtime( true ) + 10;
			for ( ; ; ) {
				try {
					if ( $client->connect( '127.0.0.1', $port, 0.2 ) ) {
						break;
					}
				} catch ( \RedisException $e ) {
					// not listening yet
				}
				$this->assertLessThan( $deadline, microtime( true ), 'redis-server did not start' );
				usleep( 50000 );
			}
			$transport = $this->transportWith( [
				'RealTimeNotifyTransport' => 'redis',
				'RealTimeNotifyRedisServer' => "127.0.0.1:$port",
				'RealTimeNotifyRedisChannel' => 'mediawiki:notifications',
				'RealTimeNotifyRedisStream' => 'mediawiki:events',
			] );
			$json = '{"schema":1,"page_title":"P","user_name":"U","timestamp":"2026-11-25T01:02:03Z","summary":""}';
			$result = $transport->send( $json );
			$this->assertStringContainsString( 'PUBLISH mediawiki:notifications (0 receivers)', $result );
			$entries = $client->xRange( 'mediawiki:events', '-', '+' );
			$this->assertCount( 1, $entries );
			$this->assertSame( [ 'event' => $json ], array_values( $entries )[0] );
		} finally {
			proc_terminate( $redis );
			proc_close( $redis );
		}
	}

	private static function freePort(): int {
		$socket = stream_socket_server( 'tcp://127.0.0.1:0' );
		$name = stream_socket_get_name( $socket, false );
		fclose( $socket );
		return (int)substr( $name, strrpos( $name, ':' ) + 1 );
	}
}
