<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Support;

/**
 * Stands in for a phpredis handle: records the commands RedisTransport issues.
 */
class FakeRedis {

	/** @var array[] [ method, args ] */
	public $calls = [];
	/** @var mixed What publish() returns */
	public $publishResult = 1;
	/** @var mixed What xAdd()/rawCommand() return */
	public $xaddResult = '1764032523000-0';
	/** @var string|null */
	public $lastError;

	public function publish( ...$args ) {
		$this->calls[] = [ 'publish', $args ];
		return $this->publishResult;
	}

	public function xAdd( ...$args ) {
		$this->calls[] = [ 'xAdd', $args ];
		return $this->xaddResult;
	}

	public function rawCommand( ...$args ) {
		$this->calls[] = [ 'rawCommand', $args ];
		return $this->xaddResult;
	}

	public function getLastError() {
		return $this->lastError;
	}
}
