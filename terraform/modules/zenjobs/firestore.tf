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
