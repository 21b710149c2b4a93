"""The application area: the CRM's own workloads and the configuration they read.

Web, worker, beat and frontend Deployments, the migration Job every release waits for,
their Services, autoscalers and disruption budgets, and the ConfigMap of non-secret settings.
"""

from components.app.app_config import AppConfigInputs
from components.app.workloads import AppWorkloads, AppWorkloadsArgs, selector_labels

__all__ = ["AppConfigInputs", "AppWorkloads", "AppWorkloadsArgs", "selector_labels"]
