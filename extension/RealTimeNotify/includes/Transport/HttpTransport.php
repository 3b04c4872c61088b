<?php

namespace MediaWiki\Extension\RealTimeNotify\Transport;

use RuntimeException;

/**
 * POSTs each event as JSON to the gateway's ingest endpoint (POST /v1/events),
 * with "Authorization: Bearer <secret>", using core's HttpRequestFactory.
 *
 * 400 and 413 (the gateway refuses the event itself: malformed, too large) throw RejectedEvent,
 * which is not retried; any other failure (unreachable, 401, 5xx, timeout) may be.
 */
class HttpTransport implements Transport {

	/** Answers that refuse the event itself (docs/events.md, Transport). */
	private const REFUSED = [ 400, 413 ];

	/** @var \MediaWiki\Http\HttpRequestFactory */
	private $httpRequestFactory;
	/** @var string */
	private $url;
	/** @var string */
	private $secret;
	/** @var float */
	private $connectTimeout;
	/** @var float */
	private $timeout;

	/**
	 * @param \MediaWiki\Http\HttpRequestFactory $httpRequestFactory
	 * @param string $url
	 * @param string $secret '' sends no Authorization header
	 * @param float $connectTimeout Seconds
	 * @param float $timeout Seconds, whole request
	 */
	public function __construct(
		$httpRequestFactory,
		string $url,
		string $secret,
		float $connectTimeout,
		float $timeout
	) {
		$this->httpRequestFactory = $httpRequestFactory;
		$this->url = $url;
		$this->secret = $secret;
		$this->connectTimeout = $connectTimeout;
		$this->timeout = $timeout;
	}

	/** @inheritDoc */
	public function getName(): string {
		return 'http';
	}

	/** @inheritDoc */
	public function send( string $json ): string {
		$request = $this->httpRequestFactory->create(
			$this->url,
			[
				'method' => 'POST',
				'postData' => $json,
				'connectTimeout' => $this->connectTimeout,
				'timeout' => $this->timeout,
				// The gateway is an internal service: never send events through $wgHTTPProxy.
				'noProxy' => true,
				'followRedirects' => false,
			],
			__METHOD__
		);
		$request->setHeader( 'Content-Type', 'application/json' );
		if ( $this->secret !== '' ) {
			$request->setHeader( 'Authorization', 'Bearer ' . $this->secret );
		}
		$status = $request->execute();
		$code = (int)$request->getStatus();
		if ( !$status->isOK() || $code < 200 || $code >= 300 ) {
			$body = substr( (string)$request->getContent(), 0, 200 );
			$message = "POST {$this->url} failed: HTTP $code $body";
			if ( in_array( $code, self::REFUSED, true ) ) {
				throw new RejectedEvent( $message );
			}
			throw new RuntimeException( $message );
		}
		return "POST {$this->url} (HTTP $code)";
	}
}
