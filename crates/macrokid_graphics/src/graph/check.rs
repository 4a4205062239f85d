//! The checks of the compile step: resources, each pass's handles, uses and attachments, and
//! reads of undefined contents; and what each use means for a resource's contents.

use std::collections::HashSet;

use super::builder::PassNode;
use super::error::GraphError;
use super::resource::{ColorAttachment, DepthAttachment, ResourceKind, ResourceNode, StoreOp};
use crate::{BufferUse, TextureUse};

/// One use of a resource by a pass, with what it means for contents.
#[derive(Clone, Copy, Debug)]
pub(super) struct PassUse {
    pub(super) resource: usize,
    pub(super) kind: UseKind,
    /// Reads the previous contents for sure (a sampled read, `LoadOp::Load`): an error on
    /// undefined contents.
    pub(super) reads_previous: bool,
    /// May read the previous contents (adds storage writes and copy destinations, which may
    /// keep part of them): what culling follows.
    pub(super) may_read_previous: bool,
    /// Writes the resource's memory: a writing use, or an attachment whose store op writes
    /// (`Store`/`DontCare`, see [`StoreOp`]). What barriers and the planner follow.
    pub(super) writes: bool,
    /// Leaves defined contents (a write that is stored).
    pub(super) stores: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum UseKind {
    Texture(TextureUse),
    Buffer(BufferUse),
}

impl PassUse {
    fn describe(&self) -> String {
        match self.kind {
            UseKind::Texture(
                u @ (TextureUse::ColorAttachment | TextureUse::DepthStencilAttachment),
            ) if self.reads_previous => {
                format!("{u:?} (load)")
            }
            UseKind::Texture(u) => format!("{u:?}"),
            UseKind::Buffer(u) => format!("{u:?}"),
        }
    }
}

fn texture_use(resource: usize, usage: TextureUse) -> PassUse {
    let writes = usage.is_write();
    let (reads_previous, may_read_previous) = match usage {
        TextureUse::StorageWrite | TextureUse::TransferDst => (false, true),
        u => (!u.is_write(), !u.is_write()),
    };
    PassUse {
        resource,
        kind: UseKind::Texture(usage),
        reads_previous,
        may_read_previous,
        writes,
        stores: writes,
    }
}

fn attachment_use(resource: usize, usage: TextureUse, load: bool, store: StoreOp) -> PassUse {
    // A store op other than `None` accesses the memory with a write even when the pass itself
    // does not render to it (Vulkan spec §8.1, "Render Pass Store Operations").
    let writes = usage.is_write() || store.writes();
    PassUse {
        resource,
        kind: UseKind::Texture(usage),
        reads_previous: load,
        may_read_previous: load,
        writes,
        // Defined contents after the pass: a rendered attachment that is stored.
        stores: writes && store == StoreOp::Store,
    }
}

fn buffer_use(resource: usize, usage: BufferUse) -> PassUse {
    let writes = usage.is_write();
    PassUse {
        resource,
        kind: UseKind::Buffer(usage),
        reads_previous: !writes,
        may_read_previous: true,
        writes,
        stores: writes,
    }
}

/// A validated pass: its uses in the order attachments, textures, buffers.
pub(super) struct Checked {
    pub(super) uses: Vec<PassUse>,
    pub(super) colors: Vec<ColorAttachment>,
    pub(super) depth: Option<DepthAttachment>,
    pub(super) extent: Option<(u32, u32)>,
    pub(super) never_cull: bool,
}

pub(super) fn check_resources(resources: &[ResourceNode]) -> Result<(), GraphError> {
    let mut names = HashSet::new();
    for node in resources {
        if !names.insert(node.name) {
            return Err(GraphError::DuplicateResource {
                name: node.name.to_owned(),
            });
        }
        let detail = match node.kind {
            ResourceKind::ImportedTexture(desc, _) | ResourceKind::TransientTexture(desc)
                if desc.width == 0 || desc.height == 0 =>
            {
                format!("{}×{} pixels", desc.width, desc.height)
            }
            ResourceKind::ImportedBuffer(import) if import.size == 0 => "0 bytes".to_owned(),
            _ => continue,
        };
        return Err(GraphError::EmptyResource {
            name: node.name.to_owned(),
            detail,
        });
    }
    Ok(())
}

/// Checks one pass's handles, uses and attachments.
pub(super) fn check_pass(
    graph: u32,
    resources: &[ResourceNode],
    pass: &PassNode,
) -> Result<Checked, GraphError> {
    let own = |handle_graph: u32, index: u32| -> Result<usize, GraphError> {
        if handle_graph != graph || index as usize >= resources.len() {
            return Err(GraphError::UnknownResource {
                pass: pass.name.to_string(),
                index: index as usize,
                handle_graph,
                graph,
            });
        }
        Ok(index as usize)
    };
    let invalid = |resource: usize, usage: String, hint: &'static str| GraphError::InvalidUse {
        pass: pass.name.to_string(),
        resource: resources[resource].name.to_owned(),
        usage,
        hint,
    };

    let format_check = |resource: usize, depth: bool| -> Result<(), GraphError> {
        let format = resources[resource]
            .texture_desc()
            .expect("texture handles name textures")
            .format;
        if format.is_depth() == depth {
            return Ok(());
        }
        Err(GraphError::AttachmentFormat {
            pass: pass.name.to_string(),
            resource: resources[resource].name.to_owned(),
            format: format!("{format:?}"),
            expected: if depth { "depth" } else { "colour" },
        })
    };

    let mut uses = Vec::new();
    let mut attachments = Vec::new();
    for color in &pass.colors {
        let r = own(color.texture.graph, color.texture.index)?;
        format_check(r, false)?;
        attachments.push(r);
        uses.push(attachment_use(
            r,
            TextureUse::ColorAttachment,
            color.load.reads_previous(),
            color.store,
        ));
    }
    for (k, depth) in pass.depths.iter().enumerate() {
        let r = own(depth.texture.graph, depth.texture.index)?;
        if k > 0 {
            return Err(GraphError::SecondDepthAttachment {
                pass: pass.name.to_string(),
                resource: resources[r].name.to_owned(),
            });
        }
        format_check(r, true)?;
        attachments.push(r);
        uses.push(attachment_use(
            r,
            depth.texture_use(),
            depth.read_only || depth.load.reads_previous(),
            depth.store,
        ));
    }
    for &(texture, usage) in &pass.textures {
        let r = own(texture.graph, texture.index)?;
        match usage {
            TextureUse::Undefined | TextureUse::Present => {
                return Err(invalid(
                    r,
                    format!("{usage:?}"),
                    "`Undefined` and `Present` are states of an import (`TextureImport`), not uses of a pass",
                ))
            }
            TextureUse::ColorAttachment
            | TextureUse::DepthStencilAttachment
            | TextureUse::DepthStencilRead => {
                return Err(invalid(
                    r,
                    format!("{usage:?}"),
                    "declare attachments with `color_attachment`, `depth_attachment` or `depth_read`, which take load/store ops",
                ))
            }
            _ => uses.push(texture_use(r, usage)),
        }
    }
    for &(buffer, usage) in &pass.buffers {
        let r = own(buffer.graph, buffer.index)?;
        if usage == BufferUse::HostRead {
            return Err(invalid(
                r,
                format!("{usage:?}"),
                "`HostRead` is only a final use: set it as `BufferImport::final_use`",
            ));
        }
        uses.push(buffer_use(r, usage));
    }
    for (i, a) in uses.iter().enumerate() {
        if let Some(b) = uses[..i].iter().find(|b| b.resource == a.resource) {
            return Err(GraphError::ResourceUsedTwice {
                pass: pass.name.to_string(),
                resource: resources[a.resource].name.to_owned(),
                first: b.describe(),
                second: a.describe(),
            });
        }
    }
    let mut extent = None;
    for &r in &attachments {
        let found = resources[r]
            .texture_desc()
            .expect("attachments are textures")
            .extent();
        match extent {
            None => extent = Some(found),
            Some(expected) if expected != found => {
                return Err(GraphError::AttachmentExtentMismatch {
                    pass: pass.name.to_string(),
                    resource: resources[r].name.to_owned(),
                    expected,
                    found,
                })
            }
            Some(_) => {}
        }
    }
    Ok(Checked {
        uses,
        colors: pass.colors.clone(),
        depth: pass.depths.first().copied(),
        extent,
        never_cull: pass.never_cull,
    })
}

/// Reports the first pass (in declaration order) that reads undefined contents. Declaration order
/// is execution order for this purpose: a reader conflicts with every writer of the same
/// resource, so the planner keeps them in declaration order.
pub(super) fn check_defined(
    resources: &[ResourceNode],
    passes: &[PassNode],
    checked: &[Checked],
) -> Result<(), GraphError> {
    let mut defined: Vec<bool> = resources
        .iter()
        .map(|node| match node.kind {
            ResourceKind::ImportedTexture(_, import) => import.initial != TextureUse::Undefined,
            ResourceKind::TransientTexture(_) => false,
            ResourceKind::ImportedBuffer(_) => true,
        })
        .collect();
    for (pass, check) in passes.iter().zip(checked) {
        for u in &check.uses {
            if u.reads_previous && !defined[u.resource] {
                return Err(GraphError::ReadBeforeWrite {
                    pass: pass.name.to_string(),
                    resource: resources[u.resource].name.to_owned(),
                    usage: u.describe(),
                });
            }
        }
        for u in &check.uses {
            if u.writes {
                defined[u.resource] = u.stores;
            }
        }
    }
    Ok(())
}
