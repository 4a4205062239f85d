//! Authentication and per-subject permissions, enforced by the NATS server.
//!
//! [`ClusterAuth::generate`] makes one user per role with a random password and
//! [`ClusterAuth::server_config`] writes them as a NATS server configuration
//! (`authorization { users = [...] }`, see
//! <https://docs.nats.io/running-a-nats-service/configuration/securing_nats/authorization>):
//!
//! - **coordinator**: publishes and subscribes everything under the prefix, plus the
//!   JetStream API and object-store subjects (`$JS.>`, `$O.>`) for snapshots and `_INBOX.>`
//!   for JetStream replies.
//! - **`system-<name>`**, one per system, shared by all instances of that system: publishes
//!   only its own `component.changed.<name>`, `coord.tick.done.<name>`,
//!   `system.heartbeat.<name>` and `system.register.<name>`; subscribes only to
//!   `coord.tick`, `entity.>`, its own `component.set.<name>` and `system.schedule.<name>`.
//! - **inspector**: publishes `query.request`, subscribes to `query.response.>` (its
//!   requests use that inbox prefix, [`Credentials::connect_options`]).
//!
//! A client without credentials is refused at connect; a publish outside a user's
//! permissions is answered with `-ERR 'Permissions Violation ...'` and not delivered.
//! Passwords are 32 random alphanumerics from the OS random source (ring's
//! `SystemRandom`), stored in clear in the generated file: keep it private (the file is
//! written with mode 0600).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::protocol::{Subjects, SystemName};

/// Why credentials could not be generated or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The OS random source failed.
    #[error("the OS random source failed; passwords cannot be generated")]
    Random,
    /// Writing the configuration file failed.
    #[error("writing the NATS configuration {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// A user name and password for one role.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The NATS user.
    pub user: String,
    /// Its password.
    pub password: String,
    inbox_prefix: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .finish()
    }
}

impl Credentials {
    /// A login for `user` with `password` (as given to a process by its launcher).
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            password: password.into(),
            inbox_prefix: None,
        }
    }

    /// async-nats options that log in as this user (and, for the inspector, use the
    /// inbox prefix its permissions allow).
    pub fn connect_options(&self) -> async_nats::ConnectOptions {
        let options = async_nats::ConnectOptions::with_user_and_password(
            self.user.clone(),
            self.password.clone(),
        );
        match &self.inbox_prefix {
            Some(prefix) => options.custom_inbox_prefix(prefix),
            None => options,
        }
    }
}

/// The users of one cluster and what each may do.
#[derive(Debug, Clone)]
pub struct ClusterAuth {
    subjects: Subjects,
    coordinator: Credentials,
    inspector: Credentials,
    systems: BTreeMap<SystemName, Credentials>,
}

/// Returns `len` random ASCII alphanumerics.
fn random_password(rng: &ring::rand::SystemRandom, len: usize) -> Result<String, AuthError> {
    use ring::rand::SecureRandom;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut byte = [0u8; 1];
        rng.fill(&mut byte).map_err(|_| AuthError::Random)?;
        // 248 = 4 × 62: rejecting the rest keeps every character equally likely.
        if byte[0] < 248 {
            out.push(char::from(ALPHABET[usize::from(byte[0]) % ALPHABET.len()]));
        }
    }
    Ok(out)
}

impl ClusterAuth {
    /// Users for a coordinator, an inspector and each of `systems`, with fresh random
    /// passwords.
    ///
    /// # Errors
    /// [`AuthError::Random`] when the OS random source fails.
    pub fn generate(subjects: &Subjects, systems: &[SystemName]) -> Result<Self, AuthError> {
        let rng = ring::rand::SystemRandom::new();
        let user = |name: String, inbox_prefix: Option<String>| -> Result<Credentials, AuthError> {
            Ok(Credentials {
                user: name,
                password: random_password(&rng, 32)?,
                inbox_prefix,
            })
        };
        Ok(Self {
            subjects: subjects.clone(),
            coordinator: user("coordinator".into(), None)?,
            inspector: user("inspector".into(), Some(subjects.query_response_prefix()))?,
            systems: systems
                .iter()
                .map(|s| Ok((s.clone(), user(format!("system-{s}"), None)?)))
                .collect::<Result<_, AuthError>>()?,
        })
    }

    /// The coordinator's login.
    pub fn coordinator(&self) -> &Credentials {
        &self.coordinator
    }

    /// The inspector's login (ad-hoc queries only).
    pub fn inspector(&self) -> &Credentials {
        &self.inspector
    }

    /// The login shared by the instances of `system`, if it was generated.
    pub fn system(&self, system: &SystemName) -> Option<&Credentials> {
        self.systems.get(system)
    }

    /// The subjects a system's user may publish on.
    pub fn system_publish(&self, system: &SystemName) -> Vec<String> {
        let s = &self.subjects;
        vec![
            s.component_changed(system),
            s.tick_ack(system),
            s.heartbeat(system),
            s.register(system),
        ]
    }

    /// The subjects a system's user may subscribe to.
    pub fn system_subscribe(&self, system: &SystemName) -> Vec<String> {
        let s = &self.subjects;
        vec![
            s.tick_start(),
            format!("{}.entity.>", s.prefix()),
            s.component_set(system),
            format!("{}.>", s.component_set(system)),
            s.schedule(system),
        ]
    }

    /// The NATS server configuration text: an `authorization` block with every user and
    /// its publish/subscribe allow lists.
    pub fn server_config(&self) -> String {
        let s = &self.subjects;
        let mut out = String::from("# Generated by macrokid_net::security::ClusterAuth.\n");
        out.push_str("authorization {\n  users = [\n");
        let mut user = |c: &Credentials, publish: &[String], subscribe: &[String]| {
            let list = |items: &[String]| {
                items
                    .iter()
                    .map(|i| format!("\"{i}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = writeln!(
                out,
                "    {{ user: \"{}\", password: \"{}\", permissions: {{ publish: {{ allow: [{}] }}, subscribe: {{ allow: [{}] }} }} }}",
                c.user,
                c.password,
                list(publish),
                list(subscribe)
            );
        };
        let jetstream = [
            "$JS.>".to_string(),
            "$O.>".to_string(),
            "_INBOX.>".to_string(),
        ];
        let mut coord: Vec<String> = vec![s.all()];
        coord.extend(jetstream.iter().cloned());
        user(&self.coordinator, &coord, &coord);
        user(
            &self.inspector,
            &[s.query_request()],
            &[format!("{}.>", s.query_response_prefix())],
        );
        for (system, credentials) in &self.systems {
            user(
                credentials,
                &self.system_publish(system),
                &self.system_subscribe(system),
            );
        }
        out.push_str("  ]\n}\n");
        out
    }

    /// Writes [`ClusterAuth::server_config`] to `path`, readable by the owner only.
    ///
    /// # Errors
    /// [`AuthError::Write`] when the file cannot be written.
    pub fn write_config(&self, path: &Path) -> Result<(), AuthError> {
        let err = |source| AuthError::Write {
            path: path.display().to_string(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(err)?;
        std::io::Write::write_all(&mut file, self.server_config().as_bytes()).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_system_may_publish_only_its_own_result_subjects() {
        let subjects = Subjects::new("t.sec").expect("valid");
        let m = SystemName::new("movement").expect("valid");
        let spin = SystemName::new("spin").expect("valid");
        let auth = ClusterAuth::generate(&subjects, &[m.clone(), spin.clone()]).expect("random");
        assert_eq!(
            auth.system_publish(&m),
            [
                "t.sec.component.changed.movement",
                "t.sec.coord.tick.done.movement",
                "t.sec.system.heartbeat.movement",
                "t.sec.system.register.movement"
            ]
        );
        let config = auth.server_config();
        assert!(config.contains("user: \"system-spin\""));
        assert!(config.contains(&auth.system(&spin).expect("made").password));
        assert_ne!(
            auth.system(&m).expect("made").password,
            auth.system(&spin).expect("made").password
        );
        assert_eq!(auth.coordinator().password.len(), 32);
        assert!(auth
            .coordinator()
            .password
            .chars()
            .all(|c| c.is_ascii_alphanumeric()));
        assert!(!format!("{:?}", auth.coordinator()).contains(&auth.coordinator().password));
    }
}
