<?php

namespace MediaWiki\Extension\RealTimeNotify\Hooks;

use MediaWiki\Extension\RealTimeNotify\Alerts\AlertStore;
use MediaWiki\Installer\Hook\LoadExtensionSchemaUpdatesHook;

/**
 * The extension's one table, `realtimenotify_alert` (patrol alerts that persist), created by
 * maintenance/update.php from sql/<dbtype>/tables.sql (SQLite, MySQL/MariaDB).
 */
class SchemaHooks implements LoadExtensionSchemaUpdatesHook {

	/**
	 * @inheritDoc
	 */
	public function onLoadExtensionSchemaUpdates( $updater ) {
		$type = $updater->getDB()->getType();
		$dir = dirname( __DIR__, 2 ) . '/sql';
		if ( !is_file( "$dir/$type/tables.sql" ) ) {
			// PostgreSQL and others: alerts stay live-only (AlertStore finds no table).
			return;
		}
		$updater->addExtensionTable( AlertStore::TABLE, "$dir/$type/tables.sql" );
	}
}
