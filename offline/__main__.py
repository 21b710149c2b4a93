"""Command line of the program run offline, under mocks:

    python -m offline render --stack staging    # manifests, inventory and summary into build/<stack>/
    python -m offline check --stack staging     # the policy pack at the stack's levels (offline/check.py);
                                                # --json, or --sarif FILE for code scanning
    python -m offline diff --base origin/main   # each stack's render, base against head (offline/diff.py)

Exit status of render: 0 rendered; 2 the stack or its configuration cannot be used (the
message names the key, the value and what is allowed); 1 anything else. check: 0 no
mandatory violation, 1 at least one, 2 unusable input. diff: 0 the reports were written, 2
unusable input. Errors are one line; add --debug for a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

EXIT_UNUSABLE_INPUT = 2


def render_command(arguments: argparse.Namespace) -> int:
    from offline.program import PROJECT_DIR, run_program
    from offline.render import write_render
    from offline.stack_config import config_overrides, load_stack_config, secrets_file, with_overrides

    out_dir = arguments.out or PROJECT_DIR / "build" / arguments.stack
    config = with_overrides(
        load_stack_config(
            PROJECT_DIR, arguments.stack, secrets_file(arguments.secrets_file), stack_file=arguments.stack_file
        ),
        config_overrides(arguments.config),
    )
    recording = run_program(config)
    result = write_render(recording, out_dir)

    namespaces = sorted({obj.namespace for obj in result.objects if obj.namespace})
    shown_dir = os.path.relpath(out_dir) if out_dir.is_absolute() else str(out_dir)
    print(
        f"Rendered stack {config.stack} offline from {config.stack_file}: "
        f"{len(recording.resources)} resources, {len(result.objects)} Kubernetes objects "
        f"in {len(namespaces)} namespaces ({', '.join(namespaces)})."
    )
    if config.placeholders:
        print(
            f"Secrets not readable offline got placeholders: {', '.join(config.placeholders)} "
            "(set them with `pulumi config set --secret` before `pulumi up`)."
        )
    print(f"Wrote {shown_dir}/: manifests/ ({len(result.objects)} files), inventory.json, summary.md")
    return 0


def main(argv: list[str] | None = None) -> int:
    arguments_given = sys.argv[1:] if argv is None else argv
    command = arguments_given[0] if arguments_given else ""
    if command == "diff":
        from offline import diff

        # The render diff renders in child processes and needs none of the Pulumi SDK that the
        # other commands import (half a second before anything happens).
        diff_parser = argparse.ArgumentParser(prog="python -m offline diff", description=diff.__doc__.splitlines()[0])
        diff.add_arguments(diff_parser)
        return diff.diff_command(diff_parser.parse_args(arguments_given[1:]))

    # Imported here, after the diff's early return (see above).
    from offline.program import DefaultProviderError
    from offline.render import RenderDirectoryError
    from offline.stack_config import StackConfigError
    from stacks.errors import SettingsError

    parser = argparse.ArgumentParser(prog="python -m offline", description="Run the program offline under mocks.")
    parser.add_argument("--debug", action="store_true", help="show a traceback on failure")
    commands = parser.add_subparsers(dest="command", required=True)
    render = commands.add_parser("render", help="write manifests, inventory and summary of one stack")
    render.add_argument("--stack", default="staging", help="stack name (default: staging)")
    render.add_argument("--out", type=Path, help="output directory (default: build/<stack>)")
    render.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config value, as `pulumi up --config` does (repeatable)",
    )
    render.add_argument(
        "--secrets-file",
        type=Path,
        help="YAML map of secret config keys (or appSecrets.NAME paths) to values to use instead of placeholders",
    )
    render.add_argument(
        "--stack-file",
        type=Path,
        help="read the stack's config from this file instead of Pulumi.<stack>.yaml (an example under examples/)",
    )
    check_parser = commands.add_parser("check", help="run the policy pack over one stack at its levels")
    diff_parser = commands.add_parser("diff", help="compare each stack's render at two commits (or the work tree)")
    if command != "render":
        # A render needs neither the policy pack nor the diff: a tenth of a second of imports it skips.
        from offline import check, diff

        check.add_arguments(check_parser)
        diff.add_arguments(diff_parser)
    arguments = parser.parse_args(arguments_given)
    if arguments.command == "diff":
        return diff.diff_command(arguments)
    try:
        return render_command(arguments) if arguments.command == "render" else check.check_command(arguments)
    except (SettingsError, StackConfigError, DefaultProviderError, RenderDirectoryError) as error:
        if arguments.debug:
            traceback.print_exc()
        print(f"error: {error}", file=sys.stderr)
        return EXIT_UNUSABLE_INPUT
    except Exception as error:  # noqa: BLE001 - one line instead of a traceback, by design
        if arguments.debug:
            traceback.print_exc()
        print(f"error: {type(error).__name__}: {error} (run with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: the Pulumi SDK's event loop and gRPC threads print noise
    # when garbage-collected at exit, and nothing is left to clean up.
    os._exit(status)
