<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Unit;

use InvalidArgumentException;
use MediaWiki\Extension\RealTimeNotify\Jwt;
use PHPUnit\Framework\TestCase;

/**
 * @covers \MediaWiki\Extension\RealTimeNotify\Jwt
 */
class JwtTest extends TestCase {

	private static function b64urlDecode( string $s ): string {
		$decoded = base64_decode( strtr( $s, '-_', '+/' ) . str_repeat( '=', ( 4 - strlen( $s ) % 4 ) % 4 ), true );
		if ( $decoded === false ) {
			throw new \UnexpectedValueException( "not base64url: $s" );
		}
		return $decoded;
	}

	public function testKnownAnswer() {
		// The widely published HS256 example token (jwt.io).
		$this->assertSame(
			'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.' .
				'eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.' .
				'SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
			Jwt::encodeHS256( [ 'sub' => '1234567890', 'name' => 'John Doe', 'iat' => 1516239022 ], 'your-256-bit-secret' )
		);
	}

	public function testStructureAndSignature() {
		$claims = [ 'iss' => 'realtimenotify', 'sub' => '7', 'name' => 'Ünïcode/Name', 'exp' => 2000000000 ];
		$token = Jwt::encodeHS256( $claims, 'k3y' );

		$parts = explode( '.', $token );
		$this->assertCount( 3, $parts );
		foreach ( $parts as $part ) {
			$this->assertMatchesRegularExpression( '/^[A-Za-z0-9_-]+$/', $part, 'base64url without padding' );
		}
		$this->assertSame( [ 'alg' => 'HS256', 'typ' => 'JWT' ], json_decode( self::b64urlDecode( $parts[0] ), true ) );
		$this->assertSame( $claims, json_decode( self::b64urlDecode( $parts[1] ), true ) );

		$expected = hash_hmac( 'sha256', "$parts[0].$parts[1]", 'k3y', true );
		$this->assertTrue( hash_equals( $expected, self::b64urlDecode( $parts[2] ) ), 'HMAC-SHA256 verifies' );
		$wrongKey = hash_hmac( 'sha256', "$parts[0].$parts[1]", 'other', true );
		$this->assertFalse( hash_equals( $wrongKey, self::b64urlDecode( $parts[2] ) ) );
	}

	public function testEmptyClaimsAreAnObject() {
		$parts = explode( '.', Jwt::encodeHS256( [], 'k' ) );
		$this->assertSame( '{}', self::b64urlDecode( $parts[1] ) );
	}

	public function testBase64UrlAlphabet() {
		// 0xfb 0xff encodes to "+/8=" in standard base64.
		$this->assertSame( '-_8', Jwt::base64UrlEncode( "\xfb\xff" ) );
		$this->assertSame( '', Jwt::base64UrlEncode( '' ) );
	}

	public function testEmptyKeyIsRefused() {
		$this->expectException( InvalidArgumentException::class );
		Jwt::encodeHS256( [ 'a' => 1 ], '' );
	}
}
