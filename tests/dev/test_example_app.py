"""The example service chooses its mode from ZENJOBS_MODE, safely.

Each case imports ``examples.newsletter.app`` in a fresh interpreter, because
the module builds its executor at import time (as a Cloud Run service does).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROBE = (
    "import sys\n"
    "import examples.newsletter.app as service\n"
    "loaded = sorted(m for m in sys.modules if m.startswith(('google.cloud', 'grpc')))\n"
    "print(service.executor.mode, loaded)\n"
)
PRODUCTION = {
    "ZENJOBS_MODE": "production",
    "ZENJOBS_PROJECT": "demo-project",
    "ZENJOBS_LOCATION": "europe-west1",
    "ZENJOBS_SERVICE_URL": "https://newsletter-abc-ew.a.run.app",
    "ZENJOBS_INVOKER_SA": "zenjobs-invoker@demo-project.iam.gserviceaccount.com",
}


def probe(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ZENJOBS_", "GOOGLE_", "GCLOUD_", "K_SERVICE"))}
    env.update(extra)
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)


def test_production_mode_imports_no_cloud_sdk_until_first_use(tmp_path: Path) -> None:
    done = probe(tmp_path, **PRODUCTION)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "production []"


def test_production_mode_names_every_missing_setting(tmp_path: Path) -> None:
    done = probe(tmp_path, ZENJOBS_MODE="production")
    assert done.returncode != 0
    for setting in ("project", "location", "service_url", "invoker_service_account"):
        assert setting in done.stderr


def test_an_unknown_mode_is_refused_not_guessed(tmp_path: Path) -> None:
    done = probe(tmp_path, ZENJOBS_MODE="prod")
    assert done.returncode != 0
    assert "ZENJOBS_MODE='prod'" in done.stderr


def test_development_mode_is_refused_on_cloud_run(tmp_path: Path) -> None:
    done = probe(tmp_path, K_SERVICE="newsletter")
    assert done.returncode != 0
    assert "unauthenticated development webhook" in done.stderr


def test_development_is_the_default(tmp_path: Path) -> None:
    done = probe(tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "development []"
    assert (tmp_path / ".zenjobs" / "dev.sqlite3").exists()  # the default store, in cwd
