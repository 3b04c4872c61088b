"""pywikibot's EventStreams, unmodified, with its url pointed at the gateway's SSE feed.

Usage: pywikibot_stream.py API_URL STREAM_URL TOTAL
The site is the test wiki itself (pywikibot.Site(url=...) makes an AutoFamily of its api.php);
prints each event pywikibot yields as one JSON line, after checking it against
contract/recentchange-1.0.1.schema.json with jsonschema. Runs in the venv of scripts/py-venv.sh,
with PYWIKIBOT_DIR set to a scratch folder by the caller (e2e/tests/eventstreams.test.mjs).
"""

import json
import os
import sys

import jsonschema
import pywikibot
from pywikibot.comms.eventstreams import EventStreams

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCHEMA = json.load(open(os.path.join(REPO, "contract", "recentchange-1.0.1.schema.json")))


def main(api_url, stream_url, total):
    site = pywikibot.Site(url=api_url)
    stream = EventStreams(url=stream_url, site=site, timeout=30)
    stream.set_maximum_items(int(total))
    # pywikibot's own filter, as a bot would use it: changes of this wiki only (by its id:
    # server_name is the host without the test wiki's port).
    stream.register_filter(wiki=site.siteinfo["wikiid"])
    print("connected", flush=True)
    for change in stream:
        jsonschema.validate(change, SCHEMA)
        print(json.dumps(change), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
