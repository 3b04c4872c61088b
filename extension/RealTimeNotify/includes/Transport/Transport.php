<?php

namespace MediaWiki\Extension\RealTimeNotify\Transport;

/**
 * Delivers one encoded event to the gateway side. Implementations throw on failure;
 * EventPublisher catches and logs, so a failing transport never breaks an edit.
 */
interface Transport {

	/**
	 * @param string $json The event, JSON-encoded
	 * @return string Short human-readable description of what was done, for the debug log
	 * @throws \Throwable When the event could not be delivered
	 */
	public function send( string $json ): string;

	/**
	 * @return string Name for log messages ('redis', 'http', 'none')
	 */
	public function getName(): string;
}
