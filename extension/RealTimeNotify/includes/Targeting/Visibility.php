<?php

namespace MediaWiki\Extension\RealTimeNotify\Targeting;

use MediaWiki\Linker\LinkTarget;
use MediaWiki\Page\PageReference;
use MediaWiki\Permissions\PermissionManager;
use MediaWiki\User\UserFactory;
use TitleValue;
use Wikimedia\ScopedCallback;

/**
 * Who may see a change, decided by MediaWiki's own read permissions (PermissionManager: the
 * `read` right, $wgWhitelistRead and $wgWhitelistReadRegexp, and the userCan /
 * getUserPermissionsErrors(Expensive) hooks through which extensions like Lockdown restrict
 * pages and namespaces). Three classes, from open to closed:
 *
 *  - PUBLIC: an anonymous visitor may read the page, so anyone the gateway admits may learn of
 *    the change;
 *  - READERS: an anonymous visitor may not, but would if it held the `read` right: nothing but
 *    that right stands between a reader and the page (a private wiki, $wgGroupPermissions['*']
 *    ['read'] = false). Every holder of `read` may see it, and connection tokens carry `read`;
 *  - RESTRICTED: something else (a hook) keeps even a holder of `read` out, so only users
 *    checked one by one may see it.
 *
 * The anonymous stand-in has a fixed documentation address (192.0.2.1), not the editor's or the
 * server's: a rule that lets some addresses read (an intranet) must not make a change public.
 * For READERS it is given `read` for the one check (PermissionManager::addTemporaryUserRights(),
 * scoped), and its groups stay those of an anonymous visitor, so a hook that admits only some
 * groups classes the page RESTRICTED: when in doubt, closed.
 *
 * Every check is RIGOR_FULL (runs the expensive hooks, and $wgBlockDisablesLogin), and all of
 * it runs in the deferred update that publishes the change, never during the save.
 */
class Visibility {

	public const PUBLIC = 'public';
	public const READERS = 'readers';
	public const RESTRICTED = 'restricted';

	/** The right that every reader holds, and that connection tokens carry (TokenIssuer::RIGHTS). */
	public const READ_RIGHT = 'read';

	/** The anonymous stand-in's address (RFC 5737 TEST-NET-1: nobody's). */
	public const PROBE_IP = '192.0.2.1';

	private const RANK = [ self::PUBLIC => 0, self::READERS => 1, self::RESTRICTED => 2 ];

	/** @var PermissionManager */
	private $permissionManager;
	/** @var UserFactory */
	private $userFactory;
	/** @var RightHolderLookup|null */
	private $rightHolders;
	/** @var bool */
	private $addressReaders;

	/**
	 * @param PermissionManager $permissionManager
	 * @param UserFactory $userFactory
	 * @param RightHolderLookup|null $rightHolders Lists the holders of the alert right for alerts
	 *   on RESTRICTED pages (null: none are listed)
	 * @param bool $addressReaders $wgRealTimeNotifyAddressReaders: a READERS change goes to every
	 *   holder of `read` (true) or only to its addressees who may read it (false)
	 */
	public function __construct(
		PermissionManager $permissionManager,
		UserFactory $userFactory,
		?RightHolderLookup $rightHolders,
		bool $addressReaders
	) {
		$this->permissionManager = $permissionManager;
		$this->userFactory = $userFactory;
		$this->rightHolders = $rightHolders;
		$this->addressReaders = $addressReaders;
	}

	/**
	 * @return bool Whether READERS changes are addressed to the `read` right
	 */
	public function addressesReaders(): bool {
		return $this->addressReaders;
	}

	/**
	 * @param array<LinkTarget|PageReference> $pages Every page the event names (a move: both
	 *   titles)
	 * @return string PUBLIC, READERS or RESTRICTED: the most closed of the pages' classes
	 */
	public function classify( array $pages ): string {
		$class = self::PUBLIC;
		foreach ( $pages as $page ) {
			$one = $this->classifyOne( self::target( $page ) );
			if ( self::RANK[$one] > self::RANK[$class] ) {
				$class = $one;
			}
		}
		return $class;
	}

	/**
	 * @param LinkTarget $target
	 * @return string
	 */
	private function classifyOne( LinkTarget $target ): string {
		$anon = $this->userFactory->newAnonymous( self::PROBE_IP );
		if ( $this->permissionManager->userCan( 'read', $anon, $target, PermissionManager::RIGOR_FULL ) ) {
			return self::PUBLIC;
		}
		$scope = $this->permissionManager->addTemporaryUserRights( $anon, self::READ_RIGHT );
		try {
			$readers = $this->permissionManager->userCan( 'read', $anon, $target, PermissionManager::RIGOR_FULL );
		} finally {
			ScopedCallback::consume( $scope );
		}
		return $readers ? self::READERS : self::RESTRICTED;
	}

	/**
	 * The users among $userIds who may read every page (and hold $right, when given), one by one.
	 * The caller bounds the list (at most $wgRealTimeNotifyMaxWatchers and the talk page owner).
	 *
	 * @param int[] $userIds
	 * @param array<LinkTarget|PageReference> $pages
	 * @param string|null $right Also required (the alert right, for alerts)
	 * @return int[] In the given order
	 */
	public function mayRead( array $userIds, array $pages, ?string $right = null ): array {
		$targets = array_map( [ self::class, 'target' ], $pages );
		$readers = [];
		foreach ( $userIds as $id ) {
			$id = (int)$id;
			if ( $id <= 0 ) {
				continue;
			}
			$user = $this->userFactory->newFromId( $id );
			if ( $right !== null && !$this->permissionManager->userHasRight( $user, $right ) ) {
				continue;
			}
			foreach ( $targets as $target ) {
				if ( !$this->permissionManager->userCan( 'read', $user, $target, PermissionManager::RIGOR_FULL ) ) {
					continue 2;
				}
			}
			$readers[] = $id;
		}
		return $readers;
	}

	/**
	 * Holders of $right (through a group they are explicitly in) who may read every page:
	 * the addressees of an alert on a RESTRICTED page.
	 *
	 * @param string $right
	 * @param array<LinkTarget|PageReference> $pages
	 * @param int $limit Candidates looked at, at most
	 * @param int[] $alsoConsider More candidates (e.g. the page's watchers), checked the same way
	 * @return int[]
	 */
	public function rightHoldersWhoMayRead( string $right, array $pages, int $limit, array $alsoConsider = [] ): array {
		$candidates = $this->rightHolders && $limit > 0 ? $this->rightHolders->getUserIdsWithRight( $right, $limit ) : [];
		$candidates = array_slice( array_values( array_unique( array_map( 'intval',
			array_merge( $candidates, $alsoConsider ) ) ) ), 0, max( 0, $limit ) );
		return $this->mayRead( $candidates, $pages, $right );
	}

	/**
	 * @param LinkTarget|PageReference $page
	 * @return LinkTarget
	 */
	private static function target( $page ): LinkTarget {
		return $page instanceof LinkTarget ? $page : TitleValue::newFromPage( $page );
	}
}
