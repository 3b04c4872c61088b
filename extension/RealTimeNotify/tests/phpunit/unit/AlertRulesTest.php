<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Unit;

use HashConfig;
use MediaWiki\Extension\RealTimeNotify\Targeting\AlertRules;
use PHPUnit\Framework\TestCase;

/**
 * @covers \MediaWiki\Extension\RealTimeNotify\Targeting\AlertRules
 */
class AlertRulesTest extends TestCase {

	private const NOW = 1764032523;

	public static function provideRemoval() {
		// [ old size, new size, revert, expected ] with the defaults: blanking <= 10 bytes,
		// removal >= 2000 bytes, or >= 50 % and >= 200 bytes.
		return [
			'blanked to nothing' => [ 5000, 0, false, [ 'blanking' ] ],
			'a tiny page blanked' => [ 3, 0, false, [ 'blanking' ] ],
			'replaced with "lol"' => [ 5000, 3, false, [ 'blanking' ] ],
			'at the blanking threshold' => [ 5000, 10, false, [ 'blanking' ] ],
			'just above it: large removal' => [ 5000, 11, false, [ 'large_removal' ] ],
			'a tiny page shrinking is not blanking' => [ 8, 3, false, [] ],
			'blanking by a revert is still blanking' => [ 5000, 0, true, [ 'blanking' ] ],
			'2000 bytes removed' => [ 100000, 98000, false, [ 'large_removal' ] ],
			'1999 bytes removed of a big page' => [ 100000, 98001, false, [] ],
			'half of the page' => [ 1000, 500, false, [ 'large_removal' ] ],
			'less than half' => [ 1000, 501, false, [] ],
			'half, but under 200 bytes' => [ 300, 150, false, [] ],
			'a revert removing a lot' => [ 100000, 50000, true, [] ],
			'growth' => [ 100, 5000, false, [] ],
			'no change' => [ 100, 100, false, [] ],
			'unknown old size' => [ null, 0, false, [] ],
			'empty page stays empty' => [ 0, 0, false, [] ],
		];
	}

	/**
	 * @dataProvider provideRemoval
	 */
	public function testRemovalReasons( ?int $old, int $new, bool $revert, array $expected ) {
		$this->assertSame( $expected, ( new AlertRules() )->removalReasons( $old, $new, $revert ) );
	}

	public function testRemovalThresholdsAreConfigurable() {
		$rules = new AlertRules( [ 'removalBytes' => 100, 'removalFraction' => 0, 'blankingBytes' => 0 ] );
		$this->assertSame( [ 'large_removal' ], $rules->removalReasons( 100000, 99900, false ) );
		$this->assertSame( [], $rules->removalReasons( 1000, 901, false ), 'fraction rule off' );
		$this->assertSame( [ 'large_removal' ], $rules->removalReasons( 5000, 3, false ), 'only 0 bytes is blanking' );
		$this->assertSame( [ 'blanking' ], $rules->removalReasons( 5000, 0, false ) );

		$rules = new AlertRules( [ 'removalBytes' => 0, 'removalFraction' => 0.9, 'removalMinBytes' => 10 ] );
		$this->assertSame( [], $rules->removalReasons( 100000, 50000, false ), 'byte rule off' );
		$this->assertSame( [ 'large_removal' ], $rules->removalReasons( 1000, 100, false ) );
	}

	public function testNewUser() {
		$rules = new AlertRules( [ 'newUserDays' => 7, 'newUserEdits' => 50 ] );
		$day = 86400;
		$ts = static function ( int $unix ) {
			return gmdate( 'YmdHis', $unix );
		};
		$this->assertTrue( $rules->isNewUser( $ts( self::NOW - 6 * $day ), 500, self::NOW ), 'registered 6 days ago' );
		$this->assertFalse( $rules->isNewUser( $ts( self::NOW - 8 * $day ), 500, self::NOW ), '8 days, 500 edits' );
		$this->assertTrue( $rules->isNewUser( $ts( self::NOW - 800 * $day ), 49, self::NOW ), 'old but 49 edits' );
		$this->assertFalse( $rules->isNewUser( $ts( self::NOW - 800 * $day ), 50, self::NOW ) );
		$this->assertFalse( $rules->isNewUser( null, 1000, self::NOW ), 'registered before 2005' );
		$this->assertTrue( $rules->isNewUser( null, 3, self::NOW ) );
		$this->assertFalse( $rules->isNewUser( $ts( self::NOW - 800 * $day ), null, self::NOW ), 'unknown edit count' );

		$off = new AlertRules( [ 'newUserDays' => 0, 'newUserEdits' => 0 ] );
		$this->assertFalse( $off->isNewUser( $ts( self::NOW - 60 ), 0, self::NOW ), 'both rules off' );
	}

	public function testExposureReasons() {
		$rules = new AlertRules( [ 'watchersThreshold' => 30 ] );
		$yes = static function () {
			return true;
		};
		$no = static function () {
			return false;
		};
		$thirty = static function () {
			return 30;
		};
		$few = static function () {
			return 29;
		};
		$this->assertSame( [ 'anon_protected', 'anon_watched' ], $rules->exposureReasons( 'anon', $yes, $thirty ) );
		$this->assertSame( [ 'new_user_protected' ], $rules->exposureReasons( 'new_user', $yes, $few ) );
		$this->assertSame( [ 'new_user_watched' ], $rules->exposureReasons( 'new_user', $no, $thirty ) );
		$this->assertSame( [], $rules->exposureReasons( 'anon', $no, $few ) );

		$never = function () {
			$this->fail( 'looked up for an established user' );
		};
		$this->assertSame( [], $rules->exposureReasons( null, $never, $never ) );

		$off = new AlertRules( [ 'watchersThreshold' => 0 ] );
		$this->assertSame( [], $off->exposureReasons( 'anon', $no, $never ), 'threshold 0: watchers never counted' );
	}

	public function testExemptRightsIncludeTheAlertRight() {
		$this->assertSame( [ 'patrol', 'bot', 'autopatrol' ], ( new AlertRules() )->getExemptRights() );
		$rules = new AlertRules( [ 'right' => 'rollback', 'exemptRights' => [ 'bot', 'rollback' ] ] );
		$this->assertSame( [ 'rollback', 'bot' ], $rules->getExemptRights() );
		$this->assertTrue( $rules->isEnabled() );
		$this->assertFalse( ( new AlertRules( [ 'right' => '' ] ) )->isEnabled() );
	}

	public function testNormalizeReasons() {
		$this->assertSame( [ 'blanking', 'x_1' ],
			AlertRules::normalizeReasons( [ 'blanking', 'Bad Code', 'blanking', '', 'x_1', str_repeat( 'a', 33 ) ] ) );
		$this->assertCount( 8, AlertRules::normalizeReasons( array_map( static function ( $i ) {
			return "r$i";
		}, range( 1, 12 ) ) ) );
	}

	public function testFromConfig() {
		$rules = AlertRules::fromConfig( new HashConfig( [
			'RealTimeNotifyAlertRight' => 'patrol',
			'RealTimeNotifyAlertExemptRights' => [ 'bot' ],
			'RealTimeNotifyAlertBlankingBytes' => 0,
			'RealTimeNotifyAlertRemovalBytes' => 500,
			'RealTimeNotifyAlertRemovalFraction' => 0,
			'RealTimeNotifyAlertRemovalMinBytes' => 200,
			'RealTimeNotifyAlertNewUserDays' => 1,
			'RealTimeNotifyAlertNewUserEdits' => 0,
			'RealTimeNotifyAlertWatchersThreshold' => 5,
		] ) );
		$this->assertSame( [ 'patrol', 'bot' ], $rules->getExemptRights() );
		$this->assertSame( 5, $rules->getWatchersThreshold() );
		$this->assertSame( [ 'large_removal' ], $rules->removalReasons( 10000, 9500, false ) );
	}

	public function testExtensionJsonDefaultsMatchTheClassDefaults() {
		$json = json_decode( file_get_contents( dirname( __DIR__, 3 ) . '/extension.json' ), true );
		$config = [];
		foreach ( $json['config'] as $name => $spec ) {
			$config[$name] = $spec['value'];
		}
		$fromJson = AlertRules::fromConfig( new HashConfig( $config ) );
		$default = new AlertRules();
		$this->assertEquals( $default, $fromJson );
	}
}
