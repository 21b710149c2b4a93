"""The platform area: what every stack stands on.

Providers (the stack's Kubernetes cluster and AWS account), the app and monitoring
namespaces, RBAC, generated and configured secrets, and the network policies of the app
namespace. The rest of the program uses only the names below.
"""

from components.platform.access import Access, AccessArgs
from components.platform.namespaces import Namespaces, NamespacesArgs
from components.platform.network_policies import NetworkPolicies, NetworkPoliciesArgs
from components.platform.providers import aws_options, aws_provider, kubernetes_options, kubernetes_provider
from components.platform.secrets import (
    ApplicationSecrets,
    AppSecrets,
    RegistryCredentials,
    Secrets,
    SecretsArgs,
    SmtpCredentials,
)

__all__ = [
    "Access",
    "AccessArgs",
    "AppSecrets",
    "ApplicationSecrets",
    "Namespaces",
    "NamespacesArgs",
    "NetworkPolicies",
    "NetworkPoliciesArgs",
    "RegistryCredentials",
    "Secrets",
    "SecretsArgs",
    "SmtpCredentials",
    "aws_options",
    "aws_provider",
    "kubernetes_options",
    "kubernetes_provider",
]
