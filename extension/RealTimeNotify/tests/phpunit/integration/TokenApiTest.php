<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Integration;

use ApiMain;
use ApiUsageException;
use FauxRequest;
use MediaWiki\Extension\RealTimeNotify\Api\ApiRealTimeNotifyToken;
use MediaWiki\Extension\RealTimeNotify\TokenIssuer;
use RequestContext;
use User;

/**
 * action=realtimenotifytoken through the wiki's real API (ApiMain, its module manager, sessions
 * and CSRF tokens), on the integration wiki (private: anonymous users may not read).
 *
 * @covers \MediaWiki\Extension\RealTimeNotify\Api\ApiRealTimeNotifyToken
 */
class TokenApiTest extends WikiTestCase {

	private const SECRET = 'integration-secret-0123456789-abcdefghijklmnop';

	/**
	 * A request to the wiki's API (ApiMain with its module manager, permission and CSRF checks;
	 * with a FauxRequest ApiMain runs in its internal mode, which skips only the HTTP method
	 * check: see testOnlyPostWithACsrfToken).
	 *
	 * @param User $user
	 * @param array $params More API parameters
	 * @param bool $withCsrf
	 * @return array The answer: [ 'realtimenotifytoken' => ... ] or [ 'error' => [ 'code' => ... ] ]
	 */
	private function call( User $user, array $params = [], bool $withCsrf = true ): array {
		$request = new FauxRequest( [ 'action' => 'realtimenotifytoken' ] + $params, true );
		$context = new RequestContext();
		$context->setRequest( $request );
		$context->setUser( $user );
		if ( $withCsrf ) {
			// The token the API checks: this user's, in this request's session.
			$request->setVal( 'token', \ApiQueryTokens::getToken( $user, $request->getSession(),
				\ApiQueryTokens::getTokenTypeSalts()['csrf'] )->toString() );
		}
		$main = new ApiMain( $context, true );
		try {
			$main->execute();
		} catch ( ApiUsageException $e ) {
			return self::error( $e );
		}
		return $main->getResult()->getResultData( null, [ 'Strip' => 'all' ] );
	}

	private static function error( ApiUsageException $e ): array {
		return [ 'error' => [ 'code' => \ApiMessage::create( $e->getStatusValue()->getErrors()[0] )->getApiCode() ] ];
	}

	/**
	 * @param string $jwt
	 * @return array Its claims, after checking the signature with the wiki's secret
	 */
	private function verify( string $jwt ): array {
		$parts = explode( '.', $jwt );
		$this->assertCount( 3, $parts );
		$decode = static function ( string $part ) {
			return base64_decode( strtr( $part, '-_', '+/' ) . str_repeat( '=', ( 4 - strlen( $part ) % 4 ) % 4 ) );
		};
		$this->assertSame( [ 'alg' => 'HS256', 'typ' => 'JWT' ], json_decode( $decode( $parts[0] ), true ) );
		$this->assertTrue( hash_equals( hash_hmac( 'sha256', "$parts[0].$parts[1]", self::SECRET, true ), $decode( $parts[2] ) ),
			'signed with $wgRealTimeNotifySecret' );
		return json_decode( $decode( $parts[1] ), true );
	}

	private function assertRefused( array $answer, string $code, string $why = '' ): void {
		$this->assertSame( $code, $answer['error']['code'] ?? null, $why . ' ' . json_encode( $answer ) );
		$this->assertArrayNotHasKey( 'realtimenotifytoken', $answer );
	}

	/**
	 * @param ApiRealTimeNotifyToken $module
	 * @return array The module's error, as the API would answer it
	 */
	private function runModule( ApiRealTimeNotifyToken $module ): array {
		try {
			$module->execute();
		} catch ( ApiUsageException $e ) {
			return self::error( $e );
		}
		return $module->getResult()->getResultData();
	}

	public function testAReaderGetsASignedTokenWithTheirIdAndRights() {
		$before = time();
		$result = $this->call( self::user( 'Alice' ) )['realtimenotifytoken'];
		$claims = $this->verify( $result['token'] );
		$this->assertSame( 'realtimenotify', $claims['iss'] );
		$this->assertSame( 'testwiki', $claims['aud'] );
		$this->assertSame( (string)self::id( 'Alice' ), $claims['sub'] );
		$this->assertSame( 'Alice', $claims['name'] );
		$this->assertSame( [ 'read' ], $claims['rights'], 'read (private wikis make changes visible to it), nothing more' );
		$this->assertSame( $claims['exp'], $result['expires'] );
		$this->assertGreaterThanOrEqual( $before + 300, $claims['exp'] );
		$this->assertMatchesRegularExpression( '/^[0-9a-f]{32}$/', $claims['jti'] );
		$this->assertNotSame( $claims['jti'], $this->verify( $this->call( self::user( 'Alice' ) )['realtimenotifytoken']['token'] )['jti'],
			'single use: a new jti each time' );
	}

	public function testAPatrollersTokenCarriesTheAlertRight() {
		$claims = $this->verify( $this->call( self::user( 'Patty' ) )['realtimenotifytoken']['token'] );
		$this->assertSame( [ 'read', 'patrol' ], $claims['rights'] );
	}

	public function testAnonymousVisitorsGetNone() {
		$anon = self::services()->getUserFactory()->newAnonymous( '192.0.2.9' );
		// This wiki is private: the API refuses non-readers before the module runs.
		$this->assertRefused( $this->call( $anon ), 'readapidenied' );
	}

	public function testAUserWhoMayNotReadGetsNone() {
		$dave = self::user( 'Dave' );
		self::services()->getUserGroupManager()->addUserToGroup( $dave, 'noread' );
		try {
			$dave = self::user( 'Dave' );
			$this->assertRefused( $this->call( $dave ), 'readapidenied' );
			// And the module itself refuses too (on a wiki anonymous users may read, ApiMain
			// would let it run).
			$main = new ApiMain( RequestContext::newExtraneousContext( \Title::newMainPage() ), true, true );
			$main->getContext()->setUser( $dave );
			$module = new ApiRealTimeNotifyToken( $main, 'realtimenotifytoken', self::services()->get( 'RealTimeNotify.TokenIssuer' ) );
			$this->assertRefused( $this->runModule( $module ), 'permissiondenied' );
		} finally {
			self::services()->getUserGroupManager()->removeUserFromGroup( self::user( 'Dave' ), 'noread' );
		}
	}

	public function testOnlyPostWithACsrfToken() {
		// POST only: ApiMain refuses a GET of such a module over HTTP (apierror-mustbeposted);
		// a token requires POST, or ApiMain throws.
		$module = new ApiRealTimeNotifyToken( new ApiMain( RequestContext::newExtraneousContext( \Title::newMainPage() ) ),
			'realtimenotifytoken', self::services()->get( 'RealTimeNotify.TokenIssuer' ) );
		$this->assertTrue( $module->mustBePosted() );
		$this->assertSame( 'csrf', $module->needsToken() );
		$this->assertRefused( $this->call( self::user( 'Alice' ), [], false ), 'missingparam' );
		$this->assertRefused( $this->call( self::user( 'Alice' ), [ 'token' => 'forged+\\' ], false ), 'badtoken' );
		$this->assertRefused( $this->call( self::user( 'Alice' ), [ 'token' => '+\\' ], false ), 'badtoken',
			'a logged-out token' );
	}

	public function testNoTokensWithoutAStrongSecret() {
		foreach ( [ '' => 'realtimenotify-nosecret', 'too-short' => 'realtimenotify-weaksecret' ] as $secret => $code ) {
			$main = new ApiMain( RequestContext::newExtraneousContext( \Title::newMainPage() ), true, true );
			$main->getContext()->setUser( self::user( 'Alice' ) );
			$module = new ApiRealTimeNotifyToken( $main, 'realtimenotifytoken', new TokenIssuer( (string)$secret, 'testwiki', 300 ) );
			$this->assertRefused( $this->runModule( $module ), $code );
		}
	}
}
