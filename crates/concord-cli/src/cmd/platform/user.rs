//! `concord user`: manage users.

use super::{Db, actor, block_on, password_from_stdin, print_json};
use concord_core::service::UserRequest;
use concord_store::Role;

/// Manage users.
#[derive(Debug, clap::Args)]
pub(crate) struct UserArgs {
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(Debug, clap::Subcommand)]
enum UserCommand {
    /// Add a user.
    ///
    /// Examples:
    ///   concord user add dr-lee --role annotator --qualification "radiologist, 8 years"
    ///   concord user add dr-kim --role adjudicator --role annotator --password-stdin
    Add(AddArgs),
    /// List users and their roles.
    List(ListArgs),
}

#[derive(Debug, clap::Args)]
struct AddArgs {
    #[command(flatten)]
    db: Db,
    /// Login name (no spaces).
    name: String,
    /// A role: admin, manager, annotator, adjudicator, auditor (repeat for several).
    #[arg(long, required = true, value_parser = parse_role)]
    role: Vec<Role>,
    /// Free-text qualification (specialty, years, board certification).
    #[arg(long)]
    qualification: Option<String>,
    /// Cost of one label by this user, in relative units.
    #[arg(long, default_value_t = 1.0)]
    cost: f64,
    /// Read the password from standard input (one line); without it the account cannot log in.
    #[arg(long)]
    password_stdin: bool,
    /// The administrator acting (default: the first administrator).
    #[arg(long = "as", value_name = "USER")]
    acting: Option<String>,
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    #[command(flatten)]
    db: Db,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| {
        format!("unknown role `{s}` (admin, manager, annotator, adjudicator, auditor)")
    })
}

pub(crate) fn run(args: UserArgs) -> anyhow::Result<()> {
    match args.command {
        UserCommand::Add(args) => {
            let password = if args.password_stdin {
                Some(password_from_stdin()?)
            } else {
                None
            };
            block_on(async {
                let core = args.db.open().await?;
                let admin = actor(&core, args.acting.as_deref()).await?;
                let user = core
                    .add_user(
                        &admin,
                        UserRequest {
                            name: args.name,
                            roles: args.role,
                            password,
                            qualification: args.qualification,
                            cost: args.cost,
                        },
                    )
                    .await?;
                let roles: Vec<&str> = user.roles.iter().map(|r| r.as_str()).collect();
                eprintln!("concord: added `{}` ({})", user.name, roles.join(", "));
                Ok(())
            })
        }
        UserCommand::List(args) => block_on(async {
            let core = args.db.open().await?;
            let users = core.store().users().await?;
            let rows: Vec<serde_json::Value> = users
                .iter()
                .map(|u| {
                    serde_json::json!({
                        "name": u.name,
                        "roles": u.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                        "qualifications": u.qualifications,
                        "cost": u.cost,
                        "disabled": u.disabled,
                    })
                })
                .collect();
            if args.json {
                print_json(&rows)?;
            } else {
                for u in &users {
                    let roles: Vec<&str> = u.roles.iter().map(|r| r.as_str()).collect();
                    println!("{:<20} {}", u.name, roles.join(","));
                }
            }
            Ok(())
        }),
    }
}
