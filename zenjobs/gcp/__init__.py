"""Google Cloud plumbing shared by every GCP implementation.

:mod:`.clients` builds (lazily) and closes the SDK clients, :mod:`.errors` maps
Google API failures onto the zenjobs exception tree, :mod:`.oidc` verifies
Google-signed ID tokens and :mod:`.scheduler` controls the one Cloud Scheduler
master job. Importing any of them imports no Google SDK: each does so on first use.
"""
