<?php

namespace MediaWiki\Extension\RealTimeNotify\Hooks;

use ExtensionRegistry;
use MediaWiki\Api\Hook\APIAfterExecuteHook;
use MediaWiki\Extension\RealTimeNotify\Alerts\AlertPresentationModel;
use MediaWiki\Extension\RealTimeNotify\Alerts\PersistentAlerts;
use MediaWiki\Extension\RealTimeNotify\EventBuilder;
use MediaWiki\Extension\RealTimeNotify\EventPublisher;
use MediaWiki\Languages\LanguageFactory;
use MediaWiki\Revision\RevisionRecord;
use MediaWiki\SpecialPage\SpecialPage;
use MediaWiki\User\UserIdentity;
use MediaWiki\User\UserIdentityValue;
use MediaWiki\User\UserOptionsLookup;
use MediaWiki\Utils\UrlUtils;
use Wikimedia\Timestamp\ConvertibleTimestamp;

/**
 * Echo, live (issue 17): each Echo notification reaches its recipient's browser as it is
 * created, and marking notifications read reaches the recipient's other tabs and devices.
 *
 * - EchoCreateNotificationComplete (Echo, after the notification row is inserted for one user):
 *   a `notification` event addressed to that user alone, with the header Echo's presentation
 *   model renders for them (in their language, as plain text), its primary link, its category
 *   and section, and their new unread alert and notice counts.
 * - APIAfterExecute of `echomarkread` (what Echo's flyout, its "mark all as read" and
 *   Special:Notifications call): a `notification_read` event with the new counts, to that user.
 *
 * Only for users who turned live notifications on; only notifications whose category the user
 * receives on the web (Echo checks it before it creates one; checked again here). Echo's classes
 * are named only inside the handlers, which Echo's own hooks call (and APIAfterExecute only
 * when Echo is loaded), so this class loads on a wiki without Echo. Like every publish, the
 * work happens after the response and never fails Echo's.
 */
class EchoHooks implements APIAfterExecuteHook {

	/** The notification type and category of persistent patrol alerts (section 3). */
	public const ALERT_TYPE = 'realtimenotify-alert';

	private const MODEL = 'MediaWiki\\Extension\\Notifications\\Formatters\\EchoEventPresentationModel';
	private const NOTIF_USER = 'MediaWiki\\Extension\\Notifications\\NotifUser';
	private const SERVICES = 'MediaWiki\\Extension\\Notifications\\Services';

	/** @var EventBuilder */
	private $eventBuilder;
	/** @var EventPublisher */
	private $publisher;
	/** @var UserOptionsLookup */
	private $userOptions;
	/** @var LanguageFactory */
	private $languageFactory;
	/** @var UrlUtils */
	private $urlUtils;
	/** @var \Config */
	private $config;
	/** @var callable(string): bool */
	private $isLoaded;

	/**
	 * @param EventBuilder $eventBuilder
	 * @param EventPublisher $publisher
	 * @param UserOptionsLookup $userOptions
	 * @param LanguageFactory $languageFactory
	 * @param UrlUtils $urlUtils
	 * @param \Config $config
	 * @param callable|null $isLoaded Extension name → loaded (tests; default: ExtensionRegistry)
	 */
	public function __construct(
		EventBuilder $eventBuilder,
		EventPublisher $publisher,
		UserOptionsLookup $userOptions,
		LanguageFactory $languageFactory,
		UrlUtils $urlUtils,
		$config,
		?callable $isLoaded = null
	) {
		$this->config = $config;
		$this->eventBuilder = $eventBuilder;
		$this->publisher = $publisher;
		$this->userOptions = $userOptions;
		$this->languageFactory = $languageFactory;
		$this->urlUtils = $urlUtils;
		$this->isLoaded = $isLoaded ?? static function ( string $name ): bool {
			return ExtensionRegistry::getInstance()->isLoaded( $name );
		};
	}

	/**
	 * Echo's hook: the notification type of persistent patrol alerts (section 3), in a category
	 * of its own (on the web by default: extension.json's DefaultUserOptions), for the holders
	 * of the alert right (PersistentAlerts::locateRecipients).
	 *
	 * @param array &$notifications
	 * @param array &$notificationCategories
	 * @param array &$notificationIcons
	 */
	public function onBeforeCreateEchoEvent( &$notifications, &$notificationCategories, &$notificationIcons ): void {
		if ( (string)$this->config->get( 'RealTimeNotifyAlertRight' ) === '' ) {
			return;
		}
		$notificationCategories[self::ALERT_TYPE] = [
			'priority' => 3,
			'tooltip' => 'echo-pref-tooltip-realtimenotify-alert',
		];
		$notifications[self::ALERT_TYPE] = [
			'category' => self::ALERT_TYPE,
			'group' => 'negative',
			'section' => 'alert',
			'presentation-model' => AlertPresentationModel::class,
			'user-locators' => [ PersistentAlerts::class . '::locateRecipients' ],
		];
	}

	/**
	 * @param UserIdentity $user
	 * @return bool The user turned live notifications on (nobody else's browser listens)
	 */
	private function wantsLive( UserIdentity $user ): bool {
		return $user->isRegistered() && $this->userOptions->getBoolOption( $user, UserHooks::PREF );
	}

	/**
	 * Echo's hook: a notification was created for one user.
	 *
	 * @param \MediaWiki\Extension\Notifications\Model\Notification $notification
	 */
	public function onEchoCreateNotificationComplete( $notification ): void {
		$user = $notification->getUser();
		if ( !$this->wantsLive( $user ) ) {
			return;
		}
		$event = $notification->getEvent();
		$this->publisher->publish( function () use ( $user, $event ) {
			return $this->notificationEvent( $user, $event );
		}, 'EchoCreateNotificationComplete' );
	}

	/**
	 * @inheritDoc
	 */
	public function onAPIAfterExecute( $module ) {
		if ( $module->getModuleName() !== 'echomarkread' || !( $this->isLoaded )( 'Echo' ) ) {
			return;
		}
		$user = $module->getUser();
		if ( !$this->wantsLive( $user ) ) {
			return;
		}
		$this->publisher->publish( function () use ( $user ) {
			return $this->eventBuilder->newNotificationReadEvent(
				$user,
				SpecialPage::getTitleFor( 'Notifications' )->getPrefixedText(),
				ConvertibleTimestamp::now( TS_MW ),
				$this->counts( $user )
			);
		}, 'APIAfterExecute' );
	}

	/**
	 * @param \MediaWiki\User\User $user
	 * @return array [ 'alert' => unread alerts, 'message' => unread notices ], as Echo's badges count
	 */
	private function counts( $user ): array {
		$class = self::NOTIF_USER;
		$notifUser = $class::newFromUser( $user );
		return [ 'alert' => $notifUser->getAlertCount(), 'message' => $notifUser->getMessageCount() ];
	}

	/**
	 * The `notification` event of one Echo event for one user, rendered by Echo's presentation
	 * model as Echo's flyout would render it for them; null when it must not be sent (a category
	 * they do not get on the web, a notification Echo would not show).
	 *
	 * @param \MediaWiki\User\User $user
	 * @param \MediaWiki\Extension\Notifications\Model\Event $event
	 * @return array|null
	 */
	private function notificationEvent( $user, $event ): ?array {
		$type = $event->getType();
		$services = self::SERVICES;
		$webTypes = $services::getInstance()->getAttributeManager()->getUserEnabledEvents( $user, 'web' );
		$model = self::MODEL;
		if ( !in_array( $type, $webTypes, true ) || !$model::supportsPresentationModel( $type ) ) {
			return null;
		}
		$language = $this->languageFactory->getLanguage( (string)$this->userOptions->getOption( $user, 'language' ) );
		$presentation = $model::factory( $event, $language, $user, 'web' );
		if ( !$presentation->canRender() ) {
			return null;
		}
		// Plain text: the header's HTML without its tags (as Echo's plain-text e-mails do).
		$header = html_entity_decode(
			strip_tags( $presentation->getHeaderMessage()->parse() ),
			ENT_QUOTES | ENT_HTML5,
			'UTF-8'
		);
		$link = $presentation->getPrimaryLinkWithMarkAsRead();
		$url = $link ? $this->urlUtils->expand( (string)$link['url'], PROTO_CANONICAL ) : null;

		$title = $event->getTitle();
		$agent = $event->getAgent();
		$revision = $event->getRevision();
		if ( $agent && $revision && !$revision->userCan( RevisionRecord::DELETED_USER, $user ) ) {
			// Hidden from this user, as Echo hides it in the header.
			$agent = new UserIdentityValue( 0, '' );
		}
		return $this->eventBuilder->newNotificationEvent(
			$user->getId(),
			$title ? $title->getPrefixedText() : SpecialPage::getTitleFor( 'Notifications' )->getPrefixedText(),
			$title ? $title->getNamespace() : null,
			$agent,
			(string)( $event->getTimestamp() ?: ConvertibleTimestamp::now( TS_MW ) ),
			$header,
			$url,
			$event->getCategory(),
			$event->getSection(),
			(int)$event->getId(),
			$this->counts( $user )
		);
	}
}
