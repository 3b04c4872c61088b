<?php

namespace MediaWiki\Extension\RealTimeNotify\Targeting;

use MediaWiki\Extension\RealTimeNotify\EventPublisher;
use MediaWiki\Extension\RealTimeNotify\Uuid;
use MediaWiki\Permissions\RestrictionStore;
use MediaWiki\Revision\RevisionRecord;
use MediaWiki\Storage\EditResult;
use MediaWiki\User\UserFactory;
use MediaWiki\User\UserIdentity;
use Psr\Log\LoggerInterface;
use Throwable;

/**
 * Who a change is for: adds the `audience` to change events, and builds the patroller `alert`
 * event that goes with a suspicious edit. Called from the deferred update that publishes the
 * event (never during the save), and never throws: a failure is logged to the
 * 'realtimenotify' channel and the change is published as if targeting did not exist (or,
 * when changes are not broadcast, not at all: better silent than sent to everyone).
 *
 * With Visibility (always, in a wiki), a change that an anonymous visitor may not read is never
 * public: it goes to the `read` right (a private wiki, Visibility::READERS) and/or to its
 * addressees who may read it, each checked; an alert about a page that not every reader may read
 * goes to the holders of the alert right who may, each checked. When visibility cannot be
 * decided, nothing is published.
 */
class Targeting {

	/**
	 * The gateway's default --max-event-bytes (contract/limits.json), the default of
	 * $wgRealTimeNotifyMaxEventBytes. A watcher list that would make an event larger is cut
	 * (the talk page owner, listed first, stays), then the summary.
	 */
	public const MAX_EVENT_BYTES = 16384;

	/** @var AudienceBuilder */
	private $audience;
	/** @var AlertRules */
	private $rules;
	/** @var WatcherLookup */
	private $watchers;
	/** @var UserFactory */
	private $userFactory;
	/** @var RestrictionStore */
	private $restrictionStore;
	/** @var LoggerInterface */
	private $logger;
	/** @var callable(): int */
	private $clock;
	/** @var int */
	private $maxEventBytes;
	/** @var Visibility|null */
	private $visibility;
	/** @var int */
	private $maxCheckedUsers;

	/**
	 * @param AudienceBuilder $audience
	 * @param AlertRules $rules
	 * @param WatcherLookup $watchers Counts watchers for the *_watched alerts
	 * @param UserFactory $userFactory The performer's rights, registration and edit count
	 * @param RestrictionStore $restrictionStore Whether a page is protected
	 * @param LoggerInterface $logger
	 * @param callable|null $clock Returns the current UNIX time (tests)
	 * @param int $maxEventBytes The gateway's --max-event-bytes ($wgRealTimeNotifyMaxEventBytes)
	 * @param Visibility|null $visibility Null: every change is as public as the settings say
	 *   (unit tests of the rest)
	 * @param int $maxCheckedUsers Holders of the alert right looked at for an alert on a
	 *   restricted page ($wgRealTimeNotifyMaxWatchers, like the watcher list)
	 */
	public function __construct(
		AudienceBuilder $audience,
		AlertRules $rules,
		WatcherLookup $watchers,
		UserFactory $userFactory,
		RestrictionStore $restrictionStore,
		LoggerInterface $logger,
		?callable $clock = null,
		int $maxEventBytes = self::MAX_EVENT_BYTES,
		?Visibility $visibility = null,
		int $maxCheckedUsers = 1000
	) {
		$this->audience = $audience;
		$this->rules = $rules;
		$this->watchers = $watchers;
		$this->userFactory = $userFactory;
		$this->restrictionStore = $restrictionStore;
		$this->logger = $logger;
		$this->clock = $clock ?? 'time';
		$this->maxEventBytes = $maxEventBytes;
		$this->visibility = $visibility;
		$this->maxCheckedUsers = max( 0, $maxCheckedUsers );
	}

	/**
	 * @param array $event A change event from EventBuilder
	 * @param mixed $page The changed page (LinkTarget or PageReference; for a move, the old title)
	 * @param UserIdentity|null $performer
	 * @param array $alsoNamed Other pages the event names (a move: the new title), LinkTarget
	 *   or PageReference: the change is only as visible as the least visible of them
	 * @return array|null The event with its audience; null when it should not be published
	 *   (nobody may or wants to receive it, or who may could not be decided)
	 */
	public function withAudience( array $event, $page, ?UserIdentity $performer, array $alsoNamed = [] ): ?array {
		$pages = array_merge( [ $page ], $alsoNamed );
		$class = $this->classify( $event, $pages );
		if ( $class === null ) {
			return null;
		}
		try {
			$audience = $this->audience->forChange( $page, $performer );
		} catch ( Throwable $e ) {
			$this->logger->error( 'Could not compute the audience of the {type} event for "{page_title}": {message}', [
				'type' => $event['type'] ?? 'edit',
				'page_title' => $event['page_title'] ?? '',
				'message' => $e->getMessage(),
				'exception' => $e,
			] );
			$audience = $this->audience->isPublic() ? null : [ 'public' => false, 'users' => [], 'rights' => [] ];
		}
		if ( $class !== Visibility::PUBLIC ) {
			try {
				$audience = $this->restrict( $audience, $class, $pages );
			} catch ( Throwable $e ) {
				$this->logger->error( 'Not publishing the {type} event for "{page_title}": could not check who may read it: {message}', [
					'type' => $event['type'] ?? 'edit',
					'page_title' => $event['page_title'] ?? '',
					'message' => $e->getMessage(),
					'exception' => $e,
				] );
				return null;
			}
		}
		unset( $event['audience'] );
		if ( $audience === null ) {
			return $event;
		}
		if ( !$audience['public'] && !$audience['users'] && !$audience['rights'] && empty( $audience['visible_to'] ) ) {
			$this->logger->debug( 'Not publishing the {type} event for "{page_title}": nobody to address', [
				'type' => $event['type'] ?? 'edit',
				'page_title' => $event['page_title'] ?? '',
			] );
			return null;
		}
		$event['audience'] = $audience;
		return $this->fitToSize( $event );
	}

	/**
	 * @param array $event
	 * @param array $pages
	 * @return string|null Visibility::PUBLIC, READERS or RESTRICTED; null when it could not be
	 *   decided (logged: such a change is not published)
	 */
	private function classify( array $event, array $pages ): ?string {
		if ( !$this->visibility ) {
			return Visibility::PUBLIC;
		}
		try {
			return $this->visibility->classify( $pages );
		} catch ( Throwable $e ) {
			$this->logger->error( 'Not publishing the {type} event for "{page_title}": could not decide who may read it: {message}', [
				'type' => $event['type'] ?? 'edit',
				'page_title' => $event['page_title'] ?? '',
				'message' => $e->getMessage(),
				'exception' => $e,
			] );
			return null;
		}
	}

	/**
	 * The audience of a change that anonymous visitors may not read: never public; addressed to
	 * the addressees who may read it, and (READERS, when changes are broadcast and
	 * $wgRealTimeNotifyAddressReaders) visible to every holder of `read` (`visible_to`: they see
	 * it, but it is not addressed to them, so the watchlist mode still shows only what they watch).
	 *
	 * @param array|null $audience From AudienceBuilder (null: public, nobody addressed)
	 * @param string $class Visibility::READERS or RESTRICTED
	 * @param array $pages
	 * @return array
	 */
	private function restrict( ?array $audience, string $class, array $pages ): array {
		$audience = $audience ?? [ 'public' => true, 'users' => [], 'rights' => [] ];
		$broadcast = $audience['public'];
		$users = $audience['users'] ? $this->visibility->mayRead( $audience['users'], $pages ) : [];
		$toReaders = $class === Visibility::READERS && $broadcast && $this->visibility->addressesReaders();
		$audience = [ 'public' => false, 'users' => $users, 'rights' => [] ];
		if ( $toReaders ) {
			$audience['visible_to'] = [ Visibility::READ_RIGHT ];
		}
		return $audience;
	}

	/**
	 * The patroller alert for a saved edit, if it deserves one.
	 *
	 * @param array $event The edit/create event EventBuilder made for it
	 * @param RevisionRecord $rev The saved revision
	 * @param UserIdentity $performer
	 * @param int|null $parentSize Size of the parent revision (null: unknown or a creation)
	 * @param EditResult $editResult
	 * @param bool $bot A bot edit (bot right or EDIT_FORCE_BOT)
	 * @return array|null An `alert` event, or null
	 */
	public function alertFor(
		array $event,
		RevisionRecord $rev,
		UserIdentity $performer,
		?int $parentSize,
		EditResult $editResult,
		bool $bot
	): ?array {
		if ( !$this->rules->isEnabled() || $bot ) {
			return null;
		}
		try {
			$user = $this->userFactory->newFromUserIdentity( $performer );
			foreach ( $this->rules->getExemptRights() as $right ) {
				if ( $user->isAllowed( $right ) ) {
					return null;
				}
			}
			$isCreation = ( $event['type'] ?? '' ) === 'create';
			$reasons = $isCreation ? [] : $this->rules->removalReasons(
				$parentSize,
				(int)$rev->getSize(),
				$editResult->isRevert()
			);

			$kind = null;
			if ( !$user->isRegistered() || ( method_exists( $user, 'isTemp' ) && $user->isTemp() ) ) {
				$kind = AlertRules::ANON;
			} else {
				$registration = $user->getRegistration();
				if ( $this->rules->isNewUser(
					$registration ? (string)$registration : null,
					$user->getEditCount() === null ? null : (int)$user->getEditCount(),
					(int)( $this->clock )()
				) ) {
					$kind = AlertRules::NEW_USER;
				}
			}
			$page = $rev->getPage();
			$reasons = array_merge( $reasons, $this->rules->exposureReasons(
				$kind,
				function () use ( $page ) {
					return $this->restrictionStore->isProtected( $page, 'edit' ) ||
						$this->restrictionStore->isCascadeProtected( $page );
				},
				function () use ( $page ) {
					return $this->watchers->countWatchers( $page );
				}
			) );
		} catch ( Throwable $e ) {
			$this->logger->error( 'Could not check the edit of "{page_title}" for alerts: {message}', [
				'page_title' => $event['page_title'] ?? '',
				'message' => $e->getMessage(),
				'exception' => $e,
			] );
			return null;
		}
		if ( !$reasons ) {
			return null;
		}
		$alert = $this->alertEvent( $event, $reasons );
		return $this->restrictAlert( $alert, $rev->getPage() );
	}

	/**
	 * An alert is for the holders of the alert right. When not every reader may read the page,
	 * "every holder" could include some who may not: the alert then names the holders who may,
	 * each checked (members of the groups that grant the right, and the page's watchers), and
	 * is not published when there are none.
	 *
	 * @param array $alert
	 * @param mixed $page
	 * @return array|null
	 */
	private function restrictAlert( array $alert, $page ): ?array {
		$class = $this->classify( $alert, [ $page ] );
		if ( $class === null ) {
			return null;
		}
		if ( $class !== Visibility::RESTRICTED ) {
			// PUBLIC, or READERS: a connection token is only minted for a user who may read
			// (ApiRealTimeNotifyToken), so every holder of the right the gateway knows may read.
			return $alert;
		}
		try {
			$watchers = $this->watchers->getWatcherIds( $page, $this->maxCheckedUsers );
			$users = $this->visibility->rightHoldersWhoMayRead(
				$this->rules->getRight(), [ $page ], $this->maxCheckedUsers, $watchers
			);
		} catch ( Throwable $e ) {
			$this->logger->error( 'No alert for "{page_title}": could not check who may read it: {message}', [
				'page_title' => $alert['page_title'] ?? '',
				'message' => $e->getMessage(),
				'exception' => $e,
			] );
			return null;
		}
		if ( !$users ) {
			$this->logger->debug( 'No alert for "{page_title}": no holder of the alert right may read it', [
				'page_title' => $alert['page_title'] ?? '',
			] );
			return null;
		}
		$alert['audience'] = [ 'public' => false, 'users' => $users, 'rights' => [] ];
		return $this->fitToSize( $alert );
	}

	/**
	 * @param array $event A change event
	 * @param string[] $reasons
	 * @return array The same change as an `alert` for the holders of the alert right
	 */
	public function alertEvent( array $event, array $reasons ): array {
		unset( $event['audience'], $event['reasons'] );
		$event['type'] = 'alert';
		// Another event than the change's: its own uuid (the gateway delivers a uuid once).
		if ( isset( $event['uuid'] ) ) {
			$event['uuid'] = Uuid::v4();
		}
		$event['reasons'] = AlertRules::normalizeReasons( $reasons );
		$event['audience'] = [
			'public' => false,
			'users' => [],
			'rights' => [ $this->rules->getRight() ],
		];
		return $event;
	}

	/**
	 * Fit an event into the gateway's size limit: cut its watcher list first (the talk page
	 * owner, listed first, stays), then its summary. An event that still does not fit is
	 * logged as an error: the gateway would drop it.
	 *
	 * @param array $event
	 * @return array
	 */
	private function fitToSize( array $event ): array {
		$excess = strlen( EventPublisher::encode( $event ) ) - $this->maxEventBytes;
		if ( $excess > 0 && !empty( $event['audience']['users'] ) ) {
			$users = $event['audience']['users'];
			$before = count( $users );
			// Each id costs its digits and a comma; the owner (first) is kept.
			while ( $excess > 0 && count( $users ) > 1 ) {
				$excess -= strlen( (string)array_pop( $users ) ) + 1;
			}
			$event['audience']['users'] = $users;
			$this->logger->warning( 'Audience of the {type} event for "{page_title}" cut from {before} to {after} users to fit the event size limit', [
				'type' => $event['type'] ?? 'edit',
				'page_title' => $event['page_title'] ?? '',
				'before' => $before,
				'after' => count( $users ),
			] );
			$excess = strlen( EventPublisher::encode( $event ) ) - $this->maxEventBytes;
		}
		$summary = (string)( $event['summary'] ?? '' );
		while ( $excess > 0 && $summary !== '' ) {
			// Encoded, a character may take up to 12 bytes (\uXXXX\uXXXX): cut generously.
			$keep = max( 0, mb_strlen( $summary ) - max( 1, intdiv( $excess, 2 ) ) - 1 );
			$summary = $keep > 0 ? mb_substr( $summary, 0, $keep ) . '…' : '';
			$event['summary'] = $summary;
			$excess = strlen( EventPublisher::encode( $event ) ) - $this->maxEventBytes;
		}
		if ( $excess > 0 ) {
			$this->logger->error( 'The {type} event for "{page_title}" is larger than the gateway accepts ({limit} bytes) and will be dropped: raise $wgRealTimeNotifyMaxEventBytes and the gateway\'s --max-event-bytes together', [
				'type' => $event['type'] ?? 'edit',
				'page_title' => $event['page_title'] ?? '',
				'limit' => $this->maxEventBytes,
			] );
		}
		return $event;
	}
}
