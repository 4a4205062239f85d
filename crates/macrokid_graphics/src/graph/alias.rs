//! Transient allocation: lifetimes and the assignment of transient textures to memory slots.
//!
//! # Algorithm
//! Greedy interval colouring ("interval partitioning", Kleinberg & Tardos, *Algorithm Design*,
//! §4.1): the transients used by kept passes are taken in order of the batch of their first use
//! (ties by declaration order); each goes to the lowest-numbered slot of an equal
//! [`TextureDesc`] whose last occupant's lifetime ended in an earlier batch, or to a new slot.
//! Taking intervals by start time, any free slot may be chosen and the number of slots per
//! description equals the largest number of transients of that description alive in one batch,
//! which no assignment can beat. This is the aliasing of Frostbite's FrameGraph (O'Donnell, GDC
//! 2017) restricted to identical descriptions: the Vulkan backend creates one image per
//! occupant, once per compiled graph, and binds a slot's images to one allocation (see
//! `Device::create_aliased_textures`); identical descriptions keep the size and alignment of
//! the shared memory equal to one image's.
//!
//! Lifetimes are compared by *batch* rather than by pass: two transients of one batch never
//! share memory, so the passes of a batch stay free of hidden dependencies through aliasing.

use super::resource::{TextureDesc, TextureHandle};
use crate::TextureUse;

/// When a transient texture is alive: the first and last kept pass that use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lifetime {
    /// Position in [`CompiledGraph::order`](super::CompiledGraph::order) of the first pass using it.
    pub first: usize,
    /// Position in the order of the last pass using it (`>= first`).
    pub last: usize,
    /// The batch of the first pass using it.
    pub first_batch: usize,
    /// The batch of the last pass using it (`>= first_batch`).
    pub last_batch: usize,
}

impl Lifetime {
    /// Whether the two lifetimes share a batch (then they may not share a slot).
    pub fn overlaps(&self, other: &Lifetime) -> bool {
        self.first_batch <= other.last_batch && other.first_batch <= self.last_batch
    }
}

/// A transient texture after compilation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransientTexture {
    texture: TextureHandle,
    name: &'static str,
    desc: TextureDesc,
    lifetime: Option<Lifetime>,
    usages: Vec<TextureUse>,
    slot: Option<usize>,
}

impl TransientTexture {
    pub(super) fn new(
        texture: TextureHandle,
        name: &'static str,
        desc: TextureDesc,
        lifetime: Option<Lifetime>,
        usages: Vec<TextureUse>,
    ) -> Self {
        Self {
            texture,
            name,
            desc,
            lifetime,
            usages,
            slot: None,
        }
    }

    /// The texture's handle.
    pub fn texture(&self) -> TextureHandle {
        self.texture
    }

    /// The name it was declared with.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Its description.
    pub fn desc(&self) -> TextureDesc {
        self.desc
    }

    /// When it is alive; `None` when no kept pass uses it (it is not allocated).
    pub fn lifetime(&self) -> Option<Lifetime> {
        self.lifetime
    }

    /// The uses kept passes make of it, sorted and deduplicated (the backend's usage flags).
    pub fn usages(&self) -> &[TextureUse] {
        &self.usages
    }

    /// Index into [`CompiledGraph::slots`](super::CompiledGraph::slots) of its memory; `None`
    /// exactly when [`lifetime`](Self::lifetime) is `None`.
    pub fn slot(&self) -> Option<usize> {
        self.slot
    }
}

/// One piece of transient memory for textures of one description, shared over time by
/// transients whose lifetimes do not overlap (the backend binds each occupant's image to it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextureSlot {
    desc: TextureDesc,
    usages: Vec<TextureUse>,
    textures: Vec<TextureHandle>,
}

impl TextureSlot {
    /// The description every occupant shares.
    pub fn desc(&self) -> TextureDesc {
        self.desc
    }

    /// The union of the occupants' uses, sorted: what the slot's texture must support.
    pub fn usages(&self) -> &[TextureUse] {
        &self.usages
    }

    /// The occupants, in the order they use the slot (by lifetime).
    pub fn textures(&self) -> &[TextureHandle] {
        &self.textures
    }
}

/// Assigns every transient with a lifetime to a slot (see the module docs); returns the
/// transients (same order, with `slot` set) and the slots.
pub(super) fn assign_slots(
    mut transients: Vec<TransientTexture>,
) -> (Vec<TransientTexture>, Vec<TextureSlot>) {
    let mut by_start: Vec<usize> = (0..transients.len())
        .filter(|&t| transients[t].lifetime.is_some())
        .collect();
    by_start.sort_by_key(|&t| (transients[t].lifetime.map(|l| l.first_batch), t));

    let mut slots: Vec<TextureSlot> = Vec::new();
    // The last batch of each slot's current occupant.
    let mut busy_until: Vec<usize> = Vec::new();
    for t in by_start {
        let life = transients[t]
            .lifetime
            .expect("only transients with a lifetime are assigned");
        let free = (0..slots.len())
            .find(|&s| slots[s].desc == transients[t].desc && busy_until[s] < life.first_batch);
        let slot = match free {
            Some(s) => s,
            None => {
                slots.push(TextureSlot {
                    desc: transients[t].desc,
                    usages: Vec::new(),
                    textures: Vec::new(),
                });
                busy_until.push(0);
                slots.len() - 1
            }
        };
        busy_until[slot] = life.last_batch;
        let entry = &mut slots[slot];
        entry.textures.push(transients[t].texture);
        for &u in &transients[t].usages {
            if let Err(at) = entry.usages.binary_search(&u) {
                entry.usages.insert(at, u);
            }
        }
        transients[t].slot = Some(slot);
    }
    (transients, slots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TextureFormat;

    fn transient(
        index: u32,
        desc: TextureDesc,
        batches: Option<(usize, usize)>,
    ) -> TransientTexture {
        TransientTexture::new(
            TextureHandle { graph: 0, index },
            "t",
            desc,
            batches.map(|(a, b)| Lifetime {
                first: a,
                last: b,
                first_batch: a,
                last_batch: b,
            }),
            vec![TextureUse::ColorAttachment],
        )
    }

    #[test]
    fn disjoint_lifetimes_share_overlapping_ones_do_not() {
        let color = TextureDesc::new(64, 64, TextureFormat::Rgba8Unorm);
        let depth = TextureDesc::new(64, 64, TextureFormat::Depth32Float);
        let (ts, slots) = assign_slots(vec![
            transient(0, color, Some((0, 1))),
            transient(1, color, Some((1, 2))), // overlaps 0 in batch 1
            transient(2, color, Some((2, 3))), // 0 has ended: reuses its slot
            transient(3, depth, Some((3, 4))), // another description: own slot
            transient(4, color, None),         // unused: no slot
        ]);
        let slot_of: Vec<Option<usize>> = ts.iter().map(TransientTexture::slot).collect();
        assert_eq!(slot_of, [Some(0), Some(1), Some(0), Some(2), None]);
        assert_eq!(slots.len(), 3);
        assert_eq!(
            slots[0].textures(),
            [
                TextureHandle { graph: 0, index: 0 },
                TextureHandle { graph: 0, index: 2 }
            ]
        );
        assert_eq!(slots[2].desc(), depth);
    }

    #[test]
    fn slots_per_description_equal_the_largest_overlap() {
        let color = TextureDesc::new(8, 8, TextureFormat::Rgba8Unorm);
        // Intervals whose largest overlap is 3 (batches 2..=3).
        let lives = [(0, 2), (1, 3), (2, 5), (4, 6), (6, 7), (3, 3)];
        let ts = lives
            .iter()
            .enumerate()
            .map(|(i, &l)| transient(i as u32, color, Some(l)))
            .collect();
        let (_, slots) = assign_slots(ts);
        assert_eq!(slots.len(), 3);
    }
}
