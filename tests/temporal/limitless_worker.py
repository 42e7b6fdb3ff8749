"""`connector worker` with every app's rate limits replaced by 5 concurrent connections:
the kill test and the benchmarks send thousands of writes to a sandbox, far past what the
manifests' hourly figures allow. Same arguments as `connector worker`."""

from __future__ import annotations

import sys

from connector.cli import main, temporal_cmd
from connector.engine.rate_budget import RateLimitSpec

LIMITS = {app: RateLimitSpec(concurrency=5) for app in ("bitly", "shorten_dev")}

if __name__ == "__main__":
    temporal_cmd.RATE_OVERRIDES = LIMITS
    sys.exit(main(["worker", *sys.argv[1:]]))
