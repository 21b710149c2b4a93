"""Run the Pulumi program without the Pulumi CLI, a cluster or a cloud account.

`python -m offline render --stack <name>` writes build/<stack>/; the tests and the policy
checks build on the same recording of what the program declares.
"""
