-- Patrol alerts that persist (issue 17, section 3): one row per alerted revision, open until
-- someone handles it (patrols, reverts or marks it handled). MySQL / MariaDB.
CREATE TABLE /*_*/realtimenotify_alert (
  rta_id INT UNSIGNED AUTO_INCREMENT NOT NULL,
  -- The alerted revision and its page.
  rta_rev_id INT UNSIGNED NOT NULL,
  rta_page_id INT UNSIGNED NOT NULL DEFAULT 0,
  -- When the alert was raised (TS_MW).
  rta_timestamp BINARY(14) NOT NULL,
  -- The alert event as published (docs/events.md), without its audience: what the list shows.
  rta_event MEDIUMBLOB NOT NULL,
  -- Who handled it, how (a code: patrolled, reverted, handled) and when; NULL while open.
  rta_handled_by VARBINARY(255) DEFAULT NULL,
  rta_handled_how VARBINARY(32) DEFAULT NULL,
  rta_handled_timestamp BINARY(14) DEFAULT NULL,
  UNIQUE INDEX rta_rev_id (rta_rev_id),
  INDEX rta_open (rta_handled_timestamp, rta_timestamp),
  INDEX rta_page (rta_page_id, rta_rev_id),
  PRIMARY KEY(rta_id)
) /*$wgDBTableOptions*/;
