"""What the component areas share: pure helpers and the types they pass each other.

`charts` (pinned chart sources, add-on namespaces, chart installs), `pods` (the restricted
security contexts in the SDK's and Helm's spelling, probes, resources), `references`
(secret references, published services, the ingress controller), `checksums` (rollout
digests, release ids), `labels` (the stack's common labels), `endpoints` (the names that
connect the application to its data), `irsa` (IAM roles for ServiceAccounts: trust policies and the
projected web-identity token). An area imports these, never another area.
"""
