<?php

namespace MediaWiki\Extension\RealTimeNotify\Targeting;

use MediaWiki\Extension\RealTimeNotify\EventPublisher;
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
 */
class Targeting {

	/**
	 * The gateway's default --max-event-bytes. A watcher list that would make an event larger
	 * is cut (the talk page owner, listed first, stays).
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

	/**
	 * @param AudienceBuilder $audience
	 * @param AlertRules $rules
	 * @param WatcherLookup $watchers Counts watchers for the *_watched alerts
	 * @param UserFactory $userFactory The performer's rights, registration and edit count
	 * @param RestrictionStore $restrictionStore Whether a page is protected
	 * @param LoggerInterface $logger
	 * @param callable|null $clock Returns the current UNIX time (tests)
	 */
	public function __construct(
		AudienceBuilder $audience,
		AlertRules $rules,
		WatcherLookup $watchers,
		UserFactory $userFactory,
		RestrictionStore $restrictionStore,
		LoggerInterface $logger,
		?callable $clock = null
	) {
		$this->audience = $audience;
		$this->rules = $rules;
		$this->watchers = $watchers;
		$this->userFactory = $userFactory;
		$this->restrictionStore = $restrictionStore;
		$this->logger = $logger;
		$this->clock = $clock ?? 'time';
	}

	/**
	 * @param array $event A change event from EventBuilder
	 * @param mixed $page The changed page (LinkTarget or PageReference; for a move, the old title)
	 * @param UserIdentity|null $performer
	 * @return array|null The event with its audience; null when it should not be published
	 *   (changes are not broadcast and nobody is addressed)
	 */
	public function withAudience( array $event, $page, ?UserIdentity $performer ): ?array {
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
		unset( $event['audience'] );
		if ( $audience === null ) {
			return $event;
		}
		if ( !$audience['public'] && !$audience['users'] && !$audience['rights'] ) {
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
		return $reasons ? $this->alertEvent( $event, $reasons ) : null;
	}

	/**
	 * @param array $event A change event
	 * @param string[] $reasons
	 * @return array The same change as an `alert` for the holders of the alert right
	 */
	public function alertEvent( array $event, array $reasons ): array {
		unset( $event['audience'], $event['reasons'] );
		$event['type'] = 'alert';
		$event['reasons'] = AlertRules::normalizeReasons( $reasons );
		$event['audience'] = [
			'public' => false,
			'users' => [],
			'rights' => [ $this->rules->getRight() ],
		];
		return $event;
	}

	/**
	 * Cut the watcher list of an event that would be too large for the gateway.
	 *
	 * @param array $event
	 * @return array
	 */
	private function fitToSize( array $event ): array {
		$excess = strlen( EventPublisher::encode( $event ) ) - self::MAX_EVENT_BYTES;
		if ( $excess <= 0 || empty( $event['audience']['users'] ) ) {
			return $event;
		}
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
		return $event;
	}
}
