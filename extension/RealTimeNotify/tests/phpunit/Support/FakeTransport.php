<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Support;

use MediaWiki\Extension\RealTimeNotify\Transport\Transport;

/**
 * Records what it is sent; throws $failWith instead when set.
 */
class FakeTransport implements Transport {

	/** @var string[] */
	public $sent = [];
	/** @var \Throwable|null */
	public $failWith;

	/** @inheritDoc */
	public function send( string $json ): string {
		if ( $this->failWith ) {
			throw $this->failWith;
		}
		$this->sent[] = $json;
		return 'ok';
	}

	/** @inheritDoc */
	public function getName(): string {
		return 'fake';
	}
}
