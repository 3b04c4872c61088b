<?php

namespace MediaWiki\Extension\RealTimeNotify\Targeting;

use Wikimedia\Timestamp\ConvertibleTimestamp;

/**
 * When an edit deserves a patroller's attention, and why: the thresholds of the `alert`
 * events, as pure functions of facts Targeting gathers (no services here).
 *
 * Reason codes (the event's `reasons`, at most 8 of [a-z0-9_]{1,32}; the browser translates them):
 *  - blanking: a page that had content now has (almost) none;
 *  - large_removal: much content removed at once (but not blanked, and not a revert);
 *  - anon_protected, new_user_protected: a logged-out or new user edited a protected page;
 *  - anon_watched, new_user_watched: … a page with many watchers.
 *
 * Who never triggers an alert: bots, users who hold the alert right themselves (patrollers
 * have no need to alert each other) and users with one of the exempt rights (by default
 * 'autopatrol': their edits are marked patrolled anyway).
 */
class AlertRules {

	public const BLANKING = 'blanking';
	public const LARGE_REMOVAL = 'large_removal';

	/** Most reasons an event may carry (the gateway refuses more; contract/limits.json). */
	public const MAX_REASONS = 8;

	/** What a reason code may look like (contract/limits.json). */
	public const CODE_PATTERN = '/^[a-z0-9_]{1,32}$/';

	/** Every code these rules produce (contract/names.json, alert_reasons). */
	public const REASONS = [
		self::BLANKING, self::LARGE_REMOVAL,
		self::ANON . '_protected', self::NEW_USER . '_protected',
		self::ANON . '_watched', self::NEW_USER . '_watched',
	];

	/** Performer kinds: prefixes of the *_protected and *_watched codes. */
	public const ANON = 'anon';
	public const NEW_USER = 'new_user';

	private const DEFAULTS = [
		'right' => 'patrol',
		'exemptRights' => [ 'bot', 'autopatrol' ],
		'blankingBytes' => 10,
		'removalBytes' => 2000,
		'removalFraction' => 0.5,
		'removalMinBytes' => 200,
		'newUserDays' => 7,
		'newUserEdits' => 50,
		'watchersThreshold' => 30,
	];

	/** @var array */
	private $o;

	/**
	 * @param array $options Keys of DEFAULTS; missing ones take the default
	 */
	public function __construct( array $options = [] ) {
		$this->o = $options + self::DEFAULTS;
	}

	/**
	 * @param \Config $config
	 * @return self
	 */
	public static function fromConfig( $config ): self {
		return new self( [
			'right' => (string)$config->get( 'RealTimeNotifyAlertRight' ),
			'exemptRights' => (array)$config->get( 'RealTimeNotifyAlertExemptRights' ),
			'blankingBytes' => (int)$config->get( 'RealTimeNotifyAlertBlankingBytes' ),
			'removalBytes' => (int)$config->get( 'RealTimeNotifyAlertRemovalBytes' ),
			'removalFraction' => (float)$config->get( 'RealTimeNotifyAlertRemovalFraction' ),
			'removalMinBytes' => (int)$config->get( 'RealTimeNotifyAlertRemovalMinBytes' ),
			'newUserDays' => (float)$config->get( 'RealTimeNotifyAlertNewUserDays' ),
			'newUserEdits' => (int)$config->get( 'RealTimeNotifyAlertNewUserEdits' ),
			'watchersThreshold' => (int)$config->get( 'RealTimeNotifyAlertWatchersThreshold' ),
		] );
	}

	/**
	 * @return string The right whose holders receive alerts ('' when alerts are off)
	 */
	public function getRight(): string {
		return (string)$this->o['right'];
	}

	/**
	 * @return bool
	 */
	public function isEnabled(): bool {
		return $this->getRight() !== '';
	}

	/**
	 * @return string[] Performers holding any of these trigger no alert (the alert right included)
	 */
	public function getExemptRights(): array {
		return array_values( array_unique( array_filter( array_merge(
			[ $this->getRight() ],
			array_map( 'strval', (array)$this->o['exemptRights'] )
		), 'strlen' ) ) );
	}

	/**
	 * @return int Alerts for pages with at least this many watchers (0: never)
	 */
	public function getWatchersThreshold(): int {
		return max( 0, (int)$this->o['watchersThreshold'] );
	}

	/**
	 * Content removed by an edit of an existing page.
	 *
	 * @param int|null $oldSize Size of the parent revision in bytes (null: unknown)
	 * @param int $newSize Size of the new revision in bytes
	 * @param bool $isRevert The edit restores an earlier revision (rollback, undo, manual):
	 *   removing content that way is what patrollers do, not what they look for
	 * @return string[] [ 'blanking' ], [ 'large_removal' ] or []
	 */
	public function removalReasons( ?int $oldSize, int $newSize, bool $isRevert ): array {
		if ( $oldSize === null || $newSize >= $oldSize ) {
			return [];
		}
		$small = max( 0, (int)$this->o['blankingBytes'] );
		// Blanking even by a revert: going back to an empty revision is still blanking.
		if ( $oldSize > 0 && ( $newSize === 0 || ( $newSize <= $small && $oldSize > $small ) ) ) {
			return [ self::BLANKING ];
		}
		if ( $isRevert ) {
			return [];
		}
		$removed = $oldSize - $newSize;
		$bytes = (int)$this->o['removalBytes'];
		$fraction = (float)$this->o['removalFraction'];
		if ( ( $bytes > 0 && $removed >= $bytes ) ||
			( $fraction > 0 && $removed >= (int)$this->o['removalMinBytes'] && $removed >= $fraction * $oldSize )
		) {
			return [ self::LARGE_REMOVAL ];
		}
		return [];
	}

	/**
	 * @param string|null $registration When the account was created (any ConvertibleTimestamp
	 *   format; null: unknown, i.e. an account older than 2005 — not new)
	 * @param int|null $editCount
	 * @param int $now UNIX time
	 * @return bool Registered less than newUserDays ago, or fewer than newUserEdits edits
	 */
	public function isNewUser( ?string $registration, ?int $editCount, int $now ): bool {
		$days = (float)$this->o['newUserDays'];
		if ( $days > 0 && $registration !== null && $registration !== '' ) {
			$registered = ConvertibleTimestamp::convert( TS_UNIX, $registration );
			if ( $registered !== false && $now - (int)$registered < $days * 86400 ) {
				return true;
			}
		}
		$edits = (int)$this->o['newUserEdits'];
		return $edits > 0 && $editCount !== null && $editCount < $edits;
	}

	/**
	 * Reasons that depend on who edited which page.
	 *
	 * @param string|null $kind self::ANON, self::NEW_USER or null (anyone else: no reason)
	 * @param callable(): bool $isProtected Called only when needed
	 * @param callable(): int $countWatchers Called only when needed
	 * @return string[]
	 */
	public function exposureReasons( ?string $kind, callable $isProtected, callable $countWatchers ): array {
		if ( $kind !== self::ANON && $kind !== self::NEW_USER ) {
			return [];
		}
		$reasons = [];
		if ( $isProtected() ) {
			$reasons[] = $kind . '_protected';
		}
		$threshold = $this->getWatchersThreshold();
		if ( $threshold > 0 && $countWatchers() >= $threshold ) {
			$reasons[] = $kind . '_watched';
		}
		return $reasons;
	}

	/**
	 * @param string[] $reasons
	 * @return string[] Valid codes, each once, at most MAX_REASONS
	 */
	public static function normalizeReasons( array $reasons ): array {
		$valid = array_filter( array_map( 'strval', $reasons ), static function ( $r ) {
			return (bool)preg_match( self::CODE_PATTERN, $r );
		} );
		return array_slice( array_values( array_unique( $valid ) ), 0, self::MAX_REASONS );
	}
}
