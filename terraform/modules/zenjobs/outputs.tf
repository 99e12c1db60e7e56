output "invoker_service_account_email" {
  description = "Email of the invoker account; configure the runtime to expect it in OIDC tokens."
  value       = google_service_account.invoker.email
}

output "runtime_service_account_email" {
  description = "Email of the account the Cloud Run service must run as."
  value       = local.runtime_email
}

output "queue_ids" {
  description = "Full resource ids of the Cloud Tasks queues, by queue id."
  value       = { for name, q in google_cloud_tasks_queue.queue : name => q.id }
}

output "queue_urls" {
  description = "Base URL each queue delivers to, by queue id."
  value       = local.queue_urls
}

output "scheduler_job_id" {
  description = "Resource id of the one Cloud Scheduler job (the master tick)."
  value       = google_cloud_scheduler_job.master.id
}

output "master_uri" {
  description = "URL the master tick posts to."
  value       = google_cloud_scheduler_job.master.http_target[0].uri
}

output "firestore_index_ids" {
  description = "Resource ids of the due-jobs composite indexes, the runs.due_at field index and the dashboard's runs indexes (dead runs, run counts) (empty when not created)."
  value = concat(
    google_firestore_index.due_jobs[*].id,
    google_firestore_index.due_jobs_by_priority[*].id,
    google_firestore_field.runs_overdue[*].id,
    google_firestore_index.dead_runs[*].id,
    google_firestore_index.job_dead_runs[*].id,
    google_firestore_index.run_counts[*].id,
  )
}

output "dashboard_members" {
  description = "Members granted roles/run.invoker on the service for the dashboard (/_zenjobs/ui), sorted; empty when none."
  value       = sort([for binding in google_cloud_run_v2_service_iam_member.dashboard : binding.member])
}
