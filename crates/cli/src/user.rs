//! `weir user`: SCRAM users through Kafka's own APIs (AlterUserScramCredentials,
//! DescribeUserScramCredentials), as `kafka-configs.sh --entity-type users` manages them.
//! The password is salted and hashed here (PBKDF2, a fresh random salt); only the salt and
//! the salted password leave this process, and the broker keeps only keys derived from them.

use std::io::BufRead;

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{Args, Subcommand};
use weir_auth::scram::{random_bytes, Mechanism};
use weir_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use weir_protocol::messages::{
    AlterUserScramCredentialsRequest, DescribeUserScramCredentialsRequest,
};

use crate::commands::Target;

/// `weir user`.
#[derive(Args, Debug)]
pub(crate) struct UserArgs {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    action: UserAction,
}

#[derive(Subcommand, Debug)]
enum UserAction {
    /// Create a SCRAM user, or set its password (read from standard input unless given).
    Create {
        /// User name.
        name: String,
        /// Password; without it, the first line of standard input.
        #[arg(long, env = "WEIR_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// SCRAM-SHA-256 or SCRAM-SHA-512 (repeatable; both when not given).
        #[arg(long = "mechanism")]
        mechanisms: Vec<String>,
        /// PBKDF2 iterations (4096 to 16384).
        #[arg(long, default_value_t = 8192)]
        iterations: i32,
    },
    /// Delete a user's SCRAM credentials.
    Delete {
        /// User name.
        name: String,
        /// Only this mechanism's credential (repeatable; all of the user's when not given).
        #[arg(long = "mechanism")]
        mechanisms: Vec<String>,
    },
    /// List SCRAM users with their mechanisms and iteration counts.
    List,
}

fn mechanisms(names: &[String]) -> anyhow::Result<Vec<Mechanism>> {
    if names.is_empty() {
        return Ok(Mechanism::ALL.to_vec());
    }
    names
        .iter()
        .map(|n| {
            Mechanism::from_name(&n.to_ascii_uppercase())
                .with_context(|| format!("unknown mechanism {n} (SCRAM-SHA-256 or SCRAM-SHA-512)"))
        })
        .collect()
}

/// Runs `weir user`.
pub(crate) async fn run(args: UserArgs) -> anyhow::Result<()> {
    let conn = args.target.connect().await?;
    match args.action {
        UserAction::Create {
            name,
            password,
            mechanisms: names,
            iterations,
        } => {
            let password = match password {
                Some(p) => p,
                None => {
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            if password.is_empty() {
                bail!("empty password");
            }
            let iters = u32::try_from(iterations).context("iterations must be positive")?;
            let mut upsertions = Vec::new();
            for m in mechanisms(&names)? {
                let salt = random_bytes(32)
                    .map_err(|e| anyhow::anyhow!("reading random bytes for a salt: {e}"))?;
                let salted = m.salted_password(password.as_bytes(), &salt, iters);
                upsertions.push(ScramCredentialUpsertion {
                    name: name.clone(),
                    mechanism: m.code(),
                    iterations,
                    salt: Bytes::from(salt),
                    salted_password: Bytes::from(salted),
                    ..Default::default()
                });
            }
            // Kafka refuses a user named twice in one request: one request per mechanism.
            for upsertion in upsertions {
                let req = AlterUserScramCredentialsRequest {
                    upsertions: vec![upsertion],
                    ..Default::default()
                };
                report(conn.send(&req).await?.results)?;
            }
            println!("set SCRAM credentials of {name}");
        }
        UserAction::Delete {
            name,
            mechanisms: names,
        } => {
            let wanted = if names.is_empty() {
                let req = DescribeUserScramCredentialsRequest {
                    users: Some(vec![weir_protocol::messages::describe_user_scram_credentials_request::UserName {
                        name: name.clone(),
                        ..Default::default()
                    }]),
                    ..Default::default()
                };
                let resp = conn.send(&req).await?;
                let r = resp.results.into_iter().next().context("empty answer")?;
                if r.error_code != 0 {
                    bail!(
                        "{}",
                        r.error_message
                            .unwrap_or_else(|| format!("error {}", r.error_code))
                    );
                }
                r.credential_infos.iter().map(|c| c.mechanism).collect()
            } else {
                mechanisms(&names)?
                    .into_iter()
                    .map(Mechanism::code)
                    .collect::<Vec<i8>>()
            };
            for m in wanted {
                let req = AlterUserScramCredentialsRequest {
                    deletions: vec![ScramCredentialDeletion {
                        name: name.clone(),
                        mechanism: m,
                        ..Default::default()
                    }],
                    ..Default::default()
                };
                report(conn.send(&req).await?.results)?;
            }
            println!("deleted SCRAM credentials of {name}");
        }
        UserAction::List => {
            let resp = conn
                .send(&DescribeUserScramCredentialsRequest::default())
                .await?;
            if resp.error_code != 0 {
                bail!(
                    "{}",
                    resp.error_message
                        .unwrap_or_else(|| format!("error {}", resp.error_code))
                );
            }
            println!("{:<32} MECHANISMS", "USER");
            for r in resp.results {
                let mechs: Vec<String> = r
                    .credential_infos
                    .iter()
                    .map(|c| {
                        let name =
                            Mechanism::from_code(c.mechanism).map_or("UNKNOWN", Mechanism::name);
                        format!("{name} (iterations={})", c.iterations)
                    })
                    .collect();
                println!("{:<32} {}", r.user, mechs.join(", "));
            }
        }
    }
    Ok(())
}

fn report(
    results: Vec<weir_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult>,
) -> anyhow::Result<()> {
    for r in results {
        if r.error_code != 0 {
            bail!(
                "{}: {}",
                r.user,
                r.error_message
                    .unwrap_or_else(|| format!("error {}", r.error_code))
            );
        }
    }
    Ok(())
}
