<?php

namespace MediaWiki\Extension\RealTimeNotify\Special;

use Html;
use MediaWiki\Extension\RealTimeNotify\GatewayStatus;
use MediaWiki\Extension\RealTimeNotify\WikiId;
use SpecialPage;

/**
 * Special:RealTimeNotifyStatus: is live notification working, at a glance, for administrators
 * who run no Prometheus (issue 15). Right: realtimenotify-status (sysops by default).
 *
 * The numbers are read server-side from the gateway (GatewayStatus) and written into the page
 * as text; the module ext.realtimenotify.status refreshes them through action=realtimenotifystatus,
 * draws the chart, and runs the test event's round trip on a socket of its own.
 */
class SpecialRealTimeNotifyStatus extends SpecialPage {

	/** The rows of the table: message key suffix => field (data-rtn-field). */
	public const ROWS = [
		'gateway' => 'ready',
		'version' => 'version',
		'source' => 'source',
		'broker' => 'broker',
		'clients' => 'clients',
		'received' => 'events_received',
		'delivered' => 'events_delivered',
		'latency' => 'latency',
		'lastevent' => 'last_event_age_seconds',
		'drops' => 'slow_client_drops',
	];

	/** @var GatewayStatus */
	private $status;

	/**
	 * @param GatewayStatus $status
	 */
	public function __construct( GatewayStatus $status ) {
		parent::__construct( 'RealTimeNotifyStatus', 'realtimenotify-status' );
		$this->status = $status;
	}

	/** @inheritDoc */
	public function execute( $subPage ) {
		$this->setHeaders();
		$this->checkPermissions();
		$out = $this->getOutput();
		$out->addWikiMsg( 'realtimenotifystatus-summary' );
		$result = $this->status->fetch( $this->getUser()->getId() );
		$status = $result['status'] ?? null;

		$out->addModules( 'ext.realtimenotify.status' );
		$out->addModuleStyles( 'ext.realtimenotify.status.styles' );
		$config = $this->getConfig();
		$out->addJsConfigVars( 'wgRealTimeNotifyStatus', [
			'url' => (string)$config->get( 'RealTimeNotifyGatewayUrl' ),
			'wiki' => WikiId::fromConfig( $config ),
			'initial' => $result,
		] );

		$html = Html::element( 'p', [
			'class' => 'rtn-status-error',
			'data-rtn-field' => 'error',
		], $result['ok'] ? '' : $this->msg( 'realtimenotify-status-error-' . $result['error'] )->text() );
		$rows = '';
		foreach ( self::ROWS as $key => $field ) {
			$rows .= Html::rawElement( 'tr', [],
				Html::element( 'th', [], $this->msg( 'realtimenotify-status-' . $key )->text() )
				. Html::element( 'td', [ 'data-rtn-field' => $field ], $status ? $this->value( $field, $status ) : '–' )
			);
		}
		$html .= Html::rawElement( 'table', [ 'class' => 'wikitable rtn-status-table' ], $rows );
		$html .= Html::element( 'h2', [], $this->msg( 'realtimenotify-status-chart' )->text() );
		$html .= Html::element( 'div', [ 'class' => 'rtn-status-chart', 'data-rtn-field' => 'chart' ] );
		$html .= Html::element( 'h2', [], $this->msg( 'realtimenotify-status-test-heading' )->text() );
		$html .= Html::rawElement( 'p', [],
			Html::element( 'button', [
				'type' => 'button',
				'class' => 'rtn-status-test mw-ui-button',
				'disabled' => true,
			], $this->msg( 'realtimenotify-status-test' )->text() )
			. ' '
			. Html::element( 'span', [ 'class' => 'rtn-status-test-result', 'data-rtn-field' => 'roundtrip' ] )
		);
		$out->addHTML( Html::rawElement( 'div', [ 'class' => 'rtn-status' ], $html ) );
	}

	/**
	 * One cell's text; the module formats the same way (status.js).
	 *
	 * @param string $field
	 * @param array $s GatewayStatus::report()
	 * @return string
	 */
	private function value( string $field, array $s ): string {
		$lang = $this->getLanguage();
		$num = static function ( $v ) use ( $lang ): string {
			return $v === null ? '–' : $lang->formatNum( round( $v, 1 ) );
		};
		switch ( $field ) {
			case 'ready':
				return $this->msg( $s['ready'] ? 'realtimenotify-status-ready' : 'realtimenotify-status-notready' )->text();
			case 'version':
				return $s['version'];
			case 'source':
			case 'broker':
				return $this->msg( 'realtimenotify-status-part' )
					->plaintextParams( $s[$field]['kind'] )
					->params( $this->msg( $s[$field]['up'] ? 'realtimenotify-status-up' : 'realtimenotify-status-down' )->text() )
					->text();
			case 'latency':
				return $this->msg( 'realtimenotify-status-latency-value', $num( $s['latency_p50_ms'] ), $num( $s['latency_p99_ms'] ) )->text();
			case 'last_event_age_seconds':
				return $s[$field] === null
					? $this->msg( 'realtimenotify-status-none' )->text()
					: $this->msg( 'realtimenotify-status-ago', $num( $s[$field] ) )->text();
			case 'events_received':
			case 'events_delivered':
			case 'slow_client_drops':
				return $this->msg( 'realtimenotify-status-recent', $num( $s[$field] ), $num( $s['recent_seconds'] ) )->text();
			default:
				return $num( $s[$field] ?? null );
		}
	}

	/** @inheritDoc */
	protected function getGroupName() {
		return 'wiki';
	}
}
