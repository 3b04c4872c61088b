<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Integration;

use RuntimeException;

/**
 * PHP's built-in server with ingest-router.php: a real HTTP endpoint for HttpTransport and the
 * retry jobs, on the port the integration wiki's $wgRealTimeNotifyIngestUrl names
 * ($RTN_INGEST_PORT), or any port given.
 */
class IngestServer {

	/** @var resource */
	private $process;
	/** @var string */
	private $dir;
	/** @var int */
	public $port;

	public function __construct( int $port ) {
		$this->port = $port;
		$this->dir = sys_get_temp_dir() . '/rtn-ingest-' . bin2hex( random_bytes( 6 ) );
		mkdir( $this->dir );
		$this->process = proc_open(
			[ PHP_BINARY, '-S', "127.0.0.1:$port", __DIR__ . '/ingest-router.php' ],
			[ 0 => [ 'file', '/dev/null', 'r' ], 1 => [ 'file', "{$this->dir}/server.log", 'a' ],
				2 => [ 'file', "{$this->dir}/server.log", 'a' ] ],
			$pipes,
			null,
			[ 'RTN_INGEST_DIR' => $this->dir, 'PATH' => getenv( 'PATH' ) ]
		);
		if ( !is_resource( $this->process ) ) {
			throw new RuntimeException( 'could not start php -S' );
		}
		$deadline = microtime( true ) + 10;
		while ( !$this->accepts() ) {
			if ( microtime( true ) > $deadline ) {
				$this->stop();
				throw new RuntimeException( "php -S did not listen on $port" );
			}
			usleep( 50000 );
		}
	}

	public static function fromEnvironment(): self {
		$port = (int)getenv( 'RTN_INGEST_PORT' );
		if ( $port <= 0 ) {
			throw new RuntimeException( 'RTN_INGEST_PORT is not set (run integration.sh)' );
		}
		return new self( $port );
	}

	private function accepts(): bool {
		$socket = @fsockopen( '127.0.0.1', $this->port, $errno, $errstr, 0.2 );
		if ( $socket ) {
			fclose( $socket );
			return true;
		}
		return false;
	}

	public function url( string $path ): string {
		return "http://127.0.0.1:{$this->port}$path";
	}

	/**
	 * @param int|null $status What /ingest answers from now on (null: 202)
	 */
	public function answer( ?int $status ): void {
		if ( $status === null ) {
			@unlink( "{$this->dir}/mode" );
		} else {
			file_put_contents( "{$this->dir}/mode", (string)$status );
		}
	}

	/**
	 * @return array[] Every request so far: method, path, headers (lower-case names), body
	 */
	public function requests(): array {
		$file = "{$this->dir}/requests.jsonl";
		if ( !is_file( $file ) ) {
			return [];
		}
		return array_map( static function ( $line ) {
			return json_decode( $line, true );
		}, array_filter( explode( "\n", (string)file_get_contents( $file ) ) ) );
	}

	public function stop(): void {
		if ( is_resource( $this->process ) ) {
			proc_terminate( $this->process );
			proc_close( $this->process );
		}
		foreach ( glob( "{$this->dir}/*" ) ?: [] as $file ) {
			unlink( $file );
		}
		@rmdir( $this->dir );
	}
}
