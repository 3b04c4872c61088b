<?php

namespace MediaWiki\Extension\RealTimeNotify;

/**
 * Random (version 4) UUIDs for the events' `uuid` field (docs/events.md): one per event, made
 * when the event is built and kept in its JSON, so that every retry of a publish carries the
 * same one and the gateway can suppress a second delivery.
 *
 * Not core's GlobalIdGenerator: EventBuilder is built without services (unit tests), and 122
 * random bits are all that is needed here.
 */
final class Uuid {

	/** What a UUID in an event looks like (lower case, as v4() makes them). */
	public const PATTERN = '/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/';

	/**
	 * @return string e.g. "9b2f6c1e-4d0a-4c3b-8e7f-0a1b2c3d4e5f"
	 */
	public static function v4(): string {
		$bytes = random_bytes( 16 );
		// Version 4 (random), variant RFC 4122.
		$bytes[6] = chr( ( ord( $bytes[6] ) & 0x0f ) | 0x40 );
		$bytes[8] = chr( ( ord( $bytes[8] ) & 0x3f ) | 0x80 );
		$hex = bin2hex( $bytes );
		return substr( $hex, 0, 8 ) . '-' . substr( $hex, 8, 4 ) . '-' . substr( $hex, 12, 4 ) . '-' .
			substr( $hex, 16, 4 ) . '-' . substr( $hex, 20, 12 );
	}
}
