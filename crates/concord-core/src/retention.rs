//! Record retention (21 CFR 11.10(c), requirement P11-10c-1): a retention period per project
//! (indefinite by default), legal holds, logical deletion with a reason, and the purge job.
//!
//! Only administrators change retention. A project is deleted logically (closed, its records
//! kept and readable); its records are purged only after the retention period has run out
//! since the deletion, and never while a legal hold is in force. Every change, every refusal and
//! every purge is audited; `concord audit verify` checks that nothing disappeared without a
//! purge event listing it.

use crate::service::{Core, CoreError, CoreResult, require};
use concord_store::{
    LegalHold, Millis, PurgeReport, Retention, RetentionChange, RetentionRequest, Role, User,
};

/// One project's outcome in a run of the purge job.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PurgeOutcome {
    /// The project's name.
    pub project: String,
    /// What was removed, when the project was purged.
    pub purged: Option<PurgeReport>,
    /// Why it was not purged (held, not deleted, the period still running, indefinite).
    pub kept_because: Option<String>,
}

impl Core {
    /// A project's retention state.
    ///
    /// # Errors
    /// [`CoreError::NotFound`] for an unknown project.
    pub async fn retention(&self, project: &str) -> CoreResult<Retention> {
        let project = self.store().project(project).await?;
        Ok(self.store().retention(project.id).await?)
    }

    async fn change_retention(
        &self,
        actor: &User,
        project: &str,
        reason: &str,
        change: RetentionChange,
    ) -> CoreResult<Retention> {
        require(actor, Role::Admin, "change a project's retention")?;
        if reason.trim().is_empty() {
            return Err(CoreError::Invalid(
                "a reason is required (--reason): retention changes are part of the record".into(),
            ));
        }
        let project = self.store().project(project).await?;
        let state = self
            .store()
            .change_retention(RetentionRequest {
                project_id: project.id,
                actor: Some(actor.id),
                now: self.now(),
                reason: reason.to_string(),
                change,
            })
            .await?;
        // A deleted project takes no new leases; forget its cached settings at once.
        self.forget_context(&project.name);
        Ok(state)
    }

    /// Keeps a project's records `days` after its deletion (`None`: indefinitely, the default).
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless the actor is an administrator; [`CoreError::Invalid`]
    /// without a reason; [`CoreError::Conflict`] once the project is purged.
    pub async fn set_retention(
        &self,
        actor: &User,
        project: &str,
        days: Option<u32>,
        reason: &str,
    ) -> CoreResult<Retention> {
        let days = days.map(i64::from);
        self.change_retention(actor, project, reason, RetentionChange::Period { days })
            .await
    }

    /// Places a legal hold: the project can be neither deleted nor purged until it is
    /// released.
    ///
    /// # Errors
    /// As [`Core::set_retention`].
    pub async fn place_hold(
        &self,
        actor: &User,
        project: &str,
        reason: &str,
    ) -> CoreResult<LegalHold> {
        let state = self
            .change_retention(actor, project, reason, RetentionChange::PlaceHold)
            .await?;
        Ok(state
            .holds
            .into_iter()
            .next_back()
            .expect("the hold just placed"))
    }

    /// Releases legal hold `hold_id`.
    ///
    /// # Errors
    /// As [`Core::set_retention`]; [`CoreError::NotFound`] unless the hold is in force on the
    /// project.
    pub async fn release_hold(
        &self,
        actor: &User,
        project: &str,
        hold_id: i64,
        reason: &str,
    ) -> CoreResult<Retention> {
        self.change_retention(
            actor,
            project,
            reason,
            RetentionChange::ReleaseHold { hold_id },
        )
        .await
    }

    /// Deletes a project logically: a tombstone with the reason; the project takes no new
    /// records, its open leases end, and its retention period starts. Its records stay
    /// readable until the purge job removes them.
    ///
    /// # Errors
    /// As [`Core::set_retention`]; [`CoreError::Conflict`] while a legal hold is in force (the
    /// refusal is audited as `project.delete.refused`) or when the project is already deleted.
    pub async fn delete_project(
        &self,
        actor: &User,
        project: &str,
        reason: &str,
    ) -> CoreResult<Retention> {
        self.change_retention(actor, project, reason, RetentionChange::Delete)
            .await
    }

    /// The purge job: removes the records of every deleted project whose retention period has
    /// run out and that no hold keeps, each in its own transaction with a `project.purge`
    /// event listing what it removed. `dry_run` only reports. Returns every project's outcome,
    /// by name.
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless the actor is an administrator; a store failure.
    pub async fn purge_expired(
        &self,
        actor: &User,
        dry_run: bool,
    ) -> CoreResult<Vec<PurgeOutcome>> {
        require(actor, Role::Admin, "purge records")?;
        let now: Millis = self.now();
        let mut outcomes = Vec::new();
        for project in self.store().projects().await? {
            let state = self.store().retention(project.id).await?;
            let kept_because = state.purge_blocker(now);
            let purged = match (&kept_because, dry_run) {
                (None, false) => Some(
                    self.store()
                        .purge_project(
                            project.id,
                            Some(actor.id),
                            now,
                            "the retention period ran out with no legal hold",
                        )
                        .await?,
                ),
                _ => None,
            };
            outcomes.push(PurgeOutcome {
                project: project.name,
                purged,
                kept_because,
            });
        }
        Ok(outcomes)
    }

    /// Writes a consistent copy of the database to `path` (a new file). Restoring is opening
    /// the copy (`--db`); it verifies with the same audit key.
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless the actor is an administrator; [`CoreError::Conflict`]
    /// when `path` exists.
    pub async fn backup(&self, actor: &User, path: &std::path::Path) -> CoreResult<()> {
        require(actor, Role::Admin, "back up the database")?;
        Ok(self.store().backup(path).await?)
    }
}
