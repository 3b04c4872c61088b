<?php

namespace MediaWiki\Extension\RealTimeNotify;

use MediaWiki\Extension\RealTimeNotify\Retry\RetryQueue;
use MediaWiki\Extension\RealTimeNotify\Transport\RejectedEvent;
use MediaWiki\Extension\RealTimeNotify\Transport\Transport;
use Psr\Log\LoggerInterface;
use Throwable;

/**
 * Hands events to the configured transport after the response has been sent.
 *
 * publish() only schedules work (a POSTSEND deferred update in production); building,
 * encoding and sending happen later, each inside a catch of \Throwable, so nothing here
 * can fail or slow down an edit. Failures are logged to the 'realtimenotify' channel with the
 * class of what was thrown: an Exception is the broker's or the network's (expected while Redis
 * is down); an Error (TypeError, an undefined constant or method...) is a bug of the extension,
 * e.g. on a MediaWiki version it was not made for, and the e2e tests fail on one. An event the
 * transport could not deliver is handed to the RetryQueue (a job), still after the response:
 * the save never waits for more than the one try.
 */
class EventPublisher {

	/** @var Transport */
	private $transport;
	/** @var LoggerInterface */
	private $logger;
	/** @var callable(callable): void */
	private $defer;
	/** @var RetryQueue|null */
	private $retries;

	/**
	 * @param Transport $transport
	 * @param LoggerInterface $logger
	 * @param callable $defer Schedules a callable to run later; production passes
	 *   DeferredUpdates::addCallableUpdate( ..., POSTSEND ), tests run it at once
	 * @param RetryQueue|null $retries Takes the events the transport failed to deliver (null:
	 *   they are only logged)
	 */
	public function __construct(
		Transport $transport,
		LoggerInterface $logger,
		callable $defer,
		?RetryQueue $retries = null
	) {
		$this->transport = $transport;
		$this->logger = $logger;
		$this->defer = $defer;
		$this->retries = $retries;
	}

	/**
	 * Schedule an event for publishing.
	 *
	 * @param callable(): (array|null) $buildEvent Builds the event; null means "nothing to publish"
	 * @param string $what Short description for log messages (e.g. the hook name)
	 */
	public function publish( callable $buildEvent, string $what ): void {
		try {
			( $this->defer )( function () use ( $buildEvent, $what ) {
				$this->publishNow( $buildEvent, $what );
			} );
		} catch ( Throwable $e ) {
			$this->logger->error( 'Could not schedule {what}: {message} ({class})', [
				'what' => $what,
				'message' => $e->getMessage(),
				'class' => get_class( $e ),
				'exception' => $e,
			] );
		}
	}

	/**
	 * Schedule several events built together (a change and the alert it raises): built in one
	 * deferred update, each then encoded and sent on its own, so that one failing does not
	 * stop the other.
	 *
	 * @param callable(): array[] $buildEvents Builds a list of events (nulls are skipped)
	 * @param string $what Short description for log messages (e.g. the hook name)
	 */
	public function publishAll( callable $buildEvents, string $what ): void {
		try {
			( $this->defer )( function () use ( $buildEvents, $what ) {
				try {
					$events = array_filter( (array)$buildEvents(), 'is_array' );
				} catch ( Throwable $e ) {
					$this->logger->error( 'Failed to build events for {what}: {message} ({class})', [
						'what' => $what,
						'message' => $e->getMessage(),
						'class' => get_class( $e ),
						'exception' => $e,
					] );
					return;
				}
				if ( !$events ) {
					$this->logger->debug( 'Nothing to publish for {what}', [ 'what' => $what ] );
				}
				foreach ( $events as $event ) {
					$this->publishNow( static function () use ( $event ) {
						return $event;
					}, $what );
				}
			} );
		} catch ( Throwable $e ) {
			$this->logger->error( 'Could not schedule {what}: {message} ({class})', [
				'what' => $what,
				'message' => $e->getMessage(),
				'class' => get_class( $e ),
				'exception' => $e,
			] );
		}
	}

	/**
	 * Build, encode and send one event right now. Never throws.
	 *
	 * @param callable(): (array|null) $buildEvent
	 * @param string $what
	 * @return bool Whether an event was delivered
	 */
	public function publishNow( callable $buildEvent, string $what ): bool {
		$event = null;
		$json = null;
		try {
			$event = $buildEvent();
			if ( $event === null ) {
				$this->logger->debug( 'Nothing to publish for {what}', [ 'what' => $what ] );
				return false;
			}
			$json = self::encode( $event );
			$result = $this->transport->send( $json );
			$this->logger->debug( 'Published {type} event for "{page_title}" via {transport}: {result}', [
				'what' => $what,
				'type' => $event['type'] ?? 'edit',
				'page_title' => $event['page_title'] ?? '',
				'transport' => $this->transport->getName(),
				'result' => $result,
			] );
			return true;
		} catch ( Throwable $e ) {
			$this->logger->error(
				'Failed to publish {type} event for "{page_title}" via {transport}: {message} ({class})',
				[
					'what' => $what,
					'type' => is_array( $event ) ? ( $event['type'] ?? 'edit' ) : '?',
					'page_title' => is_array( $event ) ? ( $event['page_title'] ?? '' ) : '',
					'transport' => $this->transport->getName(),
					'message' => $e->getMessage(),
					'class' => get_class( $e ),
					'exception' => $e,
				]
			);
			// Built and encoded, but not delivered: the broker may take it later. (An event
			// that could not be built or encoded, or that the broker refused, never will.)
			if ( $json !== null && $this->retries && !( $e instanceof RejectedEvent ) ) {
				$this->retries->enqueue( $json, $what );
			}
			return false;
		}
	}

	/**
	 * @param array $event
	 * @return string Compact JSON, UTF-8 unescaped, slashes unescaped
	 */
	public static function encode( array $event ): string {
		return json_encode(
			$event,
			JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_INVALID_UTF8_SUBSTITUTE |
				JSON_THROW_ON_ERROR
		);
	}
}
