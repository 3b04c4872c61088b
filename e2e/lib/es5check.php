<?php
// Parses JavaScript files with the parser of the MediaWiki in MW_DIR, as that version judges them.
// 1.39: JSMinPlus, the ES5 parser behind $wgResourceLoaderValidateJS (1.39 still serves modules
// to ES5-only browsers, so a module without "es6": true must be ES5). 1.43 (JSMinPlus is gone,
// every browser it serves runs ES6): Peast in ES2016 mode, as its ResourceLoader validates scripts.
// Usage: php es5check.php MW_DIR FILE...   Prints "ES5 OK: FILE" or "ES2016 OK: FILE" per file.
$mw = $argv[1];
if ( is_file( "$mw/includes/libs/jsminplus.php" ) ) {
	require "$mw/includes/libs/jsminplus.php";
	$mode = 'ES5';
	$parse = static function ( string $code, string $file ): void {
		$parser = new JSParser();
		// phpcs:ignore Generic.PHP.NoSilencedErrors.Discouraged
		@$parser->parse( $code, $file, 1 );
	};
} elseif ( is_file( "$mw/vendor/mck89/peast/lib/Peast/Peast.php" ) ) {
	spl_autoload_register( static function ( string $class ) use ( $mw ): void {
		if ( str_starts_with( $class, 'Peast\\' ) ) {
			require "$mw/vendor/mck89/peast/lib/" . str_replace( '\\', '/', $class ) . '.php';
		}
	} );
	$mode = 'ES2016';
	$parse = static function ( string $code, string $file ): void {
		Peast\Peast::ES2016( $code )->parse();
	};
} else {
	fwrite( STDERR, "no JavaScript parser of MediaWiki in $mw\n" );
	exit( 2 );
}
$rc = 0;
foreach ( array_slice( $argv, 2 ) as $file ) {
	try {
		$parse( file_get_contents( $file ), $file );
		echo "$mode OK: $file\n";
	} catch ( Exception $e ) {
		echo "NOT $mode: $file: {$e->getMessage()}\n";
		$rc = 1;
	}
}
exit( $rc );
