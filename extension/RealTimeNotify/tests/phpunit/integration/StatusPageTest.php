<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Integration;

use ApiMain;
use ApiUsageException;
use FauxRequest;
use MediaWiki\Extension\RealTimeNotify\Special\SpecialRealTimeNotifyStatus;
use PermissionsError;
use RequestContext;
use User;

/**
 * Special:RealTimeNotifyStatus and action=realtimenotifystatus on the integration wiki: only
 * holders of realtimenotify-status (sysops by default) see anything. This wiki's gateway URL
 * (ws://127.0.0.1:1) has nobody listening, so the page says the gateway is unreachable.
 *
 * @covers \MediaWiki\Extension\RealTimeNotify\Special\SpecialRealTimeNotifyStatus
 * @covers \MediaWiki\Extension\RealTimeNotify\Api\ApiRealTimeNotifyStatus
 */
class StatusPageTest extends WikiTestCase {

	private function context( User $user ): RequestContext {
		$context = new RequestContext();
		$context->setRequest( new FauxRequest( [], true ) );
		$context->setUser( $user );
		$context->setTitle( \SpecialPage::getTitleFor( 'RealTimeNotifyStatus' ) );
		return $context;
	}

	private function render( User $user ): string {
		$page = self::services()->getSpecialPageFactory()->getPage( 'RealTimeNotifyStatus' );
		$this->assertInstanceOf( SpecialRealTimeNotifyStatus::class, $page );
		$context = $this->context( $user );
		$page->setContext( $context );
		$page->execute( null );
		return $context->getOutput()->getHTML();
	}

	private function api( User $user, array $params = [] ): array {
		$request = new FauxRequest( [ 'action' => 'realtimenotifystatus' ] + $params, true );
		$context = new RequestContext();
		$context->setRequest( $request );
		$context->setUser( $user );
		$request->setVal( 'token', \ApiQueryTokens::getToken( $user, $request->getSession(),
			\ApiQueryTokens::getTokenTypeSalts()['csrf'] )->toString() );
		$main = new ApiMain( $context, true );
		try {
			$main->execute();
		} catch ( ApiUsageException $e ) {
			return [ 'error' => \ApiMessage::create( $e->getStatusValue()->getErrors()[0] )->getApiCode() ];
		}
		return $main->getResult()->getResultData( null, [ 'Strip' => 'all' ] );
	}

	public function testTheRightIsGrantedToSysopsOnly() {
		$permissions = self::services()->getPermissionManager();
		$this->assertTrue( $permissions->userHasRight( self::user( 'Admin' ), 'realtimenotify-status' ) );
		foreach ( [ 'Alice', 'Patty', 'Bob' ] as $name ) {
			$this->assertFalse( $permissions->userHasRight( self::user( $name ), 'realtimenotify-status' ), $name );
		}
	}

	public function testAUserWithoutTheRightIsRefused() {
		$this->expectException( PermissionsError::class );
		$this->render( self::user( 'Alice' ) );
	}

	public function testASysopSeesTheTableAndWhyTheNumbersAreMissing() {
		$html = $this->render( self::user( 'Admin' ) );
		$this->assertStringContainsString( 'class="wikitable rtn-status-table"', $html );
		$this->assertStringContainsString( 'rtn-status-test', $html );
		$this->assertStringContainsString( wfMessage( 'realtimenotify-status-error-unreachable' )->text(), $html );
	}

	public function testTheApiAnswersSysopsOnly() {
		$this->assertSame( 'permissiondenied', $this->api( self::user( 'Alice' ) )['error'] ?? null );
		$this->assertSame( 'permissiondenied', $this->api( self::user( 'Alice' ), [ 'sendtest' => 1 ] )['error'] ?? null,
			'nor may anyone else publish test events' );
		$answer = $this->api( self::user( 'Admin' ) )['realtimenotifystatus'] ?? null;
		$this->assertSame( [ 'ok' => false, 'error' => 'unreachable' ], $answer );
	}
}
