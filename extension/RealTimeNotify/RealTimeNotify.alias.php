<?php
/**
 * Aliases for the special pages of the RealTimeNotify extension.
 *
 * @file
 */

$specialPageAliases = [];

/** English */
$specialPageAliases['en'] = [
	'RealTimeNotifyStatus' => [ 'RealTimeNotifyStatus' ],
];
