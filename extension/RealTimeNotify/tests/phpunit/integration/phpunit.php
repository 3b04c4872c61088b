<?php
/**
 * Runs PHPUnit inside the real wiki whose settings file is $MW_CONFIG_FILE (integration.sh makes
 * one with e2e/wiki.sh), booted as a maintenance script is: MediaWiki's Setup.php and the
 * LocalSettings.php it loads must run in the global scope, which a PHPUnit bootstrap file
 * (included inside a function) does not give. The arguments are PHPUnit's.
 *
 *   MW_CONFIG_FILE=/path/LocalSettings.php php integration/phpunit.php -c integration.xml
 */

if ( PHP_SAPI !== 'cli' ) {
	exit( 1 );
}
if ( !getenv( 'MW_CONFIG_FILE' ) || !is_file( getenv( 'MW_CONFIG_FILE' ) ) ) {
	fwrite( STDERR, "Set MW_CONFIG_FILE to a wiki's LocalSettings.php (see integration.sh)\n" );
	exit( 1 );
}

define( 'MW_ENTRY_POINT', 'cli' );
define( 'MEDIAWIKI', true );
$wgCommandLineMode = true;
require_once ( getenv( 'MW_INSTALL_PATH' ) ?: '/usr/share/mediawiki' ) . '/includes/BootstrapHelperFunctions.php';
$IP = wfDetectInstallPath();
require_once "$IP/includes/Setup.php";

// PHPUnit as Debian's /usr/bin/phpunit loads it.
require 'PHPUnit/Autoload.php';
PHPUnit\TextUI\Command::main();
