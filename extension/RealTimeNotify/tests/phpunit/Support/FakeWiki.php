<?php

namespace MediaWiki\Extension\RealTimeNotify\Tests\Support;

use MediaWiki\Permissions\PermissionManager;
use MediaWiki\User\UserFactory;
use PHPUnit\Framework\TestCase;
use User;
use Wikimedia\ScopedCallback;

/**
 * A PermissionManager and a UserFactory (PHPUnit doubles) that answer `read` like a wiki with
 * these rules, checked in MediaWiki's order: a hook may refuse (a namespace only some users
 * may read, as Lockdown does), then holders of `read` may read, then $wgWhitelistRead.
 * Anonymous visitors hold `read` when $anonRead, or while a temporary right is granted.
 */
class FakeWiki {

	/** @var bool $wgGroupPermissions['*']['read'] */
	public $anonRead = true;
	/** @var int[] Registered users who hold `read` */
	public $readers = [];
	/** @var string[] "ns:dbkey" readable without `read` */
	public $whitelist = [];
	/** @var array<int,int[]> Namespace => the only user ids who may read it (anonymous: never) */
	public $lockdown = [];
	/** @var array<int,string[]> User id => rights other than read */
	public $rights = [];
	/** @var string[] Rights granted to anonymous visitors for now (addTemporaryUserRights) */
	public $temporary = [];
	/** @var array[] Every userCan() call: [ action, user id, user name, "ns:dbkey", rigor ] */
	public $checks = [];
	/** @var \Throwable|null Thrown by userCan() */
	public $failWith;
	/** @var \Throwable|null Thrown by userCan() for registered users only */
	public $failForUsers;

	/** @var PermissionManager */
	public $permissionManager;
	/** @var UserFactory */
	public $userFactory;

	public function __construct( TestCase $test ) {
		$mock = static function ( string $class ) use ( $test ) {
			return ( new \PHPUnit\Framework\MockObject\MockBuilder( $test, $class ) )
				->disableOriginalConstructor()->getMock();
		};
		$this->userFactory = $mock( UserFactory::class );
		$this->userFactory->method( 'newAnonymous' )->willReturnCallback( function ( $ip = null ) use ( $mock ) {
			return $this->user( $mock, 0, (string)$ip );
		} );
		$this->userFactory->method( 'newFromId' )->willReturnCallback( function ( $id ) use ( $mock ) {
			return $this->user( $mock, (int)$id, "User$id" );
		} );
		$this->permissionManager = $mock( PermissionManager::class );
		$this->permissionManager->method( 'userCan' )->willReturnCallback(
			function ( $action, $user, $page, $rigor = PermissionManager::RIGOR_SECURE ) {
				$key = $page->getNamespace() . ':' . $page->getDBkey();
				$this->checks[] = [ $action, $user->getId(), $user->getName(), $key, $rigor ];
				if ( $this->failWith ) {
					throw $this->failWith;
				}
				if ( $this->failForUsers && $user->getId() > 0 ) {
					throw $this->failForUsers;
				}
				if ( $action !== 'read' ) {
					return false;
				}
				$id = $user->getId();
				if ( isset( $this->lockdown[$page->getNamespace()] ) && !in_array( $id, $this->lockdown[$page->getNamespace()], true ) ) {
					return false;
				}
				return $this->hasRight( $id, 'read' ) || in_array( $key, $this->whitelist, true );
			}
		);
		$this->permissionManager->method( 'userHasRight' )->willReturnCallback( function ( $user, $right ) {
			return $this->hasRight( $user->getId(), $right );
		} );
		$this->permissionManager->method( 'addTemporaryUserRights' )->willReturnCallback( function ( $user, $rights ) {
			if ( $user->getId() !== 0 ) {
				throw new \LogicException( 'only the anonymous stand-in is ever granted a right' );
			}
			$before = $this->temporary;
			$this->temporary = array_merge( $this->temporary, (array)$rights );
			return new ScopedCallback( function () use ( $before ) {
				$this->temporary = $before;
			} );
		} );
	}

	private function hasRight( int $id, string $right ): bool {
		if ( $id === 0 ) {
			return ( $right === 'read' && $this->anonRead ) || in_array( $right, $this->temporary, true );
		}
		return $right === 'read' ? in_array( $id, $this->readers, true ) : in_array( $right, $this->rights[$id] ?? [], true );
	}

	private function user( callable $mock, int $id, string $name ): User {
		$user = $mock( User::class );
		$user->method( 'getId' )->willReturn( $id );
		$user->method( 'getName' )->willReturn( $name );
		$user->method( 'isRegistered' )->willReturn( $id > 0 );
		return $user;
	}
}
