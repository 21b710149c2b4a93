"""The bottom layer: plain facts and readers every other layer shares, with no Pulumi import.

- `quantities`: Kubernetes resource quantities ("500m", "512Mi") parsed and formatted;
- `objects`: reading Kubernetes objects as YAML spells them (where each kind keeps its pod spec);
- `labels`: the well-known label keys the platform sets and selects on;
- `secret_names`: when a variable or key name says it holds a secret;
- `stack_names`: the naming convention of review stacks (pr-<number>).

stacks/, components/, policies/ and offline/ import from here; this package imports nothing of
the project (tests/test_layers.py holds every layer to that), so the policy pack can be
published or run with nothing but this folder beside it.
"""
