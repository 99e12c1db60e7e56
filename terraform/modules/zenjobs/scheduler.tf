# The one Cloud Scheduler job: the master tick. However many schedules the
# registry holds, the tick finds due jobs with one indexed Firestore query.

resource "google_cloud_scheduler_job" "master" {
  project          = var.project_id
  region           = var.region
  name             = var.scheduler_job_name
  description      = "zenjobs master tick: claims and runs due scheduled and periodic jobs."
  schedule         = var.master_schedule
  time_zone        = var.master_time_zone
  attempt_deadline = var.master_attempt_deadline
  paused           = var.master_paused

  # A retried delivery carries the same X-CloudScheduler-ScheduleTime, so the
  # runtime treats it as the same tick; a few quick retries are enough.
  retry_config {
    retry_count          = var.master_retry_count
    min_backoff_duration = "5s"
    max_backoff_duration = "30s"
    max_doublings        = 2
  }

  http_target {
    http_method = "POST"
    uri         = "${var.service_url}/_zenjobs/master"

    oidc_token {
      service_account_email = google_service_account.invoker.email
      audience              = var.service_url
    }
  }

  depends_on = [
    google_project_service.apis,
    google_cloud_run_v2_service_iam_member.invoker,
  ]
}
