"""One `pulumi.ComponentResource` per concern; each takes (name, args, opts).

Components never read config or the environment: everything they need arrives in their
args, built from `stacks.Settings` by `__main__.py`.
"""
