# Least privilege. No primitive role and no project-wide run.invoker: the
# invoker (and the dashboard's members) may call the zenjobs service(s) only,
# and the runtime may enqueue into the zenjobs queues only.

resource "google_service_account" "invoker" {
  project      = var.project_id
  account_id   = var.invoker_account_id
  display_name = "zenjobs invoker"
  description  = "Identity of Cloud Scheduler ticks and Cloud Tasks deliveries to the zenjobs webhooks."

  depends_on = [google_project_service.apis]

  lifecycle {
    precondition {
      condition     = (var.heavy_service_name == null) == (var.heavy_service_url == null)
      error_message = "heavy_service_name and heavy_service_url go together: set both or neither."
    }
  }
}

resource "google_service_account" "runtime" {
  count = var.runtime_service_account_email == null ? 1 : 0

  project      = var.project_id
  account_id   = var.runtime_account_id
  display_name = "zenjobs runtime"
  description  = "Identity the Cloud Run service runs as: reads and writes job state, enqueues tasks."

  depends_on = [google_project_service.apis]
}

# The invoker may call the zenjobs service (and the heavy worker), nothing else.
resource "google_cloud_run_v2_service_iam_member" "invoker" {
  for_each = local.invoked_services

  project  = var.project_id
  location = var.region
  name     = each.value
  role     = "roles/run.invoker"
  member   = local.invoker_member
}

# The dashboard's human principals may reach the zenjobs service (which serves
# /_zenjobs/ui), nothing else: run.invoker on service_name only, never on the
# heavy worker, never project-wide, never public (see var.dashboard_members).
# The dashboard then checks each caller against its own operators and viewers.
resource "google_cloud_run_v2_service_iam_member" "dashboard" {
  for_each = toset(var.dashboard_members)

  project  = var.project_id
  location = var.region
  name     = var.service_name
  role     = "roles/run.invoker"
  member   = each.value
}

# The runtime creates tasks that carry an OIDC token for the invoker; Cloud
# Tasks requires the creator to be able to act as that account.
resource "google_service_account_iam_member" "runtime_acts_as_invoker" {
  service_account_id = google_service_account.invoker.name
  role               = "roles/iam.serviceAccountUser"
  member             = local.runtime_member
}

# CreateTask needs cloudtasks.tasks.create only, which roles/cloudtasks.enqueuer
# carries; granted per queue, so other queues in the project stay out of reach.
resource "google_cloud_tasks_queue_iam_member" "runtime_enqueuer" {
  for_each = google_cloud_tasks_queue.queue

  project  = var.project_id
  location = var.region
  name     = each.value.name
  role     = "roles/cloudtasks.enqueuer"
  member   = local.runtime_member
}

# Firestore has no IAM below the database: roles/datastore.user on the project
# is the narrowest grant that lets the runtime read and write job documents.
resource "google_project_iam_member" "runtime_firestore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = local.runtime_member
}

data "google_project" "this" {
  count = var.grant_service_agents ? 1 : 0

  project_id = var.project_id
}

# The Cloud Scheduler and Cloud Tasks service agents mint the OIDC tokens. Newer
# projects grant them this through their service agent roles; older ones do not.
# Scoped to the invoker account only.
resource "google_service_account_iam_member" "service_agent_token_creator" {
  for_each = var.grant_service_agents ? toset(["cloudscheduler", "cloudtasks"]) : toset([])

  service_account_id = google_service_account.invoker.name
  role               = "roles/iam.serviceAccountOpenIdTokenCreator"
  member             = "serviceAccount:service-${data.google_project.this[0].number}@gcp-sa-${each.key}.iam.gserviceaccount.com"

  depends_on = [google_project_service.apis]
}
