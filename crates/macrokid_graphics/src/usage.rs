//! How a pass uses a texture or buffer: the shared vocabulary of the render graph (which
//! derives barriers from consecutive uses) and the backend (which maps each use to pipeline
//! stages, access masks and image layouts; for Vulkan see `vulkan/conv.rs` and the Vulkan
//! spec §7.1 "Synchronization2" stage/access tables).

/// One use of a whole texture (all mips and layers) by a pass.
///
/// A texture is in exactly one use at a time; moving from one use to another where either
/// writes needs a barrier (and a layout transition where the layouts differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum TextureUse {
    /// Contents undefined (before the first use of a frame, or discarded): no barrier source.
    Undefined,
    /// Written as a colour attachment (load/store through the render pass).
    ColorAttachment,
    /// Written (and depth-tested) as a depth/stencil attachment.
    DepthStencilAttachment,
    /// Depth-tested but not written (read-only depth/stencil attachment).
    DepthStencilRead,
    /// Sampled or read as a texture from any shader stage.
    Sampled,
    /// Read as a storage image.
    StorageRead,
    /// Written (and possibly read) as a storage image.
    StorageWrite,
    /// Source of a copy or blit.
    TransferSrc,
    /// Destination of a copy, blit or clear.
    TransferDst,
    /// Handed to the presentation engine (swapchain images only).
    Present,
}

impl TextureUse {
    /// Whether this use writes the texture.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            TextureUse::ColorAttachment
                | TextureUse::DepthStencilAttachment
                | TextureUse::StorageWrite
                | TextureUse::TransferDst
        )
    }
}

/// One use of a buffer by a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum BufferUse {
    /// Read as vertex input.
    Vertex,
    /// Read as index input.
    Index,
    /// Read as indirect draw or dispatch arguments.
    Indirect,
    /// Read as a uniform buffer from any shader stage.
    Uniform,
    /// Read as a storage buffer from any shader stage.
    StorageRead,
    /// Written (and possibly read) as a storage buffer from any shader stage.
    StorageWrite,
    /// Source of a copy.
    TransferSrc,
    /// Destination of a copy or fill.
    TransferDst,
    /// Read by the host after the GPU wrote it (read-back).
    HostRead,
}

impl BufferUse {
    /// Whether this use writes the buffer.
    pub fn is_write(self) -> bool {
        matches!(self, BufferUse::StorageWrite | BufferUse::TransferDst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_the_attachment_storage_and_transfer_destinations() {
        assert!(TextureUse::ColorAttachment.is_write());
        assert!(TextureUse::TransferDst.is_write());
        assert!(!TextureUse::Sampled.is_write());
        assert!(!TextureUse::DepthStencilRead.is_write());
        assert!(!TextureUse::Present.is_write());
        assert!(BufferUse::StorageWrite.is_write());
        assert!(!BufferUse::Vertex.is_write());
    }
}
