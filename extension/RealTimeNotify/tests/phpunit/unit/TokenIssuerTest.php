<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Unit;

use MediaWiki\Extension\RealTimeNotify\TokenIssuer;
use PHPUnit\Framework\TestCase;
use RuntimeException;

/**
 * @covers \MediaWiki\Extension\RealTimeNotify\TokenIssuer
 */
class TokenIssuerTest extends TestCase {

	private const NOW = 1764032523;

	private function issuer( string $secret = 'a-secret-of-at-least-32-bytes-abc', int $ttl = 300 ): TokenIssuer {
		return new TokenIssuer( $secret, 'testwiki', $ttl, static function () {
			return self::NOW;
		} );
	}

	private static function payload( string $token ): array {
		$part = explode( '.', $token )[1];
		return json_decode( base64_decode( strtr( $part, '-_', '+/' ) ), true, 512, JSON_THROW_ON_ERROR );
	}

	public function testClaims() {
		$issued = $this->issuer()->issue( 7, 'Alice', [ 'edit', 'bot', 'read', 'patrol', 'delete' ] );
		$claims = self::payload( $issued['token'] );

		$this->assertSame( $issued['claims'], $claims );
		$this->assertSame( 'realtimenotify', $claims['iss'] );
		$this->assertSame( 'testwiki', $claims['aud'] );
		$this->assertSame( '7', $claims['sub'], 'sub is a string' );
		$this->assertSame( 'Alice', $claims['name'] );
		$this->assertSame( [ 'read', 'patrol', 'bot' ], $claims['rights'], 'only the rights the gateway uses' );
		$this->assertSame( self::NOW, $claims['iat'] );
		$this->assertSame( self::NOW, $claims['nbf'] );
		$this->assertSame( self::NOW + 300, $claims['exp'] );
		$this->assertSame( self::NOW + 300, $issued['expires'] );
		$this->assertMatchesRegularExpression( '/^[0-9a-f]{32}$/', $claims['jti'] );
	}

	public function testSignatureVerifiesWithTheSecretOnly() {
		$secret = str_repeat( 'the-secret', 4 );
		$token = $this->issuer( $secret )->issue( 1, 'Admin', [ 'read' ] )['token'];
		[ $h, $p, $s ] = explode( '.', $token );
		$sig = base64_decode( strtr( $s, '-_', '+/' ) );
		$this->assertTrue( hash_equals( hash_hmac( 'sha256', "$h.$p", $secret, true ), $sig ) );
		$this->assertFalse( hash_equals( hash_hmac( 'sha256', "$h.$p", 'another-secret', true ), $sig ) );
	}

	public function testEveryTokenHasItsOwnJti() {
		$issuer = $this->issuer();
		$jtis = [];
		for ( $i = 0; $i < 20; $i++ ) {
			$jtis[] = $issuer->issue( 7, 'Alice', [ 'read' ] )['claims']['jti'];
		}
		$this->assertCount( 20, array_unique( $jtis ) );
	}

	public function testNoRights() {
		$claims = $this->issuer()->issue( 7, 'Alice', [] )['claims'];
		$this->assertSame( [], $claims['rights'] );
		$this->assertSame( '[]', json_encode( $claims['rights'] ), 'encodes as a JSON array' );
	}

	public function testTtl() {
		$this->assertSame( self::NOW + 60, $this->issuer( str_repeat( 'k', 32 ), 60 )->issue( 1, 'A', [] )['expires'] );
		$this->assertSame( self::NOW + 1, $this->issuer( str_repeat( 'k', 32 ), 0 )->issue( 1, 'A', [] )['expires'], 'at least 1 s' );
	}

	public function testShortSecretIsRefusedLikeTheGatewayDoes() {
		$issuer = $this->issuer( str_repeat( 'x', 31 ) );
		$this->assertTrue( $issuer->isEnabled() );
		$this->assertFalse( $issuer->isSecretStrong() );
		$this->assertTrue( $this->issuer( str_repeat( 'x', 32 ) )->isSecretStrong() );
		$this->expectException( RuntimeException::class );
		$issuer->issue( 7, 'Alice', [ 'read' ] );
	}

	public function testWithoutSecret() {
		$issuer = $this->issuer( '' );
		$this->assertFalse( $issuer->isEnabled() );
		$this->expectException( RuntimeException::class );
		$issuer->issue( 7, 'Alice', [ 'read' ] );
	}

	public function testTheAlertRightIsCarriedToo() {
		$issuer = new TokenIssuer( str_repeat( 'k', 32 ), 'testwiki', 300, null, [ 'rollback', 'patrol', '' ] );
		$this->assertSame( [ 'read', 'patrol', 'bot', 'rollback' ], $issuer->getRights() );
		$claims = $issuer->issue( 7, 'Patty', [ 'edit', 'rollback', 'read' ] )['claims'];
		$this->assertSame( [ 'read', 'rollback' ], $claims['rights'] );
		$this->assertSame( '7', $claims['sub'], 'the user id the gateway matches audiences against' );
	}
}
