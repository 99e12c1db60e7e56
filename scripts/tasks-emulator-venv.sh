#!/usr/bin/env bash
# Create the private virtualenv of the Cloud Tasks emulator (PyPI gcloud-tasks-emulator).
#
# It lives apart from the project's .venv because the emulator pins protobuf < 5,
# which the project's google-cloud-* libraries no longer accept. Idempotent: an
# existing venv that already imports the emulator is left alone.
#
#   scripts/tasks-emulator-venv.sh            # creates .emulators/tasks-venv
#   TASKS_EMULATOR_VENV=/path scripts/tasks-emulator-venv.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${TASKS_EMULATOR_VENV:-$ROOT/.emulators/tasks-venv}"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import gcloud_tasks_emulator.server" 2>/dev/null; then
  echo "tasks emulator venv ready: $VENV"
  exit 0
fi

rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  "gcloud-tasks-emulator==0.6.2" "protobuf>=4.21,<5" "google-cloud-tasks>=2.13,<3" "pyyaml>=6"
"$VENV/bin/python" -c "import gcloud_tasks_emulator.server"
echo "tasks emulator venv ready: $VENV"
