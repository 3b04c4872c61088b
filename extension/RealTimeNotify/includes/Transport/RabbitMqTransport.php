<?php

namespace MediaWiki\Extension\RealTimeNotify\Transport;

use PhpAmqpLib\Channel\AMQPChannel;
use PhpAmqpLib\Connection\AbstractConnection;
use PhpAmqpLib\Connection\AMQPConnectionConfig;
use PhpAmqpLib\Connection\AMQPConnectionFactory;
use PhpAmqpLib\Message\AMQPMessage;
use RuntimeException;
use Throwable;

/**
 * Publishes each event to a RabbitMQ exchange with php-amqplib (Debian's php-amqplib package):
 * persistent, mandatory, and with publisher confirms, so that send() returns only once the broker
 * has written the event to the stream bound to the exchange (the gateway's rabbitmq source reads
 * it; the gateway declares the exchange and the stream).
 *
 * Anything short of a confirm throws, and EventPublisher hands the event to the RetryQueue as it
 * does a failed Redis publish: the broker down or unreachable (connect timeout), no confirm within
 * the confirm timeout, a nack, or no queue bound to the exchange (returned as unroutable: no
 * gateway has declared its stream yet). It all runs after the response, and a broker that could
 * not be reached is not tried again within the same request, so an outage costs one connect
 * timeout per request at most, never a slower save.
 *
 * The URL's password is never part of a message: errors name the broker as scheme://host:port/vhost.
 */
class RabbitMqTransport implements Transport {

	/** @var array{scheme:string,host:string,port:int,user:string,password:string,vhost:string}|null */
	private $server;
	/** @var string|null Why the URL could not be used (the constructor never throws: a save must not fail) */
	private $urlError = null;
	/** @var string */
	private $exchange;
	/** @var float */
	private $connectTimeout;
	/** @var float */
	private $readTimeout;
	/** @var AbstractConnection|null */
	private $connection = null;
	/** @var AMQPChannel|null */
	private $channel = null;
	/** @var string|null Why the broker could not be reached earlier in this request */
	private $unreachable = null;
	/** @var array{acked:bool,nacked:bool,returned:string|null} The current publish's outcome */
	private $outcome = [ 'acked' => false, 'nacked' => false, 'returned' => null ];

	/**
	 * @param string $url amqp://user:password@host:port/vhost (vhost URL-encoded: %2f is "/"), or
	 *   amqps:// for TLS (the system's CAs verify the broker's certificate)
	 * @param string $exchange The exchange the gateway's stream is bound to
	 * @param float $connectTimeout Seconds to connect (TCP, TLS and the AMQP handshake)
	 * @param float $readTimeout Seconds to wait for the broker's confirm (and any other reply)
	 */
	public function __construct( string $url, string $exchange, float $connectTimeout, float $readTimeout ) {
		try {
			$this->server = self::parseUrl( $url );
		} catch ( RuntimeException $e ) {
			$this->server = null;
			$this->urlError = $e->getMessage();
		}
		$this->exchange = $exchange;
		$this->connectTimeout = max( 0.1, $connectTimeout );
		$this->readTimeout = max( 0.1, $readTimeout );
	}

	/** @inheritDoc */
	public function getName(): string {
		return 'rabbitmq';
	}

	/**
	 * Whether php-amqplib can be loaded (Debian's package puts its autoloader on PHP's
	 * include_path, /usr/share/php).
	 *
	 * @return bool
	 */
	public static function isAvailable(): bool {
		if ( !class_exists( AMQPConnectionFactory::class ) ) {
			// phpcs:ignore Generic.PHP.NoSilencedErrors.Discouraged -- absent is an answer, not an error
			@include_once 'PhpAmqpLib/autoload.php';
		}
		return class_exists( AMQPConnectionFactory::class );
	}

	/** @inheritDoc */
	public function send( string $json ): string {
		if ( !self::isAvailable() ) {
			throw new RuntimeException( 'php-amqplib is not installed (apt-get install php-amqplib)' );
		}
		if ( $this->server === null ) {
			throw new RuntimeException( (string)$this->urlError );
		}
		if ( $this->unreachable !== null ) {
			throw new RuntimeException( "{$this->unreachable} (not tried again in this request)" );
		}
		try {
			$channel = $this->channel();
		} catch ( Throwable $e ) {
			$this->unreachable = 'could not connect to RabbitMQ at ' . $this->describe() . ': ' .
				$e->getMessage();
			$this->close();
			throw new RuntimeException( $this->unreachable, 0, $e );
		}
		$this->outcome = [ 'acked' => false, 'nacked' => false, 'returned' => null ];
		$properties = [
			'delivery_mode' => AMQPMessage::DELIVERY_MODE_PERSISTENT,
			'content_type' => 'application/json',
		];
		$uuid = self::uuidOf( $json );
		if ( $uuid !== null ) {
			$properties['message_id'] = $uuid;
		}
		try {
			$channel->basic_publish( new AMQPMessage( $json, $properties ), $this->exchange, '', true );
			$channel->wait_for_pending_acks_returns( $this->readTimeout );
		} catch ( Throwable $e ) {
			// The connection may be broken or the channel closed by the broker: start afresh next time.
			$this->close();
			throw new RuntimeException( "publishing to exchange {$this->exchange} at " . $this->describe() .
				': ' . get_class( $e ) . ': ' . $e->getMessage(), 0, $e );
		}
		if ( $this->outcome['returned'] !== null ) {
			throw new RuntimeException( "exchange {$this->exchange} at " . $this->describe() .
				" routed the event to no queue ({$this->outcome['returned']}): no gateway has declared its stream" );
		}
		if ( $this->outcome['nacked'] || !$this->outcome['acked'] ) {
			throw new RuntimeException( "the broker at " . $this->describe() . ' did not confirm the event' .
				( $this->outcome['nacked'] ? ' (nack)' : '' ) );
		}
		return "published to exchange {$this->exchange} (confirmed)";
	}

	/**
	 * The open channel, in confirm mode, connecting first if needed.
	 *
	 * @return AMQPChannel
	 */
	private function channel(): AMQPChannel {
		$server = $this->server ?? [];
		if ( $this->channel !== null && $this->channel->is_open() ) {
			return $this->channel;
		}
		$this->close();
		$config = new AMQPConnectionConfig();
		$config->setIoType( AMQPConnectionConfig::IO_TYPE_STREAM );
		$config->setHost( $server['host'] );
		$config->setPort( $server['port'] );
		$config->setUser( $server['user'] );
		$config->setPassword( $server['password'] );
		$config->setVhost( $server['vhost'] );
		$config->setIsSecure( $server['scheme'] === 'amqps' );
		if ( $server['scheme'] === 'amqps' ) {
			$config->setSslVerify( true );
			$config->setSslVerifyName( true );
		}
		$config->setConnectionTimeout( $this->connectTimeout );
		$config->setReadTimeout( $this->readTimeout );
		$config->setWriteTimeout( $this->readTimeout );
		$config->setChannelRPCTimeout( $this->readTimeout );
		$config->setHeartbeat( 0 );
		$config->setConnectionName( 'MediaWiki RealTimeNotify' );
		$this->connection = AMQPConnectionFactory::create( $config );
		$channel = $this->connection->channel();
		$channel->set_ack_handler( function () {
			$this->outcome['acked'] = true;
		} );
		$channel->set_nack_handler( function () {
			$this->outcome['nacked'] = true;
		} );
		$channel->set_return_listener( function ( $replyCode, $replyText ) {
			$this->outcome['returned'] = "$replyCode $replyText";
		} );
		$channel->confirm_select();
		$this->channel = $channel;
		return $channel;
	}

	/**
	 * Closes the connection quietly (it may be broken already).
	 */
	private function close(): void {
		$connection = $this->connection;
		$this->channel = null;
		$this->connection = null;
		if ( $connection !== null ) {
			try {
				$connection->close();
			} catch ( Throwable $e ) {
				// Broken already: nothing to close.
			}
		}
	}

	public function __destruct() {
		$this->close();
	}

	/**
	 * @return string The broker without credentials, for messages
	 */
	private function describe(): string {
		$server = $this->server ?? [ 'scheme' => '?', 'host' => '?', 'port' => 0, 'vhost' => '' ];
		return "{$server['scheme']}://{$server['host']}:{$server['port']}/" . rawurlencode( $server['vhost'] );
	}

	/**
	 * @param string $json
	 * @return string|null The event's uuid, which the broker keeps as the message id
	 */
	private static function uuidOf( string $json ): ?string {
		if ( preg_match( '/"uuid":"([0-9a-fA-F-]{36})"/', $json, $m ) ) {
			return $m[1];
		}
		return null;
	}

	/**
	 * @param string $url
	 * @return array{scheme:string,host:string,port:int,user:string,password:string,vhost:string}
	 */
	public static function parseUrl( string $url ): array {
		$parts = parse_url( $url );
		$scheme = is_array( $parts ) ? strtolower( $parts['scheme'] ?? '' ) : '';
		if ( !is_array( $parts ) || !in_array( $scheme, [ 'amqp', 'amqps' ], true ) || !isset( $parts['host'] ) ) {
			// Not the URL itself: it may hold a password.
			throw new RuntimeException( 'RealTimeNotifyAmqpUrl is not an amqp:// or amqps:// URL with a host' );
		}
		$path = $parts['path'] ?? '';
		return [
			'scheme' => $scheme,
			'host' => $parts['host'],
			'port' => (int)( $parts['port'] ?? ( $scheme === 'amqps' ? 5671 : 5672 ) ),
			'user' => rawurldecode( $parts['user'] ?? 'guest' ),
			'password' => rawurldecode( $parts['pass'] ?? 'guest' ),
			// As in RabbitMQ's URI spec (and the gateway's): no path is the default vhost "/",
			// "/x" is "x" URL-decoded, so "/%2f" is "/" too.
			'vhost' => $path === '' ? '/' : rawurldecode( substr( $path, 1 ) ),
		];
	}
}
