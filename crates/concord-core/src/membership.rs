//! Project membership: who may open a project in the web app and the HTTP API.
//!
//! Roles say what a user may do; membership says where. Administrators may open every
//! project; everyone else only those they are a member of (the creator of a project is one).
//! The command line acts with the database's own authority and does not check membership.

use crate::protocol::Protocol;
use crate::service::{Core, CoreError, CoreResult};
use concord_store::{Role, StoreError, User};

impl Core {
    /// Makes `user` a member of `project` (audited). `false` when they were one already.
    ///
    /// # Errors
    /// [`CoreError::Forbidden`] unless the actor is a manager or administrator;
    /// [`CoreError::NotFound`] for an unknown project or user.
    pub async fn add_member(&self, actor: &User, project: &str, user: &str) -> CoreResult<bool> {
        self.require_manager(actor, "change a project's members")?;
        let project = self.store().project(project).await?;
        let user = self.store().user(user).await?;
        Ok(self
            .store()
            .add_member(project.id, user.id, Some(actor.id), self.now())
            .await?)
    }

    /// Removes `user` from `project` (audited). `false` when they were not a member.
    ///
    /// # Errors
    /// As [`Core::add_member`].
    pub async fn remove_member(&self, actor: &User, project: &str, user: &str) -> CoreResult<bool> {
        self.require_manager(actor, "change a project's members")?;
        let project = self.store().project(project).await?;
        let user = self.store().user(user).await?;
        Ok(self
            .store()
            .remove_member(project.id, user.id, Some(actor.id), self.now())
            .await?)
    }

    /// A project's members, by login name.
    ///
    /// # Errors
    /// [`CoreError::NotFound`] for an unknown project.
    pub async fn members(&self, project: &str) -> CoreResult<Vec<String>> {
        let project = self.store().project(project).await?;
        let members = self.store().members(project.id).await?;
        // `users` comes sorted by name.
        Ok(self
            .store()
            .users()
            .await?
            .into_iter()
            .filter(|u| members.contains(&u.id))
            .map(|u| u.name)
            .collect())
    }

    /// The names of the projects `user` may open: every project for an administrator, else
    /// those they are a member of.
    ///
    /// # Errors
    /// A store failure.
    pub async fn projects_of(&self, user: &User) -> CoreResult<Vec<String>> {
        let projects = self.store().projects().await?;
        if user.has(Role::Admin) {
            return Ok(projects.into_iter().map(|p| p.name).collect());
        }
        let mine = self.store().member_projects(user.id).await?;
        Ok(projects
            .into_iter()
            .filter(|p| mine.contains(&p.id))
            .map(|p| p.name)
            .collect())
    }

    /// Whether `user` may open `project`. Unknown projects and projects the user is not a
    /// member of are told apart by nobody: both are [`CoreError::NotFound`], so that a
    /// non-member cannot probe which project names exist.
    ///
    /// # Errors
    /// [`CoreError::NotFound`] unless the user may open the project.
    pub async fn check_member(&self, user: &User, project: &str) -> CoreResult<()> {
        let not_found = || CoreError::NotFound(format!("project `{project}`"));
        let found = match self.store().project(project).await {
            Ok(p) => p,
            Err(StoreError::NotFound(_)) => return Err(not_found()),
            Err(e) => return Err(e.into()),
        };
        if user.has(Role::Admin)
            || self
                .store()
                .member_projects(user.id)
                .await?
                .contains(&found.id)
        {
            Ok(())
        } else {
            Err(not_found())
        }
    }

    /// The latest protocol version of a project, parsed: its number and the protocol.
    ///
    /// # Errors
    /// [`CoreError::NotFound`] for an unknown project.
    pub async fn current_protocol(&self, project: &str) -> CoreResult<(i64, Protocol)> {
        let ctx = self.cached_context(project).await?;
        Ok((ctx.protocol.version, ctx.parsed.clone()))
    }

    fn require_manager(&self, actor: &User, what: &str) -> CoreResult<()> {
        if actor.has(Role::Manager) || actor.has(Role::Admin) {
            Ok(())
        } else {
            Err(CoreError::Forbidden(format!(
                "{} may not {what} (needs the manager role)",
                actor.name
            )))
        }
    }
}
