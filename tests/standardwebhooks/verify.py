"""Verifies a webhook delivery as a receiver would, with the Standard Webhooks
reference library (`standardwebhooks`, installed by `cargo xtask test` into
target/standardwebhooks).

Reads {"secret": "whsec_...", "headers": {...}, "body": "..."} as JSON on
standard input. Exits 0 when the delivery verifies; otherwise prints why and
exits 1.
"""

import json
import sys

from standardwebhooks.webhooks import Webhook

given = json.load(sys.stdin)
try:
    Webhook(given["secret"]).verify(given["body"], given["headers"])
except Exception as refused:  # the library's reasons are its own exceptions
    print(f"{type(refused).__name__}: {refused}")
    sys.exit(1)
