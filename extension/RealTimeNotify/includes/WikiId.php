<?php

namespace MediaWiki\Extension\RealTimeNotify;

use WikiMap;

/**
 * Resolves the wiki id used in events ("wiki") and connection tokens ("aud").
 */
final class WikiId {

	/**
	 * @param \Config $config Main config
	 * @return string $wgRealTimeNotifyWikiId, or the current wiki id when that is null or ''
	 */
	public static function fromConfig( $config ): string {
		$configured = $config->get( 'RealTimeNotifyWikiId' );
		if ( is_string( $configured ) && $configured !== '' ) {
			return $configured;
		}
		return WikiMap::getCurrentWikiId();
	}
}
