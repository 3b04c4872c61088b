<?php
// Parses JavaScript files with MediaWiki's own ES5 parser (JSMinPlus, the one behind
// $wgResourceLoaderValidateJS): MediaWiki 1.39 still serves modules to ES5-only browsers, so a
// module without "es6": true must be ES5. Usage: php es5check.php MW_DIR FILE...
require $argv[1] . '/includes/libs/jsminplus.php';
$rc = 0;
foreach ( array_slice( $argv, 2 ) as $file ) {
	$parser = new JSParser();
	try {
		// phpcs:ignore Generic.PHP.NoSilencedErrors.Discouraged
		@$parser->parse( file_get_contents( $file ), $file, 1 );
		echo "ES5 OK: $file\n";
	} catch ( Exception $e ) {
		echo "NOT ES5: $file: {$e->getMessage()}\n";
		$rc = 1;
	}
}
exit( $rc );
