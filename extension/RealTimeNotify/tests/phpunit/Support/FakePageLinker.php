<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Support;

use MediaWiki\Extension\RealTimeNotify\PageLinker;

/**
 * PageLinker without services: English namespace names, URLs like core's default
 * ($wgServer/index.php?title=...&...).
 */
class FakePageLinker implements PageLinker {

	public const SERVER = 'http://wiki.test';

	private const NAMESPACES = [ 0 => '', 1 => 'Talk', 2 => 'User', 4 => 'Project', 6 => 'File' ];

	/** @inheritDoc */
	public function getPrefixedText( $page ): string {
		$ns = self::NAMESPACES[$page->getNamespace()] ?? ( 'NS' . $page->getNamespace() );
		$text = str_replace( '_', ' ', $page->getDBkey() );
		return $ns === '' ? $text : "$ns:$text";
	}

	/** @inheritDoc */
	public function getUrl( $page, array $query = [] ): string {
		$title = str_replace( ' ', '_', $this->getPrefixedText( $page ) );
		// Like wfUrlencode(): ':' and '/' stay readable.
		$qs = str_replace( [ '%3A', '%2F' ], [ ':', '/' ], http_build_query( [ 'title' => $title ] + $query ) );
		return self::SERVER . '/index.php?' . $qs;
	}
}
