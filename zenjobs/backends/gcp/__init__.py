"""Google Cloud backends: the Firestore job store (and, beside it, the Cloud Tasks queue).

Importing this package does not import google.cloud: each backend imports its
SDK on first use, so a service that imports zenjobs pays for the SDK only when
it actually talks to Google Cloud.
"""

from __future__ import annotations

from .firestore import FirestoreJobStore

__all__ = ["FirestoreJobStore"]
