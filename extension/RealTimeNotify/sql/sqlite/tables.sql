-- Patrol alerts that persist (issue 17, section 3): one row per alerted revision, open until
-- someone handles it (patrols, reverts or marks it handled). SQLite.
CREATE TABLE /*_*/realtimenotify_alert (
  rta_id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  rta_rev_id INTEGER UNSIGNED NOT NULL,
  rta_page_id INTEGER UNSIGNED DEFAULT 0 NOT NULL,
  rta_timestamp BLOB NOT NULL,
  rta_event BLOB NOT NULL,
  rta_handled_by BLOB DEFAULT NULL,
  rta_handled_how BLOB DEFAULT NULL,
  rta_handled_timestamp BLOB DEFAULT NULL
);
CREATE UNIQUE INDEX /*i*/rta_rev_id ON /*_*/realtimenotify_alert (rta_rev_id);
CREATE INDEX /*i*/rta_open ON /*_*/realtimenotify_alert (rta_handled_timestamp, rta_timestamp);
CREATE INDEX /*i*/rta_page ON /*_*/realtimenotify_alert (rta_page_id, rta_rev_id);
