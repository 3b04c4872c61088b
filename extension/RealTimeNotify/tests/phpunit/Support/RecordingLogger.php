<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Support;

use Psr\Log\AbstractLogger;

/**
 * Keeps every log record, with {placeholders} interpolated.
 */
class RecordingLogger extends AbstractLogger {

	/** @var array[] [ level, message, context ] */
	public $records = [];

	/** @inheritDoc */
	public function log( $level, $message, array $context = [] ): void {
		$message = preg_replace_callback( '/\{(\w+)\}/', static function ( $m ) use ( $context ) {
			return isset( $context[$m[1]] ) && is_scalar( $context[$m[1]] ) ? (string)$context[$m[1]] : $m[0];
		}, (string)$message );
		$this->records[] = [ $level, $message, $context ];
	}

	/**
	 * @param string $level
	 * @return string[] Messages logged at that level
	 */
	public function messages( string $level ): array {
		return array_values( array_map( static function ( $r ) {
			return $r[1];
		}, array_filter( $this->records, static function ( $r ) use ( $level ) {
			return $r[0] === $level;
		} ) ) );
	}
}
