#!/usr/bin/env bash
# Lint the GitHub workflows: actionlint (with shellcheck when present), zizmor (offline, fail on
# high severity), and the workflow JSON schema. Installs the pinned linters first unless
# CI_LINT_NO_INSTALL=1. Usage: bash ci/lint_workflows.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ "${CI_LINT_NO_INSTALL:-0}" != "1" ]; then
  "$PY" -m pip install --quiet --disable-pip-version-check -r ci/requirements-lint.txt
fi
workflows=(.github/workflows/*.yml)
echo "== actionlint"
actionlint -config-file .github/actionlint.yaml "${workflows[@]}"
echo "== zizmor --offline (fails on high severity)"
zizmor --offline --min-severity high --no-progress .github/workflows/
echo "== check-jsonschema vendor.github-workflows"
check-jsonschema --builtin-schema vendor.github-workflows "${workflows[@]}"
echo "workflow lint: ok (${#workflows[@]} files)"
