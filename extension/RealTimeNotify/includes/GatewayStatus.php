<?php

namespace MediaWiki\Extension\RealTimeNotify;

/**
 * Reads the gateway's GET /v1/status for Special:RealTimeNotifyStatus, server-side.
 *
 * The gateway answers only a status token: a JWT signed with $wgRealTimeNotifySecret (one of
 * its --token-secrets) whose audience is "<wiki id>/status", which no connection token has
 * (gateway/src/status.rs). Each request gets a fresh token valid for TOKEN_TTL seconds.
 *
 * Nothing of the answer is passed on as it came: report() keeps the known fields and their
 * types only (numbers, booleans, a short code for the source and broker kinds), so that a
 * gateway answering something else can never put markup or other text on the wiki's page.
 */
class GatewayStatus {

	/** Audience suffix of a status token, after the wiki id (gateway: AUDIENCE_SUFFIX). */
	public const AUDIENCE_SUFFIX = '/status';

	/** Seconds a status token is valid. */
	public const TOKEN_TTL = 60;

	/** Numeric fields of the report, as the gateway names them. */
	private const NUMBERS = [
		'uptime_seconds', 'clients', 'recent_seconds', 'events_received', 'events_delivered',
		'slow_client_drops', 'slow_client_drops_total', 'latency_p50_ms', 'latency_p99_ms',
		'last_event_age_seconds', 'sample_seconds',
	];

	/** Most points of the series passed on (the gateway keeps 60). */
	private const MAX_POINTS = 120;

	/** @var string */
	private $url;
	/** @var string */
	private $secret;
	/** @var string */
	private $wikiId;
	/** @var callable(string $url, string $authorization): array{0:int,1:string} */
	private $fetch;
	/** @var callable(): int */
	private $clock;

	/**
	 * @param string $url The gateway's status URL ('' = not configured)
	 * @param string $secret $wgRealTimeNotifySecret
	 * @param string $wikiId
	 * @param callable $fetch (url, Authorization header value) → [HTTP status (0: no answer), body]
	 * @param callable|null $clock Returns the current UNIX time (tests)
	 */
	public function __construct( string $url, string $secret, string $wikiId, callable $fetch, ?callable $clock = null ) {
		$this->url = $url;
		$this->secret = $secret;
		$this->wikiId = $wikiId;
		$this->fetch = $fetch;
		$this->clock = $clock ?? 'time';
	}

	/**
	 * The status URL from the browsers' WebSocket URL: same host, http(s), path /v1/status
	 * (a gateway serves both; behind a proxy set $wgRealTimeNotifyStatusUrl to an address the
	 * wiki's servers reach directly).
	 *
	 * @param string $gatewayUrl e.g. wss://wiki.example.org/realtime/v1/ws, or a path on the
	 *   wiki's host (/realtime/v1/ws)
	 * @param string $server The wiki's $wgCanonicalServer, for a path
	 * @return string '' when it cannot be derived
	 */
	public static function urlFromGatewayUrl( string $gatewayUrl, string $server = '' ): string {
		if ( substr( $gatewayUrl, 0, 1 ) === '/' && substr( $gatewayUrl, 0, 2 ) !== '//' && $server !== '' ) {
			$gatewayUrl = rtrim( $server, '/' ) . $gatewayUrl;
		}
		if ( !preg_match( '#^(wss?|https?)://([^/?\#]+)(/[^?\#]*)?#i', $gatewayUrl, $m ) ) {
			return '';
		}
		$scheme = in_array( strtolower( $m[1] ), [ 'wss', 'https' ], true ) ? 'https' : 'http';
		$path = $m[3] ?? '';
		$path = preg_replace( '#/v1/ws/?$#', '', $path );
		return "$scheme://{$m[2]}" . rtrim( $path, '/' ) . '/v1/status';
	}

	/**
	 * @param int $userId Who asks (the token's subject, for the gateway's logs)
	 * @return string A status token
	 */
	public function token( int $userId ): string {
		$now = (int)( $this->clock )();
		return Jwt::encodeHS256( [
			'iss' => TokenIssuer::ISSUER,
			'aud' => $this->wikiId . self::AUDIENCE_SUFFIX,
			'sub' => (string)$userId,
			'iat' => $now,
			'nbf' => $now,
			'exp' => $now + self::TOKEN_TTL,
			'jti' => bin2hex( random_bytes( 8 ) ),
		], $this->secret );
	}

	/**
	 * Asks the gateway.
	 *
	 * @param int $userId
	 * @return array{ok:bool,error?:string,status?:array} error is a code: 'nosecret', 'nourl',
	 *   'unreachable', 'unauthorized' (the secrets differ), 'http' (another status), 'invalid'
	 */
	public function fetch( int $userId ): array {
		if ( strlen( $this->secret ) < TokenIssuer::MIN_SECRET_LENGTH ) {
			return [ 'ok' => false, 'error' => 'nosecret' ];
		}
		if ( $this->url === '' ) {
			return [ 'ok' => false, 'error' => 'nourl' ];
		}
		[ $code, $body ] = ( $this->fetch )( $this->url, 'Bearer ' . $this->token( $userId ) );
		if ( $code === 0 ) {
			return [ 'ok' => false, 'error' => 'unreachable' ];
		}
		if ( $code === 401 ) {
			return [ 'ok' => false, 'error' => 'unauthorized' ];
		}
		if ( $code !== 200 ) {
			return [ 'ok' => false, 'error' => 'http' ];
		}
		$data = json_decode( $body, true );
		if ( !is_array( $data ) ) {
			return [ 'ok' => false, 'error' => 'invalid' ];
		}
		return [ 'ok' => true, 'status' => self::report( $data ) ];
	}

	/**
	 * The known fields of a gateway answer, each of its type; anything else is dropped.
	 *
	 * @param array $data Decoded JSON
	 * @return array
	 */
	public static function report( array $data ): array {
		$number = static function ( $v ): ?float {
			return ( is_int( $v ) || is_float( $v ) ) && is_finite( (float)$v ) ? (float)$v : null;
		};
		$code = static function ( $v ): string {
			return is_string( $v ) && preg_match( '/^[a-z0-9-]{1,32}$/', $v ) ? $v : 'unknown';
		};
		$part = static function ( $v ) use ( $code ): array {
			$v = is_array( $v ) ? $v : [];
			return [ 'kind' => $code( $v['kind'] ?? null ), 'up' => ( $v['up'] ?? false ) === true ];
		};
		$report = [
			'ready' => ( $data['ready'] ?? false ) === true,
			'version' => is_string( $data['version'] ?? null ) && preg_match( '/^[0-9A-Za-z.+-]{1,40}$/', $data['version'] )
				? $data['version'] : '',
			'source' => $part( $data['source'] ?? null ),
			'broker' => $part( $data['broker'] ?? null ),
		];
		foreach ( self::NUMBERS as $name ) {
			$report[$name] = $number( $data[$name] ?? null );
		}
		$series = [];
		foreach ( array_slice( is_array( $data['series'] ?? null ) ? $data['series'] : [], -self::MAX_POINTS ) as $p ) {
			if ( is_array( $p ) && $number( $p['t'] ?? null ) !== null ) {
				$series[] = [
					't' => (int)$p['t'],
					'clients' => $number( $p['clients'] ?? null ) ?? 0.0,
					'received' => $number( $p['received'] ?? null ) ?? 0.0,
					'delivered' => $number( $p['delivered'] ?? null ) ?? 0.0,
				];
			}
		}
		$report['series'] = $series;
		return $report;
	}

	/**
	 * The status page's test event (type 'test'): addressed to the administrator alone, never a
	 * popup (the browser module skips it), sent through the wiki's real publish path so that
	 * its round trip covers the broker and the gateway.
	 *
	 * @param string $wikiId
	 * @param int $userId Who sent it, and the only one it is addressed to
	 * @param string $userName
	 * @param string $pageTitle The status page's title, for the event's required page_title
	 * @param string $uuid The event's uuid: the browser recognises its event by it
	 * @param int $now UNIX time
	 * @return array
	 */
	public static function testEvent(
		string $wikiId, int $userId, string $userName, string $pageTitle, string $uuid, int $now
	): array {
		return [
			'schema' => EventBuilder::SCHEMA,
			'type' => 'test',
			'wiki' => $wikiId,
			'page_title' => $pageTitle,
			'namespace' => -1,
			'user_name' => $userName,
			'timestamp' => gmdate( 'Y-m-d\\TH:i:s\\Z', $now ),
			'summary' => '',
			'uuid' => $uuid,
			'audience' => [ 'public' => false, 'users' => [ $userId ] ],
		];
	}
}
