<?php

namespace MediaWiki\Extension\RealTimeNotify\Targeting;

use MediaWiki\Permissions\GroupPermissionsLookup;
use Wikimedia\Rdbms\ILoadBalancer;

/**
 * RightHolderLookup on the wiki's `user_groups` table: the members of every group that grants
 * the right ($wgGroupPermissions, less $wgRevokePermissions, as GroupPermissionsLookup says),
 * whose membership has not expired. Implicit groups ($wgImplicitGroups: `*`, `user`,
 * `autoconfirmed`) have no rows there and are left out.
 */
class DbRightHolderLookup implements RightHolderLookup {

	/** @var ILoadBalancer */
	private $loadBalancer;
	/** @var GroupPermissionsLookup */
	private $groupPermissions;
	/** @var string[] */
	private $implicitGroups;

	/**
	 * @param ILoadBalancer $loadBalancer
	 * @param GroupPermissionsLookup $groupPermissions
	 * @param string[] $implicitGroups $wgImplicitGroups
	 */
	public function __construct(
		ILoadBalancer $loadBalancer,
		GroupPermissionsLookup $groupPermissions,
		array $implicitGroups
	) {
		$this->loadBalancer = $loadBalancer;
		$this->groupPermissions = $groupPermissions;
		$this->implicitGroups = $implicitGroups;
	}

	/** @inheritDoc */
	public function getUserIdsWithRight( string $right, int $limit ): array {
		$groups = array_values( array_diff(
			$this->groupPermissions->getGroupsWithPermission( $right ),
			$this->implicitGroups
		) );
		if ( $limit <= 0 || !$groups ) {
			return [];
		}
		$db = $this->loadBalancer->getConnection( DB_REPLICA );
		return array_map( 'intval', $db->newSelectQueryBuilder()
			->select( 'ug_user' )
			->distinct()
			->from( 'user_groups' )
			->where( [ 'ug_group' => $groups ] )
			->andWhere( 'ug_expiry IS NULL OR ug_expiry > ' . $db->addQuotes( $db->timestamp() ) )
			->limit( $limit )
			->caller( __METHOD__ )
			->fetchFieldValues() );
	}
}
