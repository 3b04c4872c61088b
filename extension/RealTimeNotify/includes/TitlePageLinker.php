<?php

namespace MediaWiki\Extension\RealTimeNotify;

use MediaWiki\Linker\LinkTarget;

/**
 * PageLinker backed by core's TitleFactory. URLs use the canonical server
 * ($wgCanonicalServer), so they are absolute even when $wgServer is protocol-relative.
 */
class TitlePageLinker implements PageLinker {

	/** @var \TitleFactory */
	private $titleFactory;

	/**
	 * @param \TitleFactory $titleFactory
	 */
	public function __construct( $titleFactory ) {
		$this->titleFactory = $titleFactory;
	}

	/**
	 * @param mixed $page
	 * @return \Title
	 */
	private function toTitle( $page ) {
		$title = $page instanceof LinkTarget
			? $this->titleFactory->castFromLinkTarget( $page )
			: $this->titleFactory->castFromPageReference( $page );
		if ( !$title ) {
			throw new \InvalidArgumentException( 'Not a page: ' . get_debug_type( $page ) );
		}
		return $title;
	}

	/** @inheritDoc */
	public function getPrefixedText( $page ): string {
		return $this->toTitle( $page )->getPrefixedText();
	}

	/** @inheritDoc */
	public function getUrl( $page, array $query = [] ): string {
		return $this->toTitle( $page )->getCanonicalURL( $query );
	}
}
