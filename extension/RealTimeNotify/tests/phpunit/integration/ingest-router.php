<?php
/**
 * Router for PHP's built-in server, standing in for the gateway's POST /v1/events in the
 * integration tests (IngestServer). Every request is appended to $RTN_INGEST_DIR/requests.jsonl.
 *
 *   /status/NNN  answers NNN (302 with a Location header)
 *   /sleep       answers 202 after 3 seconds
 *   /ingest      answers what $RTN_INGEST_DIR/mode holds (a status code; 202 when absent)
 */
$dir = getenv( 'RTN_INGEST_DIR' );
$path = parse_url( $_SERVER['REQUEST_URI'], PHP_URL_PATH );
$headers = function_exists( 'getallheaders' ) ? getallheaders() : [];
file_put_contents( "$dir/requests.jsonl", json_encode( [
	'method' => $_SERVER['REQUEST_METHOD'],
	'path' => $path,
	'headers' => array_change_key_case( $headers, CASE_LOWER ),
	'body' => file_get_contents( 'php://input' ),
] ) . "\n", FILE_APPEND | LOCK_EX );

if ( preg_match( '#^/status/(\d{3})$#', $path, $m ) ) {
	$status = (int)$m[1];
} elseif ( $path === '/sleep' ) {
	sleep( 3 );
	$status = 202;
} else {
	$mode = @file_get_contents( "$dir/mode" );
	$status = $mode ? (int)$mode : 202;
}
http_response_code( $status );
if ( $status === 302 ) {
	header( 'Location: /status/202' );
}
header( 'Content-Type: application/json' );
echo $status < 300 ? '{"id":"1764032523000-0"}' : '{"error":"status ' . $status . '"}';
