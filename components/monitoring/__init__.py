"""The monitoring area: what a stack measures, when it alerts, where alerts go, what it shows.

Pure modules so far (no resources): `rules` (the PrometheusRule groups), `alertmanager` (the
Alertmanager configuration document) and `dashboards` (Grafana dashboards as JSON).
"""
