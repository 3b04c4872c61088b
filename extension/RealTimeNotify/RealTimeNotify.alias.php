<?php
/**
 * Aliases of the special pages of RealTimeNotify.
 *
 * @file
 */

$specialPageAliases = [];

/** English */
$specialPageAliases['en'] = [
	'PatrolAlerts' => [ 'PatrolAlerts' ],
];
