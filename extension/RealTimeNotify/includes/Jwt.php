<?php

namespace MediaWiki\Extension\RealTimeNotify;

use InvalidArgumentException;

/**
 * Minimal JSON Web Token (RFC 7519) encoding with HS256 (HMAC-SHA256), the one algorithm the
 * gateway accepts. Encoding only: the wiki mints tokens, the gateway verifies them.
 */
final class Jwt {

	/**
	 * @param array $claims Payload (JSON object)
	 * @param string $key HMAC key; must not be empty
	 * @return string header.payload.signature, each part base64url without padding
	 */
	public static function encodeHS256( array $claims, string $key ): string {
		if ( $key === '' ) {
			throw new InvalidArgumentException( 'JWT key must not be empty' );
		}
		$flags = JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR;
		$header = self::base64UrlEncode( json_encode( [ 'alg' => 'HS256', 'typ' => 'JWT' ], $flags ) );
		// An empty claims array must still be a JSON object.
		$payload = self::base64UrlEncode( json_encode( (object)$claims, $flags ) );
		$signingInput = "$header.$payload";
		$signature = self::base64UrlEncode( hash_hmac( 'sha256', $signingInput, $key, true ) );
		return "$signingInput.$signature";
	}

	/**
	 * @param string $data
	 * @return string base64url (RFC 4648 §5) without '=' padding
	 */
	public static function base64UrlEncode( string $data ): string {
		return rtrim( strtr( base64_encode( $data ), '+/', '-_' ), '=' );
	}
}
