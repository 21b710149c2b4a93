#!/usr/bin/env bash
# Print one plain (non-secret) config value of a stack as the program receives it: the stack
# file's value, or Pulumi.yaml's default (review stacks: staging's file, as `pulumi config cp`
# makes them). Read offline by offline/stack_config.py, so no backend login is needed.
#
#   scripts/delivery/stack-setting.sh <stack> <key>      e.g. production kubeContext
set -euo pipefail
script="stack-setting"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/common.sh"

stack=${1:-}
key=${2:-}
require_stack_name "$stack"
[[ "$key" =~ ^[A-Za-z][A-Za-z0-9]*$ ]] || fail "config key '$key' is not a key name such as kubeContext"
here=$(cd "$(dirname "$0")/../.." && pwd)
python=${PYTHON:-$here/venv/bin/python}
[ -x "$python" ] || fail "no Python at $python: run make program-venv first"

cd "$here"
"$python" - "$stack" "$key" <<'PY'
import sys
from pathlib import Path

from offline.stack_config import StackConfigError, load_stack_config

stack, key = sys.argv[1], sys.argv[2]
try:
    config = load_stack_config(Path.cwd(), stack)
except StackConfigError as error:
    sys.exit(f"stack-setting: {error}")
full_key = f"{config.project}:{key}"
if full_key in config.secret_keys:
    sys.exit(f"stack-setting: {full_key} is a secret; this prints plain settings only")
if full_key not in config.values:
    sys.exit(f"stack-setting: stack {stack} has no setting {full_key} (not in {config.stack_file} or Pulumi.yaml)")
print(config.values[full_key])
PY
