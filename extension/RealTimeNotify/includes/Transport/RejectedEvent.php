<?php

namespace MediaWiki\Extension\RealTimeNotify\Transport;

use RuntimeException;

/**
 * The broker received the event and refused it for good (the gateway's ingest answered 400 or
 * 413: malformed, too large). Sending it again would be refused again, so it is not retried.
 */
class RejectedEvent extends RuntimeException {
}
