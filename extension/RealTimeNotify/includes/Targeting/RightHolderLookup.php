<?php

namespace MediaWiki\Extension\RealTimeNotify\Targeting;

/**
 * Who holds a right. Core has no service that lists the members of a group, hence this small
 * interface (DbRightHolderLookup in production, a fake in the unit tests). Only an alert on a
 * page that not every reader may read needs it: such an alert cannot go to "every holder of the
 * right", so it is addressed to the holders one by one, each checked for read access.
 */
interface RightHolderLookup {

	/**
	 * Ids of users who hold the right through a group they were put in (not through an
	 * implicit group such as `user`, which every account is in: those cannot be listed).
	 *
	 * @param string $right
	 * @param int $limit At most this many ids
	 * @return int[]
	 */
	public function getUserIdsWithRight( string $right, int $limit ): array;
}
