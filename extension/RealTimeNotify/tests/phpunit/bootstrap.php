<?php
/**
 * Bootstrap for the extension's unit tests, for installations without MediaWiki's own
 * PHPUnit bootstrap (Debian's mediawiki package ships no tests/). It loads only MediaWiki's
 * class autoloader, constants and global functions (a Job's constructor calls one): the classes
 * under test need no services, config or database.
 *
 * MW_INSTALL_PATH selects the MediaWiki core to load classes from (default /usr/share/mediawiki).
 */

$mwPath = getenv( 'MW_INSTALL_PATH' ) ?: '/usr/share/mediawiki';
if ( !is_file( "$mwPath/includes/AutoLoader.php" ) ) {
	fwrite( STDERR, "MediaWiki not found in $mwPath (set MW_INSTALL_PATH)\n" );
	exit( 1 );
}
if ( !defined( 'MW_INSTALL_PATH' ) ) {
	define( 'MW_INSTALL_PATH', $mwPath );
}
if ( !defined( 'MEDIAWIKI' ) ) {
	define( 'MEDIAWIKI', true );
}

require_once "$mwPath/includes/AutoLoader.php";
require_once "$mwPath/includes/Defines.php";
require_once "$mwPath/includes/GlobalFunctions.php";

// The extension's own classes (what extension.json's AutoloadNamespaces does in a wiki).
spl_autoload_register( static function ( string $class ) {
	$prefixes = [
		'MediaWiki\\Extension\\RealTimeNotify\\Tests\\' => __DIR__ . '/',
		'MediaWiki\\Extension\\RealTimeNotify\\' => dirname( __DIR__, 2 ) . '/includes/',
	];
	foreach ( $prefixes as $prefix => $dir ) {
		if ( strncmp( $class, $prefix, strlen( $prefix ) ) === 0 ) {
			$file = $dir . str_replace( '\\', '/', substr( $class, strlen( $prefix ) ) ) . '.php';
			if ( is_file( $file ) ) {
				require_once $file;
			}
			return;
		}
	}
} );
