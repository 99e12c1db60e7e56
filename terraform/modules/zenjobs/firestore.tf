# The master tick's due-jobs query is
#   enabled == true AND next_run_at <= now ORDER BY next_run_at LIMIT batch
# which needs the first index; its cost grows with due jobs, not registered
# jobs. Only when that page is full (a backlog) does the store re-read the
# batch in exact priority order, ORDER BY priority DESC, next_run_at, which
# needs the second. Both must match zenjobs.stores.firestore.DUE_INDEXES.

resource "google_firestore_index" "due_jobs" {
  count = var.create_firestore_index ? 1 : 0

  project     = var.project_id
  database    = var.firestore_database
  collection  = var.jobs_collection
  query_scope = "COLLECTION"

  fields {
    field_path = "enabled"
    order      = "ASCENDING"
  }

  fields {
    field_path = "next_run_at"
    order      = "ASCENDING"
  }

  depends_on = [google_project_service.apis]
}

resource "google_firestore_index" "due_jobs_by_priority" {
  count = var.create_firestore_index ? 1 : 0

  project     = var.project_id
  database    = var.firestore_database
  collection  = var.jobs_collection
  query_scope = "COLLECTION"

  fields {
    field_path = "enabled"
    order      = "ASCENDING"
  }

  fields {
    field_path = "priority"
    order      = "DESCENDING"
  }

  fields {
    field_path = "next_run_at"
    order      = "ASCENDING"
  }

  depends_on = [google_project_service.apis]
}

# The reconciler each tick runs finds runs whose next step is overdue (a retry
# or a task that was never created, a lease nobody took over) with one
# collection-group query over every job's runs subcollection:
#   due_at <= now - slack ORDER BY due_at LIMIT batch
# Finished runs store due_at null, so its cost grows with stuck runs, not with
# all runs. It needs this single-field index with collection-group scope (the
# automatic single-field indexes are collection-scoped only); it must match
# zenjobs.stores.firestore.OVERDUE_INDEX.
resource "google_firestore_field" "runs_overdue" {
  count = var.create_firestore_index ? 1 : 0

  project    = var.project_id
  database   = var.firestore_database
  collection = "runs"
  field      = "due_at"

  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
  }

  depends_on = [google_project_service.apis]
}

# The dashboard's dead-letter page lists runs whose retries ran out, newest
# first, across all jobs with one collection-group query over every job's runs
# subcollection:
#   status == "dead" ORDER BY created_at DESC, __name__ DESC LIMIT page
# and for one job the same query on that job's runs subcollection. Both need
# (status ASC, created_at DESC): the first with collection-group scope, the
# second with collection scope; Firestore appends __name__ DESC itself. Their
# cost grows with the dead runs shown, not with all runs. They must match
# zenjobs.stores.firestore.DEAD_RUNS_INDEX and JOB_DEAD_RUNS_INDEX.
resource "google_firestore_index" "dead_runs" {
  count = var.create_firestore_index ? 1 : 0

  project     = var.project_id
  database    = var.firestore_database
  collection  = "runs"
  query_scope = "COLLECTION_GROUP"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }

  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }

  depends_on = [google_project_service.apis]
}

resource "google_firestore_index" "job_dead_runs" {
  count = var.create_firestore_index ? 1 : 0

  project     = var.project_id
  database    = var.firestore_database
  collection  = "runs"
  query_scope = "COLLECTION"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }

  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }

  depends_on = [google_project_service.apis]
}

# The dashboard's per-job summary counts each job's recent runs by outcome with
# count() aggregations on the job's runs subcollection:
#   status IN [...] AND created_at >= since
# which read index entries, never run documents. It needs this composite index
# (collection scope); it must match zenjobs.stores.firestore.RUN_COUNTS_INDEX.
resource "google_firestore_index" "run_counts" {
  count = var.create_firestore_index ? 1 : 0

  project     = var.project_id
  database    = var.firestore_database
  collection  = "runs"
  query_scope = "COLLECTION"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }

  fields {
    field_path = "created_at"
    order      = "ASCENDING"
  }

  depends_on = [google_project_service.apis]
}

# Run records (jobs/{job_id}/runs/{execution_id}) carry expire_at; Firestore
# deletes them after that instant. The empty index_config turns off the
# single-field indexes of a field nobody queries.
resource "google_firestore_field" "runs_ttl" {
  count = var.runs_ttl_enabled ? 1 : 0

  project    = var.project_id
  database   = var.firestore_database
  collection = "runs"
  field      = "expire_at"

  ttl_config {}

  index_config {}

  depends_on = [google_project_service.apis]
}
