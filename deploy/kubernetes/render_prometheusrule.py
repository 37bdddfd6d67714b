"""Render prometheusrule.yaml (a Prometheus Operator PrometheusRule) from monitoring/alerts.yml.

The alert rules have one source, monitoring/alerts.yml (checked by promtool and unit-tested by
monitoring/alerts_test.yml); this wraps its groups in the PrometheusRule resource unchanged.
Run after editing alerts.yml (tests/unit/deploy fails while the two differ):

    .venv/bin/python deploy/kubernetes/render_prometheusrule.py
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ALERTS = HERE.parents[1] / "monitoring" / "alerts.yml"
TARGET = HERE / "prometheusrule.yaml"

HEADER = """\
# GENERATED from monitoring/alerts.yml by deploy/kubernetes/render_prometheusrule.py; do not
# edit by hand. Prometheus selects PrometheusRules by label: adjust `release` to your
# Prometheus's ruleSelector.
"""


class _Dumper(yaml.SafeDumper):
    """Block style; multi-line strings as literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render(alerts_text: str) -> str:
    """The PrometheusRule document for the rule file ``alerts_text``."""
    alerts: dict[str, Any] = yaml.safe_load(alerts_text)
    resource = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "omnibase-infrastructure-alerts",
            "labels": {
                "app.kubernetes.io/name": "omnibase-infrastructure",
                "release": "prometheus",
            },
        },
        "spec": {"groups": alerts["groups"]},
    }
    body = yaml.dump(resource, Dumper=_Dumper, sort_keys=False, width=10_000, allow_unicode=True)
    return HEADER + body


def main() -> int:
    TARGET.write_text(render(ALERTS.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {TARGET.relative_to(HERE.parents[1])}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
