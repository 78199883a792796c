//! The truthing plan: the reference-standard method fixed, and signed, before the reads start
//! (FDA CADe 510(k) guidance §IV.H and Clinical Performance Assessment guidance §VI: "should be
//! fixed prior to initiating your evaluation"). Once reads have started, changing the protocol
//! or running consensus with another method needs a reason and is recorded as a deviation,
//! which the truthing report lists.

use crate::service::{Core, CoreError, CoreResult, require};
use concord_store::{
    AuditFilter, Deviation, Meaning, NewPlan, Role, SignAs, SignatureRecord, TruthingPlan, User,
};
use serde::Serialize;
use serde_json::Value;

/// A locked plan with its signatures.
#[derive(Debug, Clone, Serialize)]
pub struct PlanInfo {
    /// The plan.
    #[serde(flatten)]
    pub plan: TruthingPlan,
    /// Its signatures (printed name, time, meaning, still valid).
    pub signatures: Vec<SignatureRecord>,
}

/// A recorded departure from the plan.
#[derive(Debug, Clone, Serialize)]
pub struct DeviationInfo {
    /// The audit event's sequence number.
    pub seq: i64,
    /// When (UTC milliseconds).
    pub at: i64,
    /// Who.
    pub actor: Option<String>,
    /// What the plan said.
    pub from: Option<Value>,
    /// What it became.
    pub to: Option<Value>,
    /// Why.
    pub reason: Option<String>,
}

/// The plans of a project and the deviations from them.
#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    /// Plans, oldest first (the last one is in force).
    pub plans: Vec<PlanInfo>,
    /// Deviations, oldest first.
    pub deviations: Vec<DeviationInfo>,
}

impl Core {
    /// Locks the project's current protocol version and settings as its truthing plan, signed
    /// by the manager (who re-enters their password; meaning "approved").
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless manager, or for a wrong password.
    pub async fn lock_plan(
        &self,
        actor: &User,
        project: &str,
        password: &str,
    ) -> CoreResult<PlanInfo> {
        require(actor, Role::Manager, "lock truthing plans")?;
        self.reauthenticate(
            actor,
            password,
            &format!("the truthing plan of `{project}`"),
        )
        .await?;
        let store = self.store();
        let p = store.project(project).await?;
        let protocol = store.protocol(p.id, None).await?;
        let plan = store
            .lock_plan(NewPlan {
                project_id: p.id,
                protocol_version: protocol.version,
                schema_sha256: protocol.schema_sha256,
                settings: p.settings,
                created_by: actor.id,
                signature: SignAs {
                    printed_name: actor.display_name.clone(),
                    meaning: Meaning::Approved,
                },
                now: self.now(),
            })
            .await?;
        Ok(PlanInfo {
            signatures: store.signatures("truthing_plan", plan.id).await?,
            plan,
        })
    }

    /// The project's plans and the deviations recorded against them.
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless manager or auditor.
    pub async fn plans(&self, actor: &User, project: &str) -> CoreResult<PlanReport> {
        if !actor.has(Role::Manager) && !actor.has(Role::Auditor) {
            return Err(CoreError::Forbidden(format!(
                "{} may not read truthing plans",
                actor.name
            )));
        }
        let store = self.store();
        let p = store.project(project).await?;
        let mut plans = Vec::new();
        for plan in store.plans(p.id).await? {
            plans.push(PlanInfo {
                signatures: store.signatures("truthing_plan", plan.id).await?,
                plan,
            });
        }
        let deviations = store
            .audit_events(AuditFilter {
                entity: Some(format!("project:{}", p.id)),
                ..AuditFilter::default()
            })
            .await?
            .into_iter()
            .filter(|e| e.action == "plan.deviation")
            .map(|e| DeviationInfo {
                seq: e.seq,
                at: e.at,
                actor: e.actor_name,
                from: e.before,
                to: e.after,
                reason: e.reason,
            })
            .collect();
        Ok(PlanReport { plans, deviations })
    }

    /// Whether a change of `what` departs from a locked plan after reads started, and if so
    /// the deviation to record with it. `from_plan` extracts what the plan said.
    pub(crate) async fn deviation(
        &self,
        project_id: i64,
        what: &str,
        reason: Option<&str>,
        from_plan: impl Fn(&TruthingPlan) -> Value,
        to: Value,
    ) -> CoreResult<Option<Deviation>> {
        let Some(plan) = self.store().plans(project_id).await?.pop() else {
            return Ok(None);
        };
        let from = from_plan(&plan);
        if from == to {
            return Ok(None);
        }
        let started = self.store().annotation_count(project_id, i64::MAX).await? > 0;
        if !started {
            return Ok(None);
        }
        match reason.map(str::trim).filter(|r| !r.is_empty()) {
            Some(reason) => Ok(Some(Deviation {
                reason: reason.into(),
                from,
                to,
            })),
            None => Err(CoreError::Invalid(format!(
                "the truthing plan is locked and reads have started: changing {what} needs a \
                 reason (--reason), and is recorded as a deviation"
            ))),
        }
    }
}
