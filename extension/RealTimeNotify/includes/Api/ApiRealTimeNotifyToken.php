<?php

namespace MediaWiki\Extension\RealTimeNotify\Api;

use ApiBase;
use MediaWiki\Extension\RealTimeNotify\TokenIssuer;

/**
 * action=realtimenotifytoken: mint a short-lived connection token for the gateway.
 *
 * POST only, with a CSRF token, so that a third-party page cannot obtain a token for a
 * logged-in visitor; for registered users who hold `read` only. Response: { "realtimenotifytoken": { "token": "<JWT>", "expires": <unix> } }
 */
class ApiRealTimeNotifyToken extends ApiBase {

	/** @var TokenIssuer */
	private $tokenIssuer;

	/**
	 * @param \ApiMain $main
	 * @param string $moduleName
	 * @param TokenIssuer $tokenIssuer
	 */
	public function __construct( $main, $moduleName, TokenIssuer $tokenIssuer ) {
		parent::__construct( $main, $moduleName );
		$this->tokenIssuer = $tokenIssuer;
	}

	public function execute() {
		if ( !$this->tokenIssuer->isEnabled() ) {
			$this->dieWithError( 'apierror-realtimenotify-nosecret', 'realtimenotify-nosecret' );
		}
		if ( !$this->tokenIssuer->isSecretStrong() ) {
			// The gateway refuses such secrets, so its tokens could never be verified.
			$this->dieWithError(
				[ 'apierror-realtimenotify-weaksecret', TokenIssuer::MIN_SECRET_LENGTH ],
				'realtimenotify-weaksecret'
			);
		}
		$user = $this->getUser();
		if ( !$user->isRegistered() || !$user->isNamed() ) {
			$this->dieWithError( 'apierror-mustbeloggedin-generic', 'notloggedin' );
		}
		// Only readers get a token. ApiMain already refuses non-readers on a wiki that
		// anonymous users may not read; saying it here keeps the promise Targeting relies on
		// (every holder of the alert right the gateway knows may read) on every wiki.
		$this->checkUserRightsAny( 'read' );
		$authority = $this->getAuthority();
		$rights = array_values( array_filter( $this->tokenIssuer->getRights(), static function ( $right ) use ( $authority ) {
			return $authority->isAllowed( $right );
		} ) );

		$issued = $this->tokenIssuer->issue( $user->getId(), $user->getName(), $rights );
		$this->getResult()->addValue( null, $this->getModuleName(), [
			'token' => $issued['token'],
			'expires' => $issued['expires'],
		] );
	}

	/** @inheritDoc */
	public function mustBePosted() {
		return true;
	}

	/** @inheritDoc */
	public function needsToken() {
		return 'csrf';
	}

	/** @inheritDoc */
	public function isWriteMode() {
		return false;
	}

	/** @inheritDoc */
	public function getAllowedParams() {
		return [];
	}

	/** @inheritDoc */
	protected function getExamplesMessages() {
		return [
			'action=realtimenotifytoken&token=123ABC'
				=> 'apihelp-realtimenotifytoken-example-1',
		];
	}
}
