<?php
// Router of the test wikis' `php -S` (e2e/wiki.sh serve). Without one, PHP's built-in server
// answers a request for a file that does not exist (a browser's /favicon.ico) by running
// index.php: MediaWiki then runs with the browser's session cookie alongside its other requests.
// One that overlaps a login can replace the freshly signed-in session with a new anonymous one
// (the cookies still name the user, the session does not: signed out on the next page), which
// happened on 1.43's slower pages. A real web server answers such a request with a 404 of its
// own, and so does this.
$path = parse_url( $_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH );
if ( $path === '/favicon.ico' || $path === '/apple-touch-icon.png' ) {
	http_response_code( 404 );
	header( 'Content-Type: text/plain' );
	echo "Not found\n";
	return true;
}
// Everything else as without a router: existing files, and index.php, api.php, load.php (with
// their path info).
return false;
