"""The edge area: how the world reaches the CRM over TLS.

Traefik and cert-manager (installed by the stack that owns the cluster add-ons), the
ClusterIssuers, and every stack's middlewares and TLS Ingresses.
"""

from components.edge.charts import INGRESS_CONTROLLER
from components.edge.charts import METRICS_TARGETS as EDGE_METRICS_TARGETS
from components.edge.edge import Edge, EdgeArgs

__all__ = ["EDGE_METRICS_TARGETS", "INGRESS_CONTROLLER", "Edge", "EdgeArgs"]
