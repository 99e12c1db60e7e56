"""Entry point Terraform launches (through the mirror's launcher script)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tf.runner import run_provider

from provider import SCHEMA_PATH, SchemaOnlyGoogleProvider


def main() -> None:
    path = Path(os.environ.get("ZENJOBS_GOOGLE_SCHEMA", SCHEMA_PATH))
    run_provider(SchemaOnlyGoogleProvider.from_file(path), sys.argv)


if __name__ == "__main__":
    main()
