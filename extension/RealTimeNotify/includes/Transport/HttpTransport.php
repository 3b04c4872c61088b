<?php

namespace MediaWiki\Extension\RealTimeNotify\Transport;

use RuntimeException;

/**
 * POSTs each event as JSON to the gateway's ingest endpoint (POST /v1/events),
 * with "Authorization: Bearer <secret>", using core's HttpRequestFactory.
 */
class HttpTransport implements Transport {

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
			throw new RuntimeException( "POST {$this->url} failed: HTTP $code $body" );
		}
		return "POST {$this->url} (HTTP $code)";
	}
}
