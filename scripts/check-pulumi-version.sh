#!/usr/bin/env bash
# Fail unless the Pulumi CLI on PATH is the version .pulumi-version pins: `make preview` and
# `make up` run this first, and the workflows install exactly that version (pulumi/actions'
# pulumi-version-file), so a laptop and CI run the same engine against the same state.
# PULUMI_VERSION_FILE names another pin file: a rollback applies an older commit with the CLI
# the current commit pinned and installed.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
pin_file=${PULUMI_VERSION_FILE:-$here/.pulumi-version}
pinned=$(tr -d '[:space:]' <"$pin_file")
[[ "$pinned" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || {
  echo "check-pulumi-version: $pin_file holds '$pinned', not a version such as 3.272.0" >&2
  exit 2
}
install="install it: curl -fsSL https://get.pulumi.com | sh -s -- --version $pinned"
if ! command -v pulumi >/dev/null; then
  echo "check-pulumi-version: no pulumi CLI on PATH; this repository pins $pinned ($install)" >&2
  exit 1
fi
installed=$(pulumi version 2>/dev/null | tr -d '[:space:]') || installed=unknown
installed=${installed#v}
if [ "$installed" != "$pinned" ]; then
  echo "check-pulumi-version: pulumi CLI $installed is not the $pinned that $pin_file pins ($install)" >&2
  exit 1
fi
