<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Support;

use MediaWiki\Extension\RealTimeNotify\Targeting\RightHolderLookup;

/**
 * Holders per right; records the limits it was asked for.
 */
class FakeRightHolderLookup implements RightHolderLookup {

	/** @var array<string,int[]> */
	public $holders;
	/** @var int[] */
	public $limits = [];

	/**
	 * @param array<string,int[]> $holders e.g. [ 'patrol' => [ 21, 22 ] ]
	 */
	public function __construct( array $holders = [] ) {
		$this->holders = $holders;
	}

	/** @inheritDoc */
	public function getUserIdsWithRight( string $right, int $limit ): array {
		$this->limits[] = $limit;
		return array_slice( $this->holders[$right] ?? [], 0, max( 0, $limit ) );
	}
}
