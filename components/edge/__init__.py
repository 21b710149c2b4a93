"""The edge area: how the world reaches the CRM over TLS.

Traefik and cert-manager (installed by the stack that owns the cluster add-ons), the
ClusterIssuers (DNS-01 ones through Route53, with cert-manager's IAM role, where tenants need
wildcards), and every stack's middlewares and TLS routes: the frontend's Ingress, the API
host's IngressRoute over a weighted TraefikService (releases) with its Certificate, and the
tenant hosts' IngressRoute over the same service with their wildcard Certificate.
"""

from components.edge.api_routes import ApiRoutes, ApiRoutesArgs, weighted_backends
from components.edge.charts import INGRESS_CONTROLLER
from components.edge.charts import METRICS_TARGETS as EDGE_METRICS_TARGETS
from components.edge.dns_challenges import DnsChallengeRole, DnsChallengeRoleArgs
from components.edge.edge import Edge, EdgeArgs

__all__ = [
    "EDGE_METRICS_TARGETS",
    "INGRESS_CONTROLLER",
    "ApiRoutes",
    "ApiRoutesArgs",
    "DnsChallengeRole",
    "DnsChallengeRoleArgs",
    "Edge",
    "EdgeArgs",
    "weighted_backends",
]
