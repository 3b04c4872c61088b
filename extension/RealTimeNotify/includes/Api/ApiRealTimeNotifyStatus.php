<?php

namespace MediaWiki\Extension\RealTimeNotify\Api;

use ApiBase;
use MediaWiki\Extension\RealTimeNotify\EventPublisher;
use MediaWiki\Extension\RealTimeNotify\GatewayStatus;
use MediaWiki\Extension\RealTimeNotify\Uuid;
use SpecialPage;
use Wikimedia\ParamValidator\ParamValidator;

/**
 * action=realtimenotifystatus: for Special:RealTimeNotifyStatus, with the right
 * realtimenotify-status only.
 *
 * Without `sendtest`: the gateway's status as the wiki's servers read it (GatewayStatus),
 * reduced to its known fields. With `sendtest`: publishes a test event addressed to the caller
 * through the wiki's publish path and returns its uuid; the caller's browser times its arrival.
 * POST with a CSRF token either way, so that no other site can make an administrator's browser
 * publish test events.
 */
class ApiRealTimeNotifyStatus extends ApiBase {

	/** @var GatewayStatus */
	private $status;
	/** @var EventPublisher */
	private $publisher;
	/** @var string */
	private $wikiId;

	/**
	 * @param \ApiMain $main
	 * @param string $moduleName
	 * @param GatewayStatus $status
	 * @param EventPublisher $publisher
	 * @param \Config $config
	 */
	public function __construct( $main, $moduleName, GatewayStatus $status, EventPublisher $publisher, $config ) {
		parent::__construct( $main, $moduleName );
		$this->status = $status;
		$this->publisher = $publisher;
		$this->wikiId = \MediaWiki\Extension\RealTimeNotify\WikiId::fromConfig( $config );
	}

	public function execute() {
		$this->checkUserRightsAny( 'realtimenotify-status' );
		$params = $this->extractRequestParams();
		$user = $this->getUser();
		if ( $params['sendtest'] ) {
			$uuid = Uuid::v4();
			$event = GatewayStatus::testEvent(
				$this->wikiId,
				$user->getId(),
				$user->getName(),
				SpecialPage::getTitleFor( 'RealTimeNotifyStatus' )->getPrefixedText(),
				$uuid,
				time()
			);
			$sent = $this->publisher->publishNow( static function () use ( $event ) {
				return $event;
			}, 'status test event' );
			if ( !$sent ) {
				$this->dieWithError( 'apierror-realtimenotify-status-publish', 'publishfailed' );
			}
			$this->getResult()->addValue( null, $this->getModuleName(), [ 'uuid' => $uuid ] );
			return;
		}
		$this->getResult()->addValue( null, $this->getModuleName(), $this->status->fetch( $user->getId() ) );
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
	public function isInternal() {
		return true;
	}

	/** @inheritDoc */
	public function getAllowedParams() {
		return [
			'sendtest' => [
				ParamValidator::PARAM_TYPE => 'boolean',
				ParamValidator::PARAM_DEFAULT => false,
			],
		];
	}

	/** @inheritDoc */
	protected function getExamplesMessages() {
		return [
			'action=realtimenotifystatus&token=123ABC'
				=> 'apihelp-realtimenotifystatus-example-1',
		];
	}
}
