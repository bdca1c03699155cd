"""Parses the Prometheus text format on stdin with the reference parser (prometheus_client) and
prints what it read as JSON: {"families": {name: type}, "samples": [[name, labels, value]]}.
A text the parser refuses makes this exit non-zero with the parser's error."""

import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families

families = {}
samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    families[family.name] = family.type
    for sample in family.samples:
        value = sample.value if math.isfinite(sample.value) else str(sample.value)
        samples.append([sample.name, dict(sample.labels), value])
json.dump({"families": families, "samples": samples}, sys.stdout)
