//! Resources behind generational handles, and their deferred destruction on the timeline.
//!
//! Destroying a handle makes it stale at once (every later use is
//! [`UsageError::StaleHandle`]); the GPU objects behind it are kept in a retire queue tagged
//! with the timeline value of the last submission made before the destroy, and dropped once
//! the timeline passed that value — no frame that could have used them is still executing.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, RwLock};

use macrokid_core::{Handle, SlotMap};

use super::material::{MaterialEntry, TextureEntry};
use crate::hal::RenderBackend;
use crate::UsageError;

/// Marker: what a [`MeshHandle`] names.
#[derive(Debug)]
pub enum MeshKind {}
/// Marker: what a [`TextureHandle`] names.
#[derive(Debug)]
pub enum TextureKind {}
/// Marker: what a [`MaterialHandle`] names.
#[derive(Debug)]
pub enum MaterialKind {}

/// A mesh uploaded with [`Renderer::upload_mesh`](crate::Renderer::upload_mesh) (vertex and
/// index buffers). Handles are per renderer; one of another renderer may name anything.
pub type MeshHandle = Handle<MeshKind>;
/// A texture uploaded with [`Renderer::upload_texture`](crate::Renderer::upload_texture).
pub type TextureHandle = Handle<TextureKind>;
/// A material made with [`Renderer::create_material`](crate::Renderer::create_material).
pub type MaterialHandle = Handle<MaterialKind>;

/// An uploaded mesh.
pub(crate) struct MeshEntry<B: RenderBackend> {
    pub(crate) vertices: B::Buffer,
    pub(crate) indices: B::Buffer,
    pub(crate) index_count: u32,
    pub(crate) vertex_count: u32,
}

enum Retired<B: RenderBackend> {
    Mesh(#[allow(dead_code, reason = "held only to be dropped later")] MeshEntry<B>),
    Texture(#[allow(dead_code, reason = "held only to be dropped later")] Arc<TextureEntry<B>>),
    Material(#[allow(dead_code, reason = "held only to be dropped later")] MaterialEntry<B>),
}

/// The renderer's resource tables.
pub(crate) struct Registry<B: RenderBackend> {
    pub(crate) meshes: RwLock<SlotMap<MeshKind, MeshEntry<B>>>,
    pub(crate) textures: RwLock<SlotMap<TextureKind, Arc<TextureEntry<B>>>>,
    pub(crate) materials: RwLock<SlotMap<MaterialKind, MaterialEntry<B>>>,
    /// Destroyed resources with the timeline value after which they may go, ascending.
    retired: Mutex<VecDeque<(u64, Retired<B>)>>,
}

fn stale<K>(kind: &'static str, handle: Handle<K>) -> UsageError {
    UsageError::StaleHandle {
        kind,
        handle: handle.to_string(),
    }
}

impl<B: RenderBackend> Registry<B> {
    pub(crate) fn new() -> Self {
        Registry {
            meshes: RwLock::new(SlotMap::new()),
            textures: RwLock::new(SlotMap::new()),
            materials: RwLock::new(SlotMap::new()),
            retired: Mutex::new(VecDeque::new()),
        }
    }

    fn retire(&self, after: u64, what: Retired<B>) {
        self.retired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back((after, what));
    }

    /// Drops the retired resources whose value the timeline reached; returns how many are
    /// still waiting.
    pub(crate) fn collect(&self, completed: u64) -> usize {
        let mut done = Vec::new();
        let waiting = {
            let mut retired = self.retired.lock().unwrap_or_else(|p| p.into_inner());
            while retired.front().is_some_and(|(v, _)| *v <= completed) {
                done.extend(retired.pop_front());
            }
            retired.len()
        };
        drop(done);
        waiting
    }

    pub(crate) fn destroy_mesh(&self, handle: MeshHandle, after: u64) -> Result<(), UsageError> {
        let entry = write(&self.meshes)
            .remove(handle)
            .ok_or_else(|| stale("mesh", handle))?;
        self.retire(after, Retired::Mesh(entry));
        Ok(())
    }

    pub(crate) fn destroy_texture(
        &self,
        handle: TextureHandle,
        after: u64,
    ) -> Result<(), UsageError> {
        let entry = write(&self.textures)
            .remove(handle)
            .ok_or_else(|| stale("texture", handle))?;
        self.retire(after, Retired::Texture(entry));
        Ok(())
    }

    pub(crate) fn destroy_material(
        &self,
        handle: MaterialHandle,
        after: u64,
    ) -> Result<(), UsageError> {
        let entry = write(&self.materials)
            .remove(handle)
            .ok_or_else(|| stale("material", handle))?;
        self.retire(after, Retired::Material(entry));
        Ok(())
    }

    pub(crate) fn texture(
        &self,
        handle: TextureHandle,
    ) -> Result<Arc<TextureEntry<B>>, UsageError> {
        read(&self.textures)
            .get(handle)
            .cloned()
            .ok_or_else(|| stale("texture", handle))
    }

    pub(crate) fn mesh_counts(&self, handle: MeshHandle) -> Result<(u32, u32), UsageError> {
        read(&self.meshes)
            .get(handle)
            .map(|m| (m.vertex_count, m.index_count))
            .ok_or_else(|| stale("mesh", handle))
    }

    pub(crate) fn stale_mesh(handle: MeshHandle) -> UsageError {
        stale("mesh", handle)
    }

    pub(crate) fn stale_material(handle: MaterialHandle) -> UsageError {
        stale("material", handle)
    }
}

pub(crate) fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}
