<?php

namespace MediaWiki\Extension\RealTimeNotify;

use RuntimeException;

/**
 * Mints the connection tokens browsers present to the gateway (gateway/src/auth.rs):
 * HS256 JWTs with iss "realtimenotify", aud = wiki id, sub = user id (string), name,
 * rights (subset of getRights(): RIGHTS and the alert right), iat, nbf, exp and a random jti
 * (the gateway refuses a jti twice). `sub` and `rights` are what the gateway matches an event's
 * `audience` against (watchers by user id, patroller alerts by right).
 */
class TokenIssuer {

	public const ISSUER = 'realtimenotify';

	/** Shortest secret the gateway accepts (gateway/src/auth.rs); shorter ones are refused here too. */
	public const MIN_SECRET_LENGTH = 32;

	/** Rights the gateway cares about; nothing else is ever put into a token. */
	public const RIGHTS = [ 'read', 'patrol', 'bot' ];

	/** @var string */
	private $secret;
	/** @var string */
	private $wikiId;
	/** @var int */
	private $ttl;
	/** @var callable(): int */
	private $clock;
	/** @var string[] */
	private $rights;

	/**
	 * @param string $secret HMAC key ('' = token minting disabled)
	 * @param string $wikiId Audience
	 * @param int $ttl Seconds a token stays valid (at least 1)
	 * @param callable|null $clock Returns the current UNIX time (tests)
	 * @param string[] $extraRights Rights to carry besides RIGHTS, e.g. the alert right
	 *   ($wgRealTimeNotifyAlertRight) when it is not 'patrol'
	 */
	public function __construct(
		string $secret,
		string $wikiId,
		int $ttl,
		?callable $clock = null,
		array $extraRights = []
	) {
		$this->secret = $secret;
		$this->wikiId = $wikiId;
		$this->ttl = max( 1, $ttl );
		$this->clock = $clock ?? 'time';
		$this->rights = array_values( array_unique( array_filter(
			array_merge( self::RIGHTS, array_map( 'strval', $extraRights ) ),
			'strlen'
		) ) );
	}

	/**
	 * @return string[] The rights a token may carry (the gateway matches audiences against them)
	 */
	public function getRights(): array {
		return $this->rights;
	}

	/**
	 * @return bool Whether a secret is configured at all
	 */
	public function isEnabled(): bool {
		return $this->secret !== '';
	}

	/**
	 * @return bool Whether the secret is long enough for the gateway to accept it
	 */
	public function isSecretStrong(): bool {
		return strlen( $this->secret ) >= self::MIN_SECRET_LENGTH;
	}

	/**
	 * @param int $userId Registered user's id
	 * @param string $userName
	 * @param string[] $rights Rights the user has; filtered to getRights()
	 * @return array{token:string,expires:int,claims:array}
	 * @throws RuntimeException When no secret, or one too short, is configured
	 */
	public function issue( int $userId, string $userName, array $rights ): array {
		if ( !$this->isEnabled() ) {
			throw new RuntimeException( 'No token secret configured' );
		}
		if ( !$this->isSecretStrong() ) {
			throw new RuntimeException( 'The token secret is shorter than ' . self::MIN_SECRET_LENGTH . ' bytes' );
		}
		$now = (int)( $this->clock )();
		$claims = [
			'iss' => self::ISSUER,
			'aud' => $this->wikiId,
			'sub' => (string)$userId,
			'name' => $userName,
			'rights' => array_values( array_intersect( $this->rights, $rights ) ),
			'iat' => $now,
			'nbf' => $now,
			'exp' => $now + $this->ttl,
			'jti' => bin2hex( random_bytes( 16 ) ),
		];
		return [
			'token' => Jwt::encodeHS256( $claims, $this->secret ),
			'expires' => $claims['exp'],
			'claims' => $claims,
		];
	}
}
