<?php

namespace MediaWiki\Extension\RealTimeNotify;

use MediaWiki\Linker\LinkTarget;
use MediaWiki\Page\PageReference;

/**
 * Turns pages into the text and URLs that events carry. Kept behind an interface so that
 * EventBuilder needs no MediaWiki services (and can be unit-tested without them).
 */
interface PageLinker {

	/**
	 * @param LinkTarget|PageReference $page
	 * @return string Prefixed title as shown to readers, e.g. "Talk:Main Page"
	 */
	public function getPrefixedText( $page ): string;

	/**
	 * @param LinkTarget|PageReference $page
	 * @param array $query URL query parameters
	 * @return string Absolute http(s) URL of the page (never protocol-relative)
	 */
	public function getUrl( $page, array $query = [] ): string;
}
