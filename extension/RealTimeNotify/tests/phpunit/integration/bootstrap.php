<?php
/**
 * Bootstrap of the integration suite, run by integration/phpunit.php after it booted the real
 * wiki: only the test classes' autoloader (extension.json's TestAutoloadNamespaces apply only
 * under MediaWiki's own test runner).
 */

if ( !defined( 'MW_SETUP_CALLBACK' ) && !class_exists( MediaWiki\MediaWikiServices::class, false ) ) {
	fwrite( STDERR, "Run this suite with integration.sh (it boots a wiki first)\n" );
	exit( 1 );
}

spl_autoload_register( static function ( string $class ) {
	$prefixes = [
		'MediaWiki\\Extension\\RealTimeNotify\\Tests\\Integration\\' => __DIR__ . '/',
		'MediaWiki\\Extension\\RealTimeNotify\\Tests\\' => dirname( __DIR__ ) . '/',
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
