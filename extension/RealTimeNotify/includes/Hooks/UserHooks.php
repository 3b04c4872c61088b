<?php

namespace MediaWiki\Extension\RealTimeNotify\Hooks;

use ExtensionRegistry;
use MediaWiki\Extension\RealTimeNotify\WikiId;
use MediaWiki\Hook\BeforePageDisplayHook;
use MediaWiki\Preferences\Hook\GetPreferencesHook;
use MediaWiki\User\Hook\UserGetDefaultOptionsHook;
use MediaWiki\User\UserOptionsLookup;

/**
 * The user-facing side: the preferences (on/off, what to be told about, desktop
 * notifications), their defaults, and loading the browser module, with its subscription
 * filter and the actions the user may take from an alert, for the users who turned it on.
 *
 * Where the preferences sit: with Echo installed, in Echo's Notifications tab, beside the
 * other notification settings; without it, in a tab of their own.
 *
 * Default of `realtimenotify-enable`: $wgDefaultUserOptions['realtimenotify-enable'] when
 * the wiki sets it (as the MediaWiki manual says); otherwise the deprecated
 * $wgRealTimeNotifyDefaultEnabled (false unless set). See onUserGetDefaultOptions().
 */
class UserHooks implements
	GetPreferencesHook,
	UserGetDefaultOptionsHook,
	BeforePageDisplayHook
{
	public const PREF = 'realtimenotify-enable';
	public const MODE_PREF = 'realtimenotify-mode';
	public const DESKTOP_PREF = 'realtimenotify-desktop';

	/** The preferences' place without Echo: a tab of their own. */
	public const SECTION = 'realtimenotify/realtimenotify-live';
	/** With Echo: a section of Echo's Notifications tab. */
	public const ECHO_SECTION = 'echo/realtimenotify-live';
	public const MODULE = 'ext.realtimenotify';
	public const JS_CONFIG_VAR = 'wgRealTimeNotify';

	/** Every change the gateway lets this user see (the default). */
	public const MODE_ALL = 'all';
	/** Changes to pages on my watchlist and to my talk page, and alerts if I patrol. */
	public const MODE_WATCHLIST = 'watchlist';
	/** Patrol alerts only (for holders of the alert right). */
	public const MODE_ALERTS = 'alerts';

	public const MODES = [ self::MODE_ALL, self::MODE_WATCHLIST, self::MODE_ALERTS ];

	/** Event types of a user's own Echo notifications (docs/events.md). */
	public const NOTIFICATION_TYPES = [ 'notification', 'notification_read' ];

	/** @var \Config */
	private $config;
	/** @var UserOptionsLookup */
	private $userOptionsLookup;
	/** @var callable(string): bool */
	private $isLoaded;

	/**
	 * @param \Config $config
	 * @param UserOptionsLookup $userOptionsLookup
	 * @param callable|null $isLoaded Extension name → whether it is loaded (tests; default:
	 *   ExtensionRegistry)
	 */
	public function __construct( $config, UserOptionsLookup $userOptionsLookup, ?callable $isLoaded = null ) {
		$this->config = $config;
		$this->userOptionsLookup = $userOptionsLookup;
		$this->isLoaded = $isLoaded ?? static function ( string $name ): bool {
			return ExtensionRegistry::getInstance()->isLoaded( $name );
		};
	}

	/**
	 * @return string Where the preferences go (section of Special:Preferences)
	 */
	public function preferenceSection(): string {
		return ( $this->isLoaded )( 'Echo' ) ? self::ECHO_SECTION : self::SECTION;
	}

	/**
	 * The gateway's subscribe filter for a mode (docs/protocol.md), which the browser module
	 * sends after every (re)connection.
	 *
	 * @param string $mode One of MODES
	 * @return array|null Null: no filter (everything)
	 */
	public static function filterForMode( string $mode ): ?array {
		switch ( $mode ) {
			case self::MODE_WATCHLIST:
				return [ 'addressed' => true ];
			case self::MODE_ALERTS:
				// Alerts, and the news that one was handled (patrolled, reverted).
				return [ 'types' => [ 'alert', 'handled' ] ];
			default:
				return null;
		}
	}

	/**
	 * The mode that applies, whatever is stored: an unknown value means 'all'; without
	 * connection tokens the gateway cannot tell who a browser is, so nothing can be addressed
	 * to it ('all'); 'alerts' without the alert right would show nothing at all ('watchlist').
	 *
	 * @param mixed $stored The stored preference
	 * @param bool $tokens Connection tokens are available ($wgRealTimeNotifySecret is set)
	 * @param bool $canAlert The user holds the alert right
	 * @return string One of MODES
	 */
	public static function effectiveMode( $stored, bool $tokens, bool $canAlert ): string {
		$mode = is_string( $stored ) && in_array( $stored, self::MODES, true ) ? $stored : self::MODE_ALL;
		if ( !$tokens ) {
			return self::MODE_ALL;
		}
		if ( $mode === self::MODE_ALERTS && !$canAlert ) {
			return self::MODE_WATCHLIST;
		}
		return $mode;
	}

	/**
	 * @return bool Whether connection tokens can be minted (so the gateway knows who connects)
	 */
	private function hasTokens(): bool {
		return (string)$this->config->get( 'RealTimeNotifySecret' ) !== '';
	}

	/**
	 * @param \User $user
	 * @return bool The user receives patrol alerts
	 */
	private function canAlert( $user ): bool {
		$right = (string)$this->config->get( 'RealTimeNotifyAlertRight' );
		return $right !== '' && $user->isAllowed( $right );
	}

	/**
	 * @inheritDoc
	 */
	public function onGetPreferences( $user, &$preferences ) {
		$section = $this->preferenceSection();
		$preferences[self::PREF] = [
			'type' => 'toggle',
			'label-message' => 'realtimenotify-pref-enable',
			'help-message' => 'realtimenotify-pref-enable-help',
			'section' => $section,
		];
		$preferences[self::DESKTOP_PREF] = [
			'type' => 'toggle',
			'label-message' => 'realtimenotify-pref-desktop',
			'help-message' => 'realtimenotify-pref-desktop-help',
			'section' => $section,
			'hide-if' => [ '!==', self::PREF, '1' ],
		];
		// Watchlist and alerts need the gateway to know who is connected: tokens.
		if ( !$this->hasTokens() ) {
			return;
		}
		$options = [
			'realtimenotify-pref-mode-all' => self::MODE_ALL,
			'realtimenotify-pref-mode-watchlist' => self::MODE_WATCHLIST,
		];
		if ( $this->canAlert( $user ) ) {
			$options['realtimenotify-pref-mode-alerts'] = self::MODE_ALERTS;
		}
		$preferences[self::MODE_PREF] = [
			'type' => 'radio',
			'label-message' => 'realtimenotify-pref-mode',
			'help-message' => 'realtimenotify-pref-mode-help',
			'options-messages' => $options,
			'section' => $section,
			'hide-if' => [ '!==', self::PREF, '1' ],
		];
	}

	/**
	 * @inheritDoc
	 */
	public function onUserGetDefaultOptions( &$defaultOptions ) {
		// $wgDefaultUserOptions (LocalSettings.php) is what this hook receives: when it names
		// the preference, it wins. extension.json declares no default for it, so that its
		// absence means "not set by the wiki".
		if ( !array_key_exists( self::PREF, $defaultOptions ) ) {
			$defaultOptions[self::PREF] = $this->config->get( 'RealTimeNotifyDefaultEnabled' ) ? 1 : 0;
		}
	}

	/**
	 * @inheritDoc
	 */
	public function onBeforePageDisplay( $out, $skin ): void {
		$user = $out->getUser();
		// Registered (named) users only; temporary accounts and IPs never get the module.
		if ( !$user->isRegistered() || ( method_exists( $user, 'isNamed' ) && !$user->isNamed() ) ) {
			return;
		}
		$gatewayUrl = (string)$this->config->get( 'RealTimeNotifyGatewayUrl' );
		if ( $gatewayUrl === '' || !$this->userOptionsLookup->getBoolOption( $user, self::PREF ) ) {
			return;
		}
		$tokens = $this->hasTokens();
		$mode = self::effectiveMode(
			$this->userOptionsLookup->getOption( $user, self::MODE_PREF ),
			$tokens,
			$this->canAlert( $user )
		);
		$echo = ( $this->isLoaded )( 'Echo' );
		$filter = self::filterForMode( $mode );
		if ( $echo && isset( $filter['types'] ) ) {
			// The user's own Echo notifications come live in every mode (issue 17).
			$filter['types'] = array_merge( $filter['types'], self::NOTIFICATION_TYPES );
		}
		$out->addModules( self::MODULE );
		$out->addJsConfigVars( self::JS_CONFIG_VAR, [
			'url' => $gatewayUrl,
			'wiki' => WikiId::fromConfig( $this->config ),
			'showOwn' => false,
			'tokenApi' => $tokens,
			'mode' => $mode,
			'filter' => $filter,
			'echo' => $echo,
			// What the reader may do from a patrol alert (the API checks again).
			'actions' => [
				'patrol' => $tokens && $this->canAlert( $user ) && $user->isAllowed( 'patrol' ),
				'rollback' => $tokens && $this->canAlert( $user ) && $user->isAllowed( 'rollback' ),
			],
			'desktop' => $this->userOptionsLookup->getBoolOption( $user, self::DESKTOP_PREF ),
		] );
	}
}
