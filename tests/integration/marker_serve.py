"""`redline ...` with the marker-based test screener in place of the classifier, for tests that run
`redline serve` as a process of its own: python -m tests.integration.marker_serve serve --config FILE"""

import sys

from redline.cli import app as cli
from redline.gateway import app
from tests.gateway.screener import marker_screener

app.default_screener = marker_screener  # the one thing swapped; CLI, settings, app and audit log are real
cli(sys.argv[1:])
