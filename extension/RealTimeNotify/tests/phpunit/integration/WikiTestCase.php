<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Integration;

use MediaWiki\MediaWikiServices;
use PHPUnit\Framework\TestCase;
use User;
use Wikimedia\Rdbms\IDatabase;

/**
 * Base of the tests that run in the real integration wiki (integration.sh): its accounts
 * (Admin: sysop; Alice, Carol, Dave, Patty: live notifications on; Bob: off; Patty: patroller)
 * and its database.
 */
abstract class WikiTestCase extends TestCase {

	protected static function services(): MediaWikiServices {
		return MediaWikiServices::getInstance();
	}

	protected static function user( string $name ): User {
		$user = self::services()->getUserFactory()->newFromName( $name );
		if ( !$user || !$user->isRegistered() ) {
			throw new \RuntimeException( "no account $name in the integration wiki" );
		}
		return $user;
	}

	protected static function id( string $name ): int {
		return self::user( $name )->getId();
	}

	protected static function db(): IDatabase {
		return self::services()->getDBLoadBalancer()->getConnection( DB_PRIMARY );
	}
}
