"""Parses an OpenMetrics exposition (stdin) with the Prometheus project's
Python client, an independent parser, and prints its samples as JSON for
the host's metrics tests (`host/tests/it/telemetry.rs`): one object per
family, `{"name", "type", "samples": [{"name", "labels", "value"}]}`.
A text that is not valid OpenMetrics exits non-zero with the parser's error.
"""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def main() -> None:
    families = [
        {
            "name": family.name,
            "type": family.type,
            "samples": [
                {"name": s.name, "labels": s.labels, "value": s.value}
                for s in family.samples
            ],
        }
        for family in text_string_to_metric_families(sys.stdin.read())
    ]
    json.dump(families, sys.stdout)


if __name__ == "__main__":
    main()
