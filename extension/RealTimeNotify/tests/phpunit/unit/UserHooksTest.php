<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Unit;

use HashConfig;
use MediaWiki\Extension\RealTimeNotify\Hooks\UserHooks;
use MediaWiki\User\UserOptionsLookup;
use OutputPage;
use PHPUnit\Framework\TestCase;
use User;

/**
 * @covers \MediaWiki\Extension\RealTimeNotify\Hooks\UserHooks
 */
class UserHooksTest extends TestCase {

	private function config( array $overrides = [] ): HashConfig {
		return new HashConfig( $overrides + [
			'RealTimeNotifyGatewayUrl' => 'ws://127.0.0.1:8080/v1/ws',
			'RealTimeNotifyWikiId' => 'testwiki',
			'RealTimeNotifySecret' => '',
			'RealTimeNotifyDefaultEnabled' => false,
			'RealTimeNotifyAlertRight' => 'patrol',
		] );
	}

	private function user( bool $registered, array $rights = [] ): User {
		$user = $this->createMock( User::class );
		$user->method( 'isRegistered' )->willReturn( $registered );
		$user->method( 'isNamed' )->willReturn( $registered );
		$user->method( 'isAllowed' )->willReturnCallback( static function ( $right ) use ( $rights ) {
			return in_array( $right, $rights, true );
		} );
		return $user;
	}

	private function lookup( bool $enabled, $mode = null, bool $desktop = false ): UserOptionsLookup {
		$lookup = $this->createMock( UserOptionsLookup::class );
		$lookup->method( 'getBoolOption' )->willReturnCallback(
			static function ( $user, $option ) use ( $enabled, $desktop ) {
				return ( $option === 'realtimenotify-enable' && $enabled ) ||
					( $option === 'realtimenotify-desktop' && $desktop );
			}
		);
		$lookup->method( 'getOption' )->willReturnCallback(
			static function ( $user, $option, $default = null ) use ( $mode ) {
				return $option === 'realtimenotify-mode' ? $mode : $default;
			}
		);
		return $lookup;
	}

	/**
	 * @return array [ modules added, js config vars added ]
	 */
	private function display( UserHooks $hooks, User $user ): array {
		$added = [ [], [] ];
		$out = $this->createMock( OutputPage::class );
		$out->method( 'getUser' )->willReturn( $user );
		$out->method( 'addModules' )->willReturnCallback( static function ( $m ) use ( &$added ) {
			$added[0] = array_merge( $added[0], (array)$m );
		} );
		$out->method( 'addJsConfigVars' )->willReturnCallback( static function ( $k, $v = null ) use ( &$added ) {
			$added[1][$k] = $v;
		} );
		$skin = null;
		$hooks->onBeforePageDisplay( $out, $skin );
		return $added;
	}

	public function testModuleAndConfigForUsersWhoEnabledIt() {
		$hooks = new UserHooks( $this->config( [ 'RealTimeNotifySecret' => 'k' ] ), $this->lookup( true ) );
		[ $modules, $vars ] = $this->display( $hooks, $this->user( true ) );
		$this->assertSame( [ 'ext.realtimenotify' ], $modules );
		$this->assertSame( [ 'wgRealTimeNotify' => [
			'url' => 'ws://127.0.0.1:8080/v1/ws',
			'wiki' => 'testwiki',
			'showOwn' => false,
			'tokenApi' => true,
			'mode' => 'all',
			'filter' => null,
			'echo' => false,
			'actions' => [ 'patrol' => false, 'rollback' => false ],
			'desktop' => false,
		] ], $vars );
	}

	public function testActionsAndDesktopReachTheBrowser() {
		$config = $this->config( [ 'RealTimeNotifySecret' => 'k' ] );
		$vars = $this->display( new UserHooks( $config, $this->lookup( true, null, true ) ),
			$this->user( true, [ 'patrol', 'rollback' ] ) )[1]['wgRealTimeNotify'];
		$this->assertSame( [ 'patrol' => true, 'rollback' => true ], $vars['actions'] );
		$this->assertTrue( $vars['desktop'] );

		$vars = $this->display( new UserHooks( $config, $this->lookup( true ) ),
			$this->user( true, [ 'patrol' ] ) )[1]['wgRealTimeNotify'];
		$this->assertSame( [ 'patrol' => true, 'rollback' => false ], $vars['actions'] );
		$this->assertFalse( $vars['desktop'] );

		// Rollback without the alert right: no alerts to act on.
		$vars = $this->display( new UserHooks( $config, $this->lookup( true ) ),
			$this->user( true, [ 'rollback' ] ) )[1]['wgRealTimeNotify'];
		$this->assertSame( [ 'patrol' => false, 'rollback' => false ], $vars['actions'] );

		// Without tokens the gateway sends no alerts at all.
		$vars = $this->display( new UserHooks( $this->config(), $this->lookup( true ) ),
			$this->user( true, [ 'patrol', 'rollback' ] ) )[1]['wgRealTimeNotify'];
		$this->assertSame( [ 'patrol' => false, 'rollback' => false ], $vars['actions'] );
	}

	public function testTokenApiFalseWithoutSecret() {
		$hooks = new UserHooks( $this->config(), $this->lookup( true ) );
		$this->assertFalse( $this->display( $hooks, $this->user( true ) )[1]['wgRealTimeNotify']['tokenApi'] );
	}

	public function testNothingForUsersWhoDidNotEnableIt() {
		$hooks = new UserHooks( $this->config(), $this->lookup( false ) );
		$this->assertSame( [ [], [] ], $this->display( $hooks, $this->user( true ) ) );
	}

	public function testNothingForAnonymousVisitors() {
		$hooks = new UserHooks( $this->config(), $this->lookup( true ) );
		$this->assertSame( [ [], [] ], $this->display( $hooks, $this->user( false ) ) );
	}

	public function testNothingWithoutGatewayUrl() {
		$hooks = new UserHooks( $this->config( [ 'RealTimeNotifyGatewayUrl' => '' ] ), $this->lookup( true ) );
		$this->assertSame( [ [], [] ], $this->display( $hooks, $this->user( true ) ) );
	}

	private static function registry( array $loaded ): callable {
		return static function ( string $name ) use ( $loaded ): bool {
			return in_array( $name, $loaded, true );
		};
	}

	public function testPreferencesHaveATabOfTheirOwnWithoutEcho() {
		$hooks = new UserHooks( $this->config( [ 'RealTimeNotifySecret' => 'k' ] ), $this->lookup( false ),
			self::registry( [ 'Thanks' ] ) );
		$prefs = [];
		$hooks->onGetPreferences( $this->user( true ), $prefs );
		$this->assertSame( [ 'realtimenotify-enable', 'realtimenotify-desktop', 'realtimenotify-mode' ], array_keys( $prefs ) );
		foreach ( $prefs as $name => $pref ) {
			$this->assertSame( 'realtimenotify/realtimenotify-live', $pref['section'], $name );
		}
		$this->assertSame( 'toggle', $prefs['realtimenotify-enable']['type'] );
		$this->assertSame( 'realtimenotify-pref-enable', $prefs['realtimenotify-enable']['label-message'] );
		$this->assertSame( 'toggle', $prefs['realtimenotify-desktop']['type'] );
		$this->assertSame( [ '!==', 'realtimenotify-enable', '1' ], $prefs['realtimenotify-desktop']['hide-if'] );
	}

	public function testPreferencesSitInEchosNotificationsTabWithEcho() {
		// Untested against a real Echo: its tab is the section 'echo' (Echo's own preferences
		// use 'echo/...'), stubbed here through the registry.
		$hooks = new UserHooks( $this->config( [ 'RealTimeNotifySecret' => 'k' ] ), $this->lookup( false ),
			self::registry( [ 'Echo' ] ) );
		$prefs = [];
		$hooks->onGetPreferences( $this->user( true, [ 'patrol' ] ), $prefs );
		$this->assertCount( 3, $prefs );
		foreach ( $prefs as $name => $pref ) {
			$this->assertSame( 'echo/realtimenotify-live', $pref['section'], $name );
		}
	}

	public function testDefaultUserOptionsWinOverTheDeprecatedSetting() {
		$on = new UserHooks( $this->config( [ 'RealTimeNotifyDefaultEnabled' => true ] ), $this->lookup( false ) );
		$off = new UserHooks( $this->config(), $this->lookup( false ) );

		// $wgDefaultUserOptions names the preference: honoured, whatever the old setting says.
		foreach ( [ 0, 1, true, false ] as $value ) {
			foreach ( [ $on, $off ] as $hooks ) {
				$defaults = [ 'realtimenotify-enable' => $value, 'gender' => 'unknown' ];
				$hooks->onUserGetDefaultOptions( $defaults );
				$this->assertSame( [ 'realtimenotify-enable' => $value, 'gender' => 'unknown' ], $defaults );
			}
		}
		// It does not: the deprecated $wgRealTimeNotifyDefaultEnabled decides (false by default).
		$defaults = [ 'gender' => 'unknown' ];
		$on->onUserGetDefaultOptions( $defaults );
		$this->assertSame( 1, $defaults['realtimenotify-enable'] );
		$defaults = [];
		$off->onUserGetDefaultOptions( $defaults );
		$this->assertSame( [ 'realtimenotify-enable' => 0 ], $defaults );
	}

	public function testManifestDeclaresNoDefaultForTheSwitch() {
		// Else the hook above could not tell the wiki's setting from ours.
		$manifest = json_decode( file_get_contents( dirname( __DIR__, 3 ) . '/extension.json' ), true );
		$this->assertArrayNotHasKey( 'realtimenotify-enable', $manifest['DefaultUserOptions'] );
		$this->assertSame( 'all', $manifest['DefaultUserOptions']['realtimenotify-mode'] );
		$this->assertSame( 0, $manifest['DefaultUserOptions']['realtimenotify-desktop'] );
	}

	public function testModeToFilter() {
		$this->assertNull( UserHooks::filterForMode( 'all' ) );
		$this->assertSame( [ 'addressed' => true ], UserHooks::filterForMode( 'watchlist' ) );
		$this->assertSame( [ 'types' => [ 'alert', 'handled' ] ], UserHooks::filterForMode( 'alerts' ) );
		$this->assertNull( UserHooks::filterForMode( 'bogus' ) );
		// What the browser sends: {"op":"subscribe","filter":{"addressed":true}} etc.
		$this->assertSame( '{"addressed":true}', json_encode( UserHooks::filterForMode( 'watchlist' ) ) );
		$this->assertSame( '{"types":["alert","handled"]}', json_encode( UserHooks::filterForMode( 'alerts' ) ) );
	}

	public static function provideEffectiveMode() {
		return [
			'default' => [ null, true, false, 'all' ],
			'unknown value' => [ 'everything', true, true, 'all' ],
			'not a string' => [ 1, true, true, 'all' ],
			'watchlist' => [ 'watchlist', true, false, 'watchlist' ],
			'alerts for a patroller' => [ 'alerts', true, true, 'alerts' ],
			'alerts without the right: watchlist' => [ 'alerts', true, false, 'watchlist' ],
			'no tokens: all' => [ 'watchlist', false, true, 'all' ],
			'no tokens, alerts: all' => [ 'alerts', false, true, 'all' ],
		];
	}

	/**
	 * @dataProvider provideEffectiveMode
	 */
	public function testEffectiveMode( $stored, bool $tokens, bool $canAlert, string $expected ) {
		$this->assertSame( $expected, UserHooks::effectiveMode( $stored, $tokens, $canAlert ) );
	}

	public function testWithEchoTheAlertsModeGetsTheUsersNotificationsToo() {
		$config = $this->config( [ 'RealTimeNotifySecret' => 'k' ] );
		$echo = static function ( string $name ): bool {
			return $name === 'Echo';
		};
		$vars = $this->display( new UserHooks( $config, $this->lookup( true, 'alerts' ), $echo ),
			$this->user( true, [ 'patrol' ] ) )[1]['wgRealTimeNotify'];
		$this->assertTrue( $vars['echo'] );
		$this->assertSame( [ 'types' => [ 'alert', 'handled', 'notification', 'notification_read' ] ], $vars['filter'] );
		// The other modes' filters already let them through (addressed to the user, or none).
		$vars = $this->display( new UserHooks( $config, $this->lookup( true, 'watchlist' ), $echo ),
			$this->user( true ) )[1]['wgRealTimeNotify'];
		$this->assertSame( [ 'addressed' => true ], $vars['filter'] );
	}

	public function testModeAndFilterReachTheBrowser() {
		$config = $this->config( [ 'RealTimeNotifySecret' => 'k' ] );
		$vars = $this->display( new UserHooks( $config, $this->lookup( true, 'watchlist' ) ), $this->user( true ) )[1];
		$this->assertSame( 'watchlist', $vars['wgRealTimeNotify']['mode'] );
		$this->assertSame( [ 'addressed' => true ], $vars['wgRealTimeNotify']['filter'] );

		$patroller = $this->user( true, [ 'patrol' ] );
		$vars = $this->display( new UserHooks( $config, $this->lookup( true, 'alerts' ) ), $patroller )[1];
		$this->assertSame( 'alerts', $vars['wgRealTimeNotify']['mode'] );
		$this->assertSame( [ 'types' => [ 'alert', 'handled' ] ], $vars['wgRealTimeNotify']['filter'] );

		// The same stored choice for someone who cannot patrol.
		$vars = $this->display( new UserHooks( $config, $this->lookup( true, 'alerts' ) ), $this->user( true ) )[1];
		$this->assertSame( 'watchlist', $vars['wgRealTimeNotify']['mode'] );

		// A configured alert right other than patrol.
		$config = $this->config( [ 'RealTimeNotifySecret' => 'k', 'RealTimeNotifyAlertRight' => 'rollback' ] );
		$vars = $this->display( new UserHooks( $config, $this->lookup( true, 'alerts' ) ), $patroller )[1];
		$this->assertSame( 'watchlist', $vars['wgRealTimeNotify']['mode'] );
	}

	public function testModePreferenceOffersAlertsOnlyToPatrollers() {
		$hooks = new UserHooks( $this->config( [ 'RealTimeNotifySecret' => 'k' ] ), $this->lookup( false ) );
		$prefs = [];
		$hooks->onGetPreferences( $this->user( true ), $prefs );
		$this->assertSame( 'radio', $prefs['realtimenotify-mode']['type'] );
		$this->assertSame( [ 'all', 'watchlist' ], array_values( $prefs['realtimenotify-mode']['options-messages'] ) );
		$this->assertSame( 'realtimenotify/realtimenotify-live', $prefs['realtimenotify-mode']['section'] );
		$this->assertSame( [ '!==', 'realtimenotify-enable', '1' ], $prefs['realtimenotify-mode']['hide-if'] );

		$prefs = [];
		$hooks->onGetPreferences( $this->user( true, [ 'patrol' ] ), $prefs );
		$this->assertSame( [ 'all', 'watchlist', 'alerts' ], array_values( $prefs['realtimenotify-mode']['options-messages'] ) );
	}

	public function testNoModePreferenceWithoutTokens() {
		$prefs = [];
		( new UserHooks( $this->config(), $this->lookup( false ) ) )->onGetPreferences( $this->user( true, [ 'patrol' ] ), $prefs );
		$this->assertArrayHasKey( 'realtimenotify-enable', $prefs );
		$this->assertArrayNotHasKey( 'realtimenotify-mode', $prefs );
	}
}
