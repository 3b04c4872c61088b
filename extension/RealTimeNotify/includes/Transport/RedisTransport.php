<?php

namespace MediaWiki\Extension\RealTimeNotify\Transport;

use RuntimeException;

/**
 * PUBLISHes each event to a Redis pub/sub channel and/or XADDs it to a Redis stream
 * (field "event", which the gateway's redis-stream source reads).
 *
 * The connection comes from a callable so that production code can use core's
 * RedisConnectionPool (short timeouts, down-server memory, AUTH) and tests a fake.
 */
class RedisTransport implements Transport {

	/** Stream entry field holding the event JSON (gateway: source/redis_stream.rs FIELD). */
	public const STREAM_FIELD = 'event';

	/** @var callable(): (\Redis|\RedisConnRef|object|false) */
	private $connect;
	/** @var string|null */
	private $channel;
	/** @var string|null */
	private $stream;
	/** @var int */
	private $maxLen;
	/** @var int|null */
	private $minIdAge;
	/** @var callable(): float */
	private $clock;

	/**
	 * @param callable $connect Returns a connected Redis handle, or false when the server is
	 *   unreachable
	 * @param string|null $channel Pub/sub channel; null or '' for none
	 * @param string|null $stream Stream key; null or '' for none
	 * @param int $maxLen XADD MAXLEN ~ this (0: no trimming)
	 * @param int|null $minIdAge When set, XADD MINID ~ (now - this many seconds) instead
	 * @param callable|null $clock Returns the current UNIX time as float (tests)
	 */
	public function __construct(
		callable $connect,
		?string $channel,
		?string $stream,
		int $maxLen = 10000,
		?int $minIdAge = null,
		?callable $clock = null
	) {
		$this->connect = $connect;
		$this->channel = ( $channel === null || $channel === '' ) ? null : $channel;
		$this->stream = ( $stream === null || $stream === '' ) ? null : $stream;
		$this->maxLen = max( 0, $maxLen );
		$this->minIdAge = $minIdAge !== null ? max( 0, $minIdAge ) : null;
		$this->clock = $clock ?? 'microtime';
	}

	/** @inheritDoc */
	public function getName(): string {
		return 'redis';
	}

	/** @inheritDoc */
	public function send( string $json ): string {
		if ( $this->channel === null && $this->stream === null ) {
			return 'nothing to do (no channel, no stream)';
		}
		$conn = ( $this->connect )();
		if ( !$conn ) {
			throw new RuntimeException( 'could not connect to Redis' );
		}

		$done = [];
		$errors = [];
		if ( $this->channel !== null ) {
			try {
				$receivers = $conn->publish( $this->channel, $json );
				if ( $receivers === false ) {
					throw new RuntimeException( $this->lastError( $conn, 'PUBLISH failed' ) );
				}
				$done[] = "PUBLISH {$this->channel} ($receivers receivers)";
			} catch ( \Throwable $e ) {
				$errors[] = "PUBLISH {$this->channel}: " . $e->getMessage();
			}
		}
		if ( $this->stream !== null ) {
			try {
				$id = $this->xadd( $conn, $json );
				if ( !is_string( $id ) || $id === '' ) {
					throw new RuntimeException( $this->lastError( $conn, 'XADD failed' ) );
				}
				$done[] = "XADD {$this->stream} $id";
			} catch ( \Throwable $e ) {
				$errors[] = "XADD {$this->stream}: " . $e->getMessage();
			}
		}
		if ( $errors ) {
			$message = implode( '; ', $errors );
			if ( $done ) {
				$message .= ' (succeeded: ' . implode( '; ', $done ) . ')';
			}
			throw new RuntimeException( $message );
		}
		return implode( '; ', $done );
	}

	/**
	 * @param object $conn
	 * @param string $json
	 * @return mixed The new entry id, or false
	 */
	private function xadd( $conn, string $json ) {
		if ( $this->minIdAge !== null ) {
			// phpredis' xAdd() only knows MAXLEN; MINID (Redis >= 6.2) needs a raw command.
			$minId = (int)floor( ( ( $this->clock )( true ) - $this->minIdAge ) * 1000 );
			return $conn->rawCommand(
				'XADD', $this->stream, 'MINID', '~', (string)max( 0, $minId ), '*',
				self::STREAM_FIELD, $json
			);
		}
		if ( $this->maxLen > 0 ) {
			return $conn->xAdd( $this->stream, '*', [ self::STREAM_FIELD => $json ], $this->maxLen, true );
		}
		return $conn->xAdd( $this->stream, '*', [ self::STREAM_FIELD => $json ] );
	}

	/**
	 * @param object $conn
	 * @param string $fallback
	 * @return string
	 */
	private function lastError( $conn, string $fallback ): string {
		$error = method_exists( $conn, 'getLastError' ) ? $conn->getLastError() : null;
		return is_string( $error ) && $error !== '' ? "$fallback: $error" : $fallback;
	}
}
