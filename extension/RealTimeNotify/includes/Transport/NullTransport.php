<?php

namespace MediaWiki\Extension\RealTimeNotify\Transport;

/**
 * $wgRealTimeNotifyTransport = 'none': events are built (and logged) but go nowhere.
 */
class NullTransport implements Transport {

	/** @inheritDoc */
	public function send( string $json ): string {
		return 'dropped (transport none)';
	}

	/** @inheritDoc */
	public function getName(): string {
		return 'none';
	}
}
