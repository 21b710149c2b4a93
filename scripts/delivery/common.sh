#!/usr/bin/env bash
# Shared by the delivery scripts (sourced, not run): failure and notice lines that GitHub Actions
# turns into annotations, and the stack helpers every script needs. The caller sets `script`.

# One line on stderr; under GitHub Actions an error annotation, so the run page shows it.
fail() {
  if [ "${GITHUB_ACTIONS:-}" = "true" ]; then
    printf '::error title=%s::%s\n' "${script:-delivery}" "$*" >&2
  else
    printf '%s: %s\n' "${script:-delivery}" "$*" >&2
  fi
  exit 1
}

notice() {
  if [ "${GITHUB_ACTIONS:-}" = "true" ]; then
    printf '::notice title=%s::%s\n' "${script:-delivery}" "$*"
  else
    printf '%s: %s\n' "${script:-delivery}" "$*"
  fi
}

# `name=value` for later steps of the job (GITHUB_OUTPUT); printed when run outside Actions.
set_output() {
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"
  else
    printf 'output %s=%s\n' "$1" "$2"
  fi
}

# Stack names the workflows may pass: the three stack files and pr-<number> review stacks.
require_stack_name() {
  case "$1" in
    dev | staging | production) ;;
    pr-[1-9]*)
      [[ "$1" =~ ^pr-[1-9][0-9]{0,6}$ ]] || fail "stack '$1' is not a review stack name (pr-<number>)"
      ;;
    *) fail "unknown stack '$1': allowed dev, staging, production or pr-<number>" ;;
  esac
}
