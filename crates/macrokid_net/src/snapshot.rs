//! The latest world snapshot per world id, kept in a JetStream object store.
//!
//! Seed 003 ("Persistence") keeps world state in JetStream so that a new coordinator can
//! resume after a crash. Snapshots are opaque bytes here (the ECS's snapshot format);
//! a JetStream object store chunks them under the server's `max_payload`, checks them
//! with a SHA-256 digest, and keeps only the latest version of each object: one object
//! per world id, its tick in the object's metadata.
//!
//! The bucket is named after the subject prefix (`.` becomes `_`, then `_snapshots`); the
//! coordinator's user may use it ([`crate::security`]: `$JS.>` and `$O.>`).

use async_nats::jetstream::{self, object_store};
use tokio::io::AsyncReadExt;

use crate::protocol::{NameError, Subjects};

/// Metadata key holding the snapshot's tick, decimal.
const TICK_KEY: &str = "macrokid-tick";

/// What went wrong storing or loading a snapshot.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// A world id that is not a valid object name.
    #[error("world id {0:?} is not usable: {1}")]
    WorldId(String, NameError),
    /// The bucket could not be created or opened (JetStream off, no permission).
    #[error("opening snapshot bucket {bucket}: {reason}; is JetStream enabled (nats-server -js) and may this user use $JS.> and $O.>?")]
    Bucket {
        /// The bucket.
        bucket: String,
        /// The server's or client's reason.
        reason: String,
    },
    /// Storing failed.
    #[error("storing the snapshot of world {world:?}: {reason}")]
    Put {
        /// The world id.
        world: String,
        /// The reason.
        reason: String,
    },
    /// Loading failed (other than "no snapshot yet").
    #[error("loading the snapshot of world {world:?}: {reason}")]
    Get {
        /// The world id.
        world: String,
        /// The reason.
        reason: String,
    },
}

/// A snapshot as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The tick it was taken after.
    pub tick: u64,
    /// The snapshot bytes, as given to [`SnapshotStore::put`].
    pub bytes: Vec<u8>,
}

/// The snapshot bucket of one cluster.
#[derive(Clone)]
pub struct SnapshotStore {
    store: object_store::ObjectStore,
    bucket: String,
    chunk_size: usize,
}

impl std::fmt::Debug for SnapshotStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotStore")
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

impl SnapshotStore {
    /// The bucket name for `subjects`' prefix.
    pub fn bucket_name(subjects: &Subjects) -> String {
        format!("{}_snapshots", subjects.prefix().replace('.', "_"))
    }

    /// Opens the bucket of `subjects`' prefix, creating it (file storage) if missing.
    /// Objects are stored in chunks of `chunk_size` bytes; use
    /// [`crate::codec::chunk_budget`]`(max_payload)`.
    ///
    /// # Errors
    /// [`SnapshotError::Bucket`] when JetStream refuses.
    pub async fn open(
        client: async_nats::Client,
        subjects: &Subjects,
        chunk_size: usize,
    ) -> Result<Self, SnapshotError> {
        let bucket = Self::bucket_name(subjects);
        let js = jetstream::new(client);
        let err = |e: &dyn std::fmt::Display| SnapshotError::Bucket {
            bucket: bucket.clone(),
            reason: e.to_string(),
        };
        let store = match js.get_object_store(&bucket).await {
            Ok(store) => store,
            Err(_) => js
                .create_object_store(object_store::Config {
                    bucket: bucket.clone(),
                    description: Some("macrokid world snapshots, latest per world id".into()),
                    ..Default::default()
                })
                .await
                .map_err(|e| err(&e))?,
        };
        Ok(Self {
            store,
            bucket,
            chunk_size: chunk_size.max(1024),
        })
    }

    fn check(world: &str) -> Result<(), SnapshotError> {
        crate::protocol::SystemName::new(world)
            .map(drop)
            .map_err(|e| SnapshotError::WorldId(world.to_string(), e))
    }

    /// Stores `bytes` as the snapshot of `world` after `tick`, replacing the previous one.
    ///
    /// # Errors
    /// [`SnapshotError::WorldId`] for a world id that is not a single subject token
    /// (ASCII letters, digits, `_`, `-`), [`SnapshotError::Put`] when JetStream refuses.
    pub async fn put(&self, world: &str, tick: u64, bytes: &[u8]) -> Result<(), SnapshotError> {
        Self::check(world)?;
        let meta = object_store::ObjectMetadata {
            name: world.to_string(),
            chunk_size: Some(self.chunk_size),
            metadata: [(TICK_KEY.to_string(), tick.to_string())].into(),
            ..Default::default()
        };
        let mut reader = bytes;
        self.store
            .put(meta, &mut reader)
            .await
            .map_err(|e| SnapshotError::Put {
                world: world.to_string(),
                reason: e.to_string(),
            })?;
        Ok(())
    }

    /// The latest snapshot of `world`, `None` when there is none.
    ///
    /// # Errors
    /// [`SnapshotError::WorldId`] as for [`SnapshotStore::put`]; [`SnapshotError::Get`] when
    /// JetStream fails, the digest does not match or the tick metadata is missing.
    pub async fn latest(&self, world: &str) -> Result<Option<Snapshot>, SnapshotError> {
        Self::check(world)?;
        let fail = |reason: String| SnapshotError::Get {
            world: world.to_string(),
            reason,
        };
        let mut object = match self.store.get(world).await {
            Ok(object) => object,
            Err(e) if e.kind() == object_store::GetErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(fail(e.to_string())),
        };
        let tick = object
            .info
            .metadata
            .get(TICK_KEY)
            .and_then(|t| t.parse::<u64>().ok())
            .ok_or_else(|| fail(format!("the object has no {TICK_KEY} metadata")))?;
        let mut bytes = Vec::with_capacity(object.info.size);
        object
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| fail(e.to_string()))?;
        Ok(Some(Snapshot { tick, bytes }))
    }
}
