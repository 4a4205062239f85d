//! Encoding on the wire: MessagePack control messages and raw column chunks.
//!
//! **Control messages** ([`crate::protocol::ControlMessage`]) are MessagePack maps
//! (rmp-serde, `to_vec_named`, so fields may be added) with the routing headers of
//! [`crate::protocol`].
//!
//! **Component columns** travel as raw little-endian bytes: a [`Column`] is a component type
//! name, an element size and `count × element_size` bytes; a [`Shard`] is the columns of
//! one shard of one system in one tick, one of them usually the entity ids
//! ([`crate::protocol::ENTITY_COLUMN`]). [`encode_shard`] cuts a shard into chunks no larger
//! than the server's `max_payload` allows; each chunk starts with a binary [`ChunkHeader`]
//! (layout below) and carries one contiguous byte range of one column. A [`Reassembler`]
//! puts shards back together from chunks arriving in any order.
//!
//! Chunk layout, all integers little-endian (version [`PROTOCOL_VERSION`]):
//!
//! ```text
//! offset size field
//!      0    4 magic "MKCC"
//!      4    2 protocol version
//!      6    8 tick id
//!     14    4 shard
//!     18    4 chunk index        (0 ≤ index < count, over the whole shard)
//!     22    4 chunk count
//!     26    2 column index       (0 ≤ index < column count)
//!     28    2 column count
//!     30    4 element size, bytes (≥ 1)
//!     34    8 element count of the whole column
//!     42    8 byte offset of this chunk's data in the column
//!     50    1 system name length n, then n bytes (UTF-8)
//!   51+n    2 component name length m, then m bytes (UTF-8)
//!  53+n+m     data: the rest of the message
//! ```
//!
//! Anything that does not decode — malformed, truncated, duplicated, inconsistent with
//! earlier chunks, of another version or stale — is counted by [`DropReason`] in
//! [`DropCounters`] and dropped; decoding never panics (property-tested on arbitrary
//! bytes).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use async_nats::HeaderMap;
use bytes::{BufMut, Bytes, BytesMut};

use crate::protocol::{
    ControlMessage, InstanceId, MsgType, SystemName, ENTITY_COLUMN, HEADER_INSTANCE,
    HEADER_MSG_TYPE, HEADER_TICK, HEADER_VERSION, PROTOCOL_VERSION,
};

/// The first four bytes of every column chunk.
pub const CHUNK_MAGIC: [u8; 4] = *b"MKCC";

/// Fixed part of a chunk header, in bytes, before the two names.
const FIXED_HEADER: usize = 50;

/// Bytes of `max_payload` kept for the NATS headers of a chunk message
/// ([`chunk_headers`] uses about 120).
pub const NATS_HEADER_RESERVE: usize = 512;

/// Why a message was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum DropReason {
    /// A routing header is missing or unreadable.
    #[error("a routing header is missing or unreadable")]
    MissingHeader,
    /// The message type header names another type than the subject carries.
    #[error("the message type does not belong on this subject")]
    WrongType,
    /// The protocol version is not [`PROTOCOL_VERSION`].
    #[error("another protocol version")]
    WrongVersion,
    /// The bytes do not decode (bad magic, bad MessagePack, bad names, out-of-range fields).
    #[error("the payload does not decode")]
    Malformed,
    /// The message ends before its header or declared data does.
    #[error("the payload is truncated")]
    Truncated,
    /// A chunk that was already received.
    #[error("a duplicate chunk")]
    Duplicate,
    /// A chunk that contradicts earlier chunks of its shard (counts, column shape, overlap).
    #[error("a chunk inconsistent with its shard")]
    Inconsistent,
    /// A column larger than the receiver accepts.
    #[error("a column larger than the receiver's limit")]
    TooLarge,
    /// A chunk or partial shard of a tick that is already over.
    #[error("a chunk of a finished tick")]
    Stale,
    /// A result for a tick that was already closed (see [`crate::liveness`]).
    #[error("a result after its tick's deadline")]
    Late,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 10] = [
        DropReason::MissingHeader,
        DropReason::WrongType,
        DropReason::WrongVersion,
        DropReason::Malformed,
        DropReason::Truncated,
        DropReason::Duplicate,
        DropReason::Inconsistent,
        DropReason::TooLarge,
        DropReason::Stale,
        DropReason::Late,
    ];

    fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|&r| r == self)
            .expect("ALL lists every reason")
    }
}

/// Per-reason counts of dropped messages; shared between tasks (`&self` methods).
#[derive(Debug, Default)]
pub struct DropCounters {
    counts: [AtomicU64; DropReason::ALL.len()],
}

impl DropCounters {
    /// All zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one message dropped for `reason` (and logs it at debug level).
    pub fn record(&self, reason: DropReason) {
        tracing::debug!(%reason, "dropped a message");
        self.counts[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Messages dropped for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.counts[reason.index()].load(Ordering::Relaxed)
    }

    /// Messages dropped for any reason.
    pub fn total(&self) -> u64 {
        DropReason::ALL.iter().map(|&r| self.get(r)).sum()
    }

    /// The non-zero counts.
    pub fn snapshot(&self) -> BTreeMap<DropReason, u64> {
        DropReason::ALL
            .iter()
            .map(|&r| (r, self.get(r)))
            .filter(|&(_, n)| n > 0)
            .collect()
    }
}

/// Encoding failures; all are caller mistakes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// rmp-serde refused the message.
    #[error("MessagePack encoding failed: {0}")]
    MessagePack(#[from] rmp_serde::encode::Error),
    /// `max_payload` leaves no room for data after the chunk header.
    #[error(
        "a chunk budget of {budget} bytes cannot hold the {header} header bytes of column {component:?} plus data; use a larger max_payload"
    )]
    BudgetTooSmall {
        /// The budget per chunk, in bytes.
        budget: usize,
        /// The header size of that column's chunks.
        header: usize,
        /// The column.
        component: String,
    },
    /// More columns or chunks than the header's fields hold.
    #[error("a shard of {columns} columns in {chunks} chunks exceeds 65535 columns or 2^32 chunks; split it into more shards")]
    TooManyPieces {
        /// Columns in the shard.
        columns: usize,
        /// Chunks it would need.
        chunks: u64,
    },
    /// A name longer than its length field.
    #[error("name {name:?} is {len} bytes, longer than the {max} a chunk header holds")]
    NameTooLong {
        /// The name.
        name: String,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// A column shape that does not add up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ColumnError {
    /// Element size 0.
    #[error("column {component:?}: the element size must be at least 1 byte")]
    ZeroElementSize {
        /// The column.
        component: String,
    },
    /// The byte length is not a multiple of the element size.
    #[error(
        "column {component:?}: {len} bytes is not a whole number of {element_size}-byte elements"
    )]
    Ragged {
        /// The column.
        component: String,
        /// Its byte length.
        len: usize,
        /// The element size.
        element_size: u32,
    },
}

/// One component column: `len()` elements of `element_size` bytes each, little-endian,
/// row `i` at bytes `i*element_size .. (i+1)*element_size`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    component: String,
    element_size: u32,
    bytes: Bytes,
}

impl Column {
    /// A column of `component` with elements of `element_size` bytes.
    ///
    /// # Errors
    /// [`ColumnError`] when `element_size` is 0 or does not divide `bytes.len()`.
    pub fn new(
        component: impl Into<String>,
        element_size: u32,
        bytes: impl Into<Bytes>,
    ) -> Result<Self, ColumnError> {
        let component = component.into();
        let bytes = bytes.into();
        if element_size == 0 {
            return Err(ColumnError::ZeroElementSize { component });
        }
        if bytes.len() % element_size as usize != 0 {
            return Err(ColumnError::Ragged {
                component,
                len: bytes.len(),
                element_size,
            });
        }
        Ok(Self {
            component,
            element_size,
            bytes,
        })
    }

    /// The entity-id column ([`ENTITY_COLUMN`]) of `entities`, 8 bytes each.
    pub fn entities(entities: &[u64]) -> Self {
        let mut bytes = BytesMut::with_capacity(entities.len() * 8);
        for &e in entities {
            bytes.put_u64_le(e);
        }
        Self {
            component: ENTITY_COLUMN.to_string(),
            element_size: 8,
            bytes: bytes.freeze(),
        }
    }

    /// The entity ids, when this is an [`ENTITY_COLUMN`] of 8-byte elements.
    pub fn entity_ids(&self) -> Option<Vec<u64>> {
        (self.component == ENTITY_COLUMN && self.element_size == 8).then(|| {
            self.bytes
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("chunks of 8")))
                .collect()
        })
    }

    /// The component type name.
    pub fn component(&self) -> &str {
        &self.component
    }

    /// Bytes per element.
    pub fn element_size(&self) -> u32 {
        self.element_size
    }

    /// Number of elements (rows).
    pub fn len(&self) -> usize {
        self.bytes.len() / self.element_size as usize
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The raw little-endian bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
}

/// The columns of one shard of one system in one tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// The tick.
    pub tick: u64,
    /// The system whose query the shard answers.
    pub system: SystemName,
    /// The shard number within the system's tick.
    pub shard: u32,
    /// The columns, in the sender's order.
    pub columns: Vec<Column>,
}

impl Shard {
    /// The row count when every column has the same number of rows.
    pub fn rows(&self) -> Option<usize> {
        let first = self.columns.first().map_or(0, Column::len);
        self.columns
            .iter()
            .all(|c| c.len() == first)
            .then_some(first)
    }

    /// The column of `component`.
    pub fn column(&self, component: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.component == component)
    }
}

/// The decoded fixed fields and names of a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkHeader {
    /// The tick.
    pub tick: u64,
    /// The system.
    pub system: SystemName,
    /// The shard.
    pub shard: u32,
    /// This chunk's index within the shard.
    pub chunk_index: u32,
    /// Chunks in the shard.
    pub chunk_count: u32,
    /// The column this chunk belongs to.
    pub column_index: u16,
    /// Columns in the shard.
    pub column_count: u16,
    /// The column's component type name.
    pub component: String,
    /// Bytes per element of the column.
    pub element_size: u32,
    /// Elements in the whole column.
    pub element_count: u64,
    /// Where this chunk's data starts in the column, in bytes.
    pub offset: u64,
}

impl ChunkHeader {
    /// The encoded header size for these names.
    fn encoded_len(system: &str, component: &str) -> usize {
        FIXED_HEADER + 1 + system.len() + 2 + component.len()
    }

    fn write(&self, out: &mut BytesMut) {
        out.put_slice(&CHUNK_MAGIC);
        out.put_u16_le(PROTOCOL_VERSION);
        out.put_u64_le(self.tick);
        out.put_u32_le(self.shard);
        out.put_u32_le(self.chunk_index);
        out.put_u32_le(self.chunk_count);
        out.put_u16_le(self.column_index);
        out.put_u16_le(self.column_count);
        out.put_u32_le(self.element_size);
        out.put_u64_le(self.element_count);
        out.put_u64_le(self.offset);
        let system = self.system.as_str().as_bytes();
        // Lengths were checked by `encode_shard`.
        out.put_u8(system.len() as u8);
        out.put_slice(system);
        out.put_u16_le(self.component.len() as u16);
        out.put_slice(self.component.as_bytes());
    }
}

/// A little-endian reader over a byte slice that reports running out as
/// [`DropReason::Truncated`].
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DropReason> {
        if self.bytes.len() < n {
            return Err(DropReason::Truncated);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DropReason> {
        Ok(self.take(N)?.try_into().expect("take returned N bytes"))
    }
    fn u8(&mut self) -> Result<u8, DropReason> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, DropReason> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, DropReason> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, DropReason> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn str(&mut self, len: usize) -> Result<&'a str, DropReason> {
        std::str::from_utf8(self.take(len)?).map_err(|_| DropReason::Malformed)
    }
}

/// Decodes a chunk into its header and data.
///
/// # Errors
/// The [`DropReason`] to count: [`DropReason::Malformed`] for a bad magic, name or field
/// (index ≥ count, element size 0, data outside the column),
/// [`DropReason::WrongVersion`], [`DropReason::Truncated`].
pub fn decode_chunk(bytes: &[u8]) -> Result<(ChunkHeader, &[u8]), DropReason> {
    let mut r = Reader { bytes };
    if r.array::<4>()? != CHUNK_MAGIC {
        return Err(DropReason::Malformed);
    }
    if r.u16()? != PROTOCOL_VERSION {
        return Err(DropReason::WrongVersion);
    }
    let tick = r.u64()?;
    let shard = r.u32()?;
    let chunk_index = r.u32()?;
    let chunk_count = r.u32()?;
    let column_index = r.u16()?;
    let column_count = r.u16()?;
    let element_size = r.u32()?;
    let element_count = r.u64()?;
    let offset = r.u64()?;
    let system_len = usize::from(r.u8()?);
    let system = SystemName::new(r.str(system_len)?).map_err(|_| DropReason::Malformed)?;
    let component_len = usize::from(r.u16()?);
    let component = r.str(component_len)?.to_string();
    let data = r.bytes;
    let column_bytes = u64::from(element_size).checked_mul(element_count);
    let end = offset.checked_add(data.len() as u64);
    let fits = matches!((column_bytes, end), (Some(total), Some(end)) if end <= total);
    if chunk_index >= chunk_count || column_index >= column_count || element_size == 0 || !fits {
        return Err(DropReason::Malformed);
    }
    Ok((
        ChunkHeader {
            tick,
            system,
            shard,
            chunk_index,
            chunk_count,
            column_index,
            column_count,
            component,
            element_size,
            element_count,
            offset,
        },
        data,
    ))
}

/// The chunk size budget for a server's `max_payload`: what is left after
/// [`NATS_HEADER_RESERVE`] bytes of NATS headers.
pub fn chunk_budget(max_payload: usize) -> usize {
    max_payload.saturating_sub(NATS_HEADER_RESERVE)
}

/// Cuts `shard` into chunks of at most `max_chunk` bytes each (header included), column by
/// column in order; a column of zero rows still sends one chunk. Use
/// [`chunk_budget`]`(server max_payload)` for `max_chunk`.
///
/// # Errors
/// [`EncodeError::BudgetTooSmall`] when a header leaves no room for data,
/// [`EncodeError::NameTooLong`] for a component name over 65535 bytes,
/// [`EncodeError::TooManyPieces`] for more than 65535 columns or 2^32 chunks.
pub fn encode_shard(shard: &Shard, max_chunk: usize) -> Result<Vec<Bytes>, EncodeError> {
    let system = shard.system.as_str();
    if system.len() > usize::from(u8::MAX) {
        return Err(EncodeError::NameTooLong {
            name: system.to_string(),
            len: system.len(),
            max: usize::from(u8::MAX),
        });
    }
    let mut pieces: Vec<usize> = Vec::with_capacity(shard.columns.len());
    for column in &shard.columns {
        if column.component.len() > usize::from(u16::MAX) {
            return Err(EncodeError::NameTooLong {
                name: column.component.clone(),
                len: column.component.len(),
                max: usize::from(u16::MAX),
            });
        }
        let header = ChunkHeader::encoded_len(system, &column.component);
        // Whole elements per chunk keep a row from straddling two messages.
        let per_chunk = max_chunk.saturating_sub(header) / column.element_size as usize
            * column.element_size as usize;
        if per_chunk == 0 {
            return Err(EncodeError::BudgetTooSmall {
                budget: max_chunk,
                header,
                component: column.component.clone(),
            });
        }
        pieces.push(column.bytes.len().div_ceil(per_chunk).max(1));
    }
    let chunks: u64 = pieces.iter().map(|&p| p as u64).sum();
    let (Ok(column_count), Ok(chunk_count)) =
        (u16::try_from(shard.columns.len()), u32::try_from(chunks))
    else {
        return Err(EncodeError::TooManyPieces {
            columns: shard.columns.len(),
            chunks,
        });
    };
    let mut out = Vec::with_capacity(chunks as usize);
    let mut chunk_index = 0u32;
    for (column_index, (column, &n)) in shard.columns.iter().zip(&pieces).enumerate() {
        let header_len = ChunkHeader::encoded_len(system, &column.component);
        let per_chunk = column.bytes.len().div_ceil(n);
        // Round up to whole elements; n pieces of this size cover the column.
        let per_chunk =
            per_chunk.div_ceil(column.element_size as usize).max(1) * column.element_size as usize;
        for piece in 0..n {
            let start = (piece * per_chunk).min(column.bytes.len());
            let end = ((piece + 1) * per_chunk).min(column.bytes.len());
            let header = ChunkHeader {
                tick: shard.tick,
                system: shard.system.clone(),
                shard: shard.shard,
                chunk_index,
                chunk_count,
                column_index: column_index as u16,
                column_count,
                component: column.component.clone(),
                element_size: column.element_size,
                element_count: column.len() as u64,
                offset: start as u64,
            };
            let mut buf = BytesMut::with_capacity(header_len + end - start);
            header.write(&mut buf);
            buf.put_slice(&column.bytes[start..end]);
            out.push(buf.freeze());
            chunk_index += 1;
        }
    }
    Ok(out)
}

/// Key of a shard being reassembled: (tick, system, shard).
type ShardKey = (u64, SystemName, u32);

#[derive(Debug)]
struct PartialColumn {
    component: String,
    element_size: u32,
    element_count: u64,
    /// The column assembled from pieces (empty while `whole` is used).
    bytes: Vec<u8>,
    /// The column when one chunk carried all of it: a slice of that message, not a copy.
    whole: Option<Bytes>,
    /// (offset, len) of the pieces received.
    ranges: Vec<(u64, u64)>,
}

#[derive(Debug)]
struct PartialShard {
    chunk_count: u32,
    column_count: u16,
    received: Vec<bool>,
    received_count: u32,
    columns: Vec<Option<PartialColumn>>,
    bytes: u64,
}

/// Rebuilds [`Shard`]s from chunks that may arrive in any order, duplicated or corrupted;
/// every dropped chunk is counted in the shared [`DropCounters`].
#[derive(Debug)]
pub struct Reassembler {
    partial: HashMap<ShardKey, PartialShard>,
    completed: HashSet<ShardKey>,
    max_shard_bytes: u64,
    oldest_tick: u64,
    counters: std::sync::Arc<DropCounters>,
}

impl Reassembler {
    /// A reassembler that refuses shards over `max_shard_bytes` of column data (a guard
    /// against a header that claims a huge column) and counts drops in `counters`.
    pub fn new(max_shard_bytes: u64, counters: std::sync::Arc<DropCounters>) -> Self {
        Self {
            partial: HashMap::new(),
            completed: HashSet::new(),
            max_shard_bytes,
            oldest_tick: 0,
            counters,
        }
    }

    /// The counters drops are recorded in.
    pub fn counters(&self) -> &std::sync::Arc<DropCounters> {
        &self.counters
    }

    /// Shards with some but not all chunks received.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }

    /// Adds one chunk; returns the shard when this chunk completes it. A chunk that cannot
    /// be used is counted and dropped (the shard it belonged to stays pending, or is
    /// dropped as a whole when the chunk proves it inconsistent).
    pub fn push(&mut self, chunk: &[u8]) -> Option<Shard> {
        self.push_inner(chunk, None)
    }

    /// As [`Reassembler::push`], for a chunk held in [`Bytes`] (a received message's
    /// payload): a column that arrives in one chunk is kept as a slice of it, without a
    /// copy.
    pub fn push_bytes(&mut self, chunk: &Bytes) -> Option<Shard> {
        self.push_inner(chunk, Some(chunk))
    }

    fn push_inner(&mut self, chunk: &[u8], shared: Option<&Bytes>) -> Option<Shard> {
        match self.try_push(chunk, shared) {
            Ok(done) => done,
            Err(reason) => {
                self.counters.record(reason);
                None
            }
        }
    }

    fn try_push(
        &mut self,
        chunk: &[u8],
        shared: Option<&Bytes>,
    ) -> Result<Option<Shard>, DropReason> {
        let (h, data) = decode_chunk(chunk)?;
        if h.tick < self.oldest_tick {
            return Err(DropReason::Stale);
        }
        let key: ShardKey = (h.tick, h.system.clone(), h.shard);
        if self.completed.contains(&key) {
            return Err(DropReason::Duplicate);
        }
        let column_bytes = u64::from(h.element_size) * h.element_count; // checked in decode
        let max = self.max_shard_bytes;
        let partial = self
            .partial
            .entry(key.clone())
            .or_insert_with(|| PartialShard {
                chunk_count: h.chunk_count,
                column_count: h.column_count,
                received: Vec::new(),
                received_count: 0,
                columns: Vec::new(),
                bytes: 0,
            });
        if partial.chunk_count != h.chunk_count || partial.column_count != h.column_count {
            return Err(self.drop_shard(&key, DropReason::Inconsistent));
        }
        if partial.received.is_empty() {
            // Sized on first use: both counts come from a header that decoded, and the
            // vectors are bounded by the chunks actually needed to fill them.
            let chunks = h.chunk_count.min(1 << 20) as usize;
            partial.received = vec![false; chunks];
            partial.columns = (0..h.column_count).map(|_| None).collect();
        }
        let Some(seen) = partial.received.get_mut(h.chunk_index as usize) else {
            return Err(self.drop_shard(&key, DropReason::TooLarge));
        };
        if *seen {
            return Err(DropReason::Duplicate);
        }
        let column = &mut partial.columns[usize::from(h.column_index)];
        match column {
            None => {
                if partial.bytes + column_bytes > max {
                    return Err(self.drop_shard(&key, DropReason::TooLarge));
                }
                partial.bytes += column_bytes;
                let whole = shared
                    .filter(|_| h.offset == 0 && data.len() as u64 == column_bytes)
                    .map(|b| b.slice_ref(data));
                *column = Some(PartialColumn {
                    component: h.component.clone(),
                    element_size: h.element_size,
                    element_count: h.element_count,
                    bytes: if whole.is_some() {
                        Vec::new()
                    } else {
                        vec![0; column_bytes as usize]
                    },
                    whole,
                    ranges: Vec::new(),
                });
            }
            Some(c) if c.whole.is_some() => {
                // One chunk already carried the whole column: any other overlaps it.
                return Err(self.drop_shard(&key, DropReason::Inconsistent));
            }
            Some(c)
                if c.component != h.component
                    || c.element_size != h.element_size
                    || c.element_count != h.element_count =>
            {
                return Err(self.drop_shard(&key, DropReason::Inconsistent));
            }
            Some(_) => {}
        }
        let c = column.as_mut().expect("set above");
        if c.whole.is_none() {
            let start = h.offset as usize;
            c.bytes[start..start + data.len()].copy_from_slice(data);
        }
        c.ranges.push((h.offset, data.len() as u64));
        *seen = true;
        partial.received_count += 1;
        if partial.received_count < partial.chunk_count {
            return Ok(None);
        }
        let partial = self.partial.remove(&key).expect("present");
        let mut columns = Vec::with_capacity(partial.columns.len());
        for column in partial.columns {
            let Some(mut c) = column else {
                self.counters.record(DropReason::Inconsistent);
                return Ok(None);
            };
            let total = u64::from(c.element_size) * c.element_count;
            if !covers_exactly(&mut c.ranges, total) {
                self.counters.record(DropReason::Inconsistent);
                return Ok(None);
            }
            columns.push(Column {
                component: c.component,
                element_size: c.element_size,
                bytes: c.whole.unwrap_or_else(|| Bytes::from(c.bytes)),
            });
        }
        self.completed.insert(key.clone());
        Ok(Some(Shard {
            tick: key.0,
            system: key.1,
            shard: key.2,
            columns,
        }))
    }

    fn drop_shard(&mut self, key: &ShardKey, reason: DropReason) -> DropReason {
        self.partial.remove(key);
        reason
    }

    /// Forgets that shard `shard` of `system` in `tick` was completed, so that it can be
    /// received again (a coordinator sending it anew after the receiver asked for it).
    pub fn forget(&mut self, tick: u64, system: &SystemName, shard: u32) {
        self.completed.remove(&(tick, system.clone(), shard));
    }

    /// Forgets everything of ticks before `tick`: partial shards are dropped and each is
    /// counted as [`DropReason::Stale`]; later chunks of those ticks are counted the same.
    /// Returns how many partial shards were dropped.
    pub fn evict_before(&mut self, tick: u64) -> usize {
        self.oldest_tick = self.oldest_tick.max(tick);
        let before = self.partial.len();
        self.partial.retain(|k, _| k.0 >= tick);
        let dropped = before - self.partial.len();
        for _ in 0..dropped {
            self.counters.record(DropReason::Stale);
        }
        self.completed.retain(|k| k.0 >= tick);
        dropped
    }
}

/// Whether the (offset, len) ranges tile `0..total` without gap or overlap.
fn covers_exactly(ranges: &mut [(u64, u64)], total: u64) -> bool {
    ranges.sort_unstable();
    let mut next = 0u64;
    for &(offset, len) in ranges.iter() {
        if offset != next {
            return false;
        }
        next = offset + len;
    }
    next == total
}

/// The routing headers of a message of type `ty`.
pub fn headers(ty: MsgType, tick: Option<u64>, instance: Option<InstanceId>) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(HEADER_MSG_TYPE, ty.as_str());
    h.insert(HEADER_VERSION, PROTOCOL_VERSION.to_string().as_str());
    if let Some(tick) = tick {
        h.insert(HEADER_TICK, tick.to_string().as_str());
    }
    if let Some(instance) = instance {
        h.insert(HEADER_INSTANCE, instance.to_string().as_str());
    }
    h
}

/// The headers of a column chunk of `tick` from or to `instance`.
pub fn chunk_headers(tick: u64, instance: Option<InstanceId>) -> HeaderMap {
    headers(MsgType::ColumnChunk, Some(tick), instance)
}

/// The routing fields read back from headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routing {
    /// The message type.
    pub msg_type: MsgType,
    /// The tick, when sent.
    pub tick: Option<u64>,
    /// The instance, when sent.
    pub instance: Option<InstanceId>,
}

/// Reads and checks the routing headers against the `expected` type.
///
/// # Errors
/// [`DropReason::MissingHeader`] (no headers, no type or version, unparsable tick or
/// instance), [`DropReason::WrongVersion`], [`DropReason::WrongType`].
pub fn read_routing(headers: Option<&HeaderMap>, expected: MsgType) -> Result<Routing, DropReason> {
    let h = headers.ok_or(DropReason::MissingHeader)?;
    let get = |name: &str| h.get(name).map(|v| v.as_str());
    let version = get(HEADER_VERSION).ok_or(DropReason::MissingHeader)?;
    if version.parse::<u16>() != Ok(PROTOCOL_VERSION) {
        return Err(DropReason::WrongVersion);
    }
    let msg_type = get(HEADER_MSG_TYPE)
        .and_then(MsgType::parse)
        .ok_or(DropReason::MissingHeader)?;
    if msg_type != expected {
        return Err(DropReason::WrongType);
    }
    let tick = get(HEADER_TICK)
        .map(|t| t.parse::<u64>().map_err(|_| DropReason::MissingHeader))
        .transpose()?;
    let instance = get(HEADER_INSTANCE)
        .map(|t| InstanceId::parse(t).ok_or(DropReason::MissingHeader))
        .transpose()?;
    Ok(Routing {
        msg_type,
        tick,
        instance,
    })
}

/// Encodes a control message: its routing headers and its MessagePack body.
///
/// # Errors
/// [`EncodeError::MessagePack`] when serde refuses the value.
pub fn encode_control<M: ControlMessage>(msg: &M) -> Result<(HeaderMap, Bytes), EncodeError> {
    let body = rmp_serde::to_vec_named(msg)?;
    Ok((
        headers(M::TYPE, msg.tick(), msg.instance()),
        Bytes::from(body),
    ))
}

/// Decodes a control message of type `M` after checking its routing headers; a failure
/// is counted in `counters` and returned.
///
/// # Errors
/// The [`DropReason`] that was counted: those of [`read_routing`], or
/// [`DropReason::Malformed`] for a body that is not an `M` in MessagePack.
pub fn decode_control<M: ControlMessage>(
    headers: Option<&HeaderMap>,
    payload: &[u8],
    counters: &DropCounters,
) -> Result<M, DropReason> {
    let result = read_routing(headers, M::TYPE).and_then(|_| {
        rmp_serde::from_slice::<M>(payload).map_err(|e| match e {
            rmp_serde::decode::Error::InvalidMarkerRead(_)
            | rmp_serde::decode::Error::InvalidDataRead(_) => DropReason::Truncated,
            _ => DropReason::Malformed,
        })
    });
    if let Err(reason) = result {
        counters.record(reason);
    }
    result
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::protocol::{AccessDescriptor, Heartbeat, SystemRegister, TickStart};

    fn sys(name: &str) -> SystemName {
        SystemName::new(name).expect("valid")
    }

    fn shard_with(columns: Vec<Column>) -> Shard {
        Shard {
            tick: 42,
            system: sys("movement"),
            shard: 3,
            columns,
        }
    }

    fn sample() -> Shard {
        let positions: Vec<u8> = (0..300u32).flat_map(|i| (i as f32).to_le_bytes()).collect();
        shard_with(vec![
            Column::entities(&(0..100).collect::<Vec<_>>()),
            Column::new("Position", 12, positions).expect("whole elements"),
            Column::new("Empty", 4, Vec::new()).expect("empty"),
        ])
    }

    fn reassembler() -> Reassembler {
        Reassembler::new(1 << 24, Arc::new(DropCounters::new()))
    }

    #[test]
    fn columns_check_their_shape() {
        assert!(matches!(
            Column::new("A", 0, vec![1u8]),
            Err(ColumnError::ZeroElementSize { .. })
        ));
        let err = Column::new("A", 4, vec![0u8; 6]).expect_err("ragged");
        assert!(err.to_string().contains("6 bytes"), "{err}");
        let ids = Column::entities(&[7, 1 << 40]);
        assert_eq!(ids.entity_ids(), Some(vec![7, 1 << 40]));
        assert_eq!(ids.bytes()[..8], 7u64.to_le_bytes());
    }

    #[test]
    fn a_shard_round_trips_in_reverse_order_with_duplicates() {
        let shard = sample();
        let chunks = encode_shard(&shard, 200).expect("encodes");
        assert!(chunks.len() > 5, "small budget gives many chunks");
        assert!(chunks.iter().all(|c| c.len() <= 200));
        let mut r = reassembler();
        let mut done = Vec::new();
        for c in chunks.iter().rev() {
            done.extend(r.push(c));
            done.extend(r.push(c));
        }
        assert_eq!(done, vec![shard]);
        assert_eq!(r.counters().get(DropReason::Duplicate), chunks.len() as u64);
        assert_eq!(r.counters().total(), chunks.len() as u64);
        assert_eq!(r.pending(), 0);
        // A chunk of a completed shard is a duplicate, not a new shard.
        assert!(r.push(&chunks[0]).is_none());
    }

    #[test]
    fn push_bytes_keeps_whole_columns_without_copying_and_matches_push() {
        let shard = sample();
        // A budget that fits the entity column whole but cuts Position in pieces.
        let chunks = encode_shard(&shard, 900).expect("encodes");
        assert!(chunks.len() > 3, "Position is cut: {}", chunks.len());
        let mut copied = reassembler();
        let mut shared = reassembler();
        let mut a = Vec::new();
        let mut b = Vec::new();
        for c in chunks.iter().rev() {
            a.extend(copied.push(c));
            b.extend(shared.push_bytes(c));
        }
        assert_eq!(a, vec![shard.clone()]);
        assert_eq!(b, a);
        // The entity column came in one chunk: its bytes point into that chunk.
        let ids = b[0].column(ENTITY_COLUMN).expect("ids").bytes().as_ptr();
        let holder = chunks.iter().find(|c| {
            let range = c.as_ptr() as usize..c.as_ptr() as usize + c.len();
            range.contains(&(ids as usize))
        });
        assert!(
            holder.is_some(),
            "the entity column is a slice of its chunk"
        );
        assert_eq!(shared.counters().total(), 0);
    }

    #[test]
    fn a_chunk_overlapping_a_whole_column_drops_the_shard() {
        let shard = shard_with(vec![
            Column::new("A", 4, vec![1u8; 8]).expect("ok"),
            Column::new("B", 4, vec![2u8; 8]).expect("ok"),
        ]);
        let chunks = encode_shard(&shard, 1000).expect("encodes");
        assert_eq!(chunks.len(), 2);
        // Chunk 1 re-labelled as another piece of column A (index 0, same shape).
        let mut fake = BytesMut::new();
        let (h, data) = decode_chunk(&chunks[0]).expect("decodes");
        ChunkHeader {
            chunk_index: 1,
            ..h
        }
        .write(&mut fake);
        fake.put_slice(data);
        let fake = fake.freeze();
        let mut r = reassembler();
        assert!(r.push_bytes(&chunks[0]).is_none());
        assert!(r.push_bytes(&fake).is_none());
        assert_eq!(r.counters().get(DropReason::Inconsistent), 1);
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn a_budget_too_small_for_the_header_is_an_error() {
        let err = encode_shard(&sample(), 40).expect_err("too small");
        assert!(
            matches!(err, EncodeError::BudgetTooSmall { budget: 40, .. }),
            "{err}"
        );
    }

    #[test]
    fn wrong_version_truncated_and_inconsistent_chunks_are_counted() {
        let shard = sample();
        let chunks = encode_shard(&shard, 300).expect("encodes");
        let mut r = reassembler();
        let mut wrong = chunks[0].to_vec();
        wrong[4] = 9;
        assert!(r.push(&wrong).is_none());
        assert!(r.push(&chunks[0][..30]).is_none());
        let mut bad_magic = chunks[0].to_vec();
        bad_magic[0] = b'X';
        assert!(r.push(&bad_magic).is_none());
        assert!(r.push(&chunks[0]).is_none());
        // Same shard, another chunk count: the shard is dropped as inconsistent.
        let mut other = chunks[1].to_vec();
        other[22..26].copy_from_slice(&999u32.to_le_bytes());
        assert!(r.push(&other).is_none());
        let c = r.counters();
        assert_eq!(c.get(DropReason::WrongVersion), 1);
        assert_eq!(c.get(DropReason::Truncated), 1);
        assert_eq!(c.get(DropReason::Malformed), 1);
        assert_eq!(c.get(DropReason::Inconsistent), 1);
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn overlapping_pieces_do_not_complete_a_shard() {
        // Two chunks of one column that both claim offset 0: all chunk indices arrive,
        // but the bytes do not tile the column.
        let shard = shard_with(vec![Column::new("A", 4, vec![1u8; 8]).expect("ok")]);
        let chunks = encode_shard(&shard, ChunkHeader::encoded_len("movement", "A") + 4)
            .expect("two chunks");
        assert_eq!(chunks.len(), 2);
        let mut second = chunks[1].to_vec();
        second[42..50].copy_from_slice(&0u64.to_le_bytes());
        let mut r = reassembler();
        assert!(r.push(&chunks[0]).is_none());
        assert!(r.push(&second).is_none());
        assert_eq!(r.counters().get(DropReason::Inconsistent), 1);
    }

    #[test]
    fn eviction_drops_old_partial_shards_and_their_late_chunks() {
        let chunks = encode_shard(&sample(), 200).expect("encodes");
        let mut r = reassembler();
        assert!(r.push(&chunks[0]).is_none());
        assert_eq!(r.evict_before(43), 1);
        assert!(r.push(&chunks[1]).is_none());
        assert_eq!(r.counters().get(DropReason::Stale), 2);
    }

    #[test]
    fn a_huge_claimed_column_is_refused_without_allocating_it() {
        let shard = shard_with(vec![Column::new("A", 4, vec![1u8; 8]).expect("ok")]);
        let mut chunk = encode_shard(&shard, 1000).expect("encodes")[0].to_vec();
        chunk[34..42].copy_from_slice(&(1u64 << 40).to_le_bytes());
        let mut r = reassembler();
        assert!(r.push(&chunk).is_none());
        assert_eq!(r.counters().get(DropReason::TooLarge), 1);
    }

    #[test]
    fn control_messages_round_trip_with_routing_headers() {
        let counters = DropCounters::new();
        let msg = TickStart {
            tick_id: 9,
            dt_seconds: 1.0 / 60.0,
        };
        let (h, body) = encode_control(&msg).expect("encodes");
        let routing = read_routing(Some(&h), MsgType::TickStart).expect("routing");
        assert_eq!(routing.tick, Some(9));
        let back: TickStart = decode_control(Some(&h), &body, &counters).expect("decodes");
        assert_eq!(back, msg);

        let reg = SystemRegister {
            system: sys("spin"),
            access: AccessDescriptor {
                reads: vec!["Velocity".into()],
                writes: vec!["Position".into()],
                deferred: Vec::new(),
                required: vec!["Active".into()],
                excluded: vec!["Frozen".into()],
            },
            instance_id: InstanceId(0xabc),
        };
        let (h, body) = encode_control(&reg).expect("encodes");
        assert_eq!(
            read_routing(Some(&h), MsgType::Register)
                .expect("ok")
                .instance,
            Some(InstanceId(0xabc))
        );
        // Decoded as the wrong type: counted, not a panic.
        assert_eq!(
            decode_control::<Heartbeat>(Some(&h), &body, &counters),
            Err(DropReason::WrongType)
        );
        assert_eq!(
            decode_control::<SystemRegister>(None, &body, &counters),
            Err(DropReason::MissingHeader)
        );
        let mut old = h.clone();
        old.insert(HEADER_VERSION, "0");
        assert_eq!(
            decode_control::<SystemRegister>(Some(&old), &body, &counters),
            Err(DropReason::WrongVersion)
        );
        assert!(
            decode_control::<SystemRegister>(Some(&h), &body[..body.len() / 2], &counters).is_err()
        );
        assert!(decode_control::<SystemRegister>(Some(&h), b"\xc1garbage", &counters).is_err());
        assert_eq!(counters.total(), 5);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_the_decoders(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let counters = Arc::new(DropCounters::new());
            let mut r = Reassembler::new(1 << 16, counters.clone());
            let _ = r.push(&bytes);
            let h = headers(MsgType::Register, Some(1), None);
            let _ = decode_control::<SystemRegister>(Some(&h), &bytes, &counters);
            let _ = decode_control::<TickStart>(Some(&h), &bytes, &counters);
        }

        #[test]
        fn valid_headers_with_arbitrary_fields_never_panic(
            fields in proptest::collection::vec(any::<u8>(), 44),
            tail in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            // A real magic and version, then arbitrary counts, sizes, offsets and names:
            // reaches the reassembler's bookkeeping, not only the magic check.
            let mut chunk = CHUNK_MAGIC.to_vec();
            chunk.extend_from_slice(&PROTOCOL_VERSION.to_le_bytes());
            chunk.extend_from_slice(&fields);
            chunk.push(4);
            chunk.extend_from_slice(b"spin");
            chunk.extend_from_slice(&(tail.len().min(3) as u16).to_le_bytes());
            chunk.extend_from_slice(&tail);
            let mut r = Reassembler::new(1 << 16, Arc::new(DropCounters::new()));
            let _ = r.push(&chunk);
            let _ = r.push(&chunk);
        }

        #[test]
        fn random_columns_round_trip_through_chunking(
            columns in proptest::collection::vec(
                (1u32..20, 0usize..60).prop_flat_map(|(size, rows)| {
                    (Just(size), proptest::collection::vec(any::<u8>(), size as usize * rows))
                }),
                0..5,
            ),
            max_payload in 0usize..3000,
            seed in any::<u64>(),
        ) {
            let shard = shard_with(
                columns
                    .into_iter()
                    .enumerate()
                    .map(|(i, (size, bytes))| Column::new(format!("C{i}"), size, bytes).expect("whole"))
                    .collect(),
            );
            match encode_shard(&shard, max_payload) {
                Err(EncodeError::BudgetTooSmall { .. }) => {
                    // Only when some column's header plus one element exceeds the budget.
                    let too_small = shard.columns.iter().any(|c| {
                        ChunkHeader::encoded_len("movement", &c.component) + c.element_size as usize > max_payload
                    });
                    prop_assert!(too_small);
                }
                Err(e) => prop_assert!(false, "unexpected error {e}"),
                Ok(mut chunks) => {
                    prop_assert!(chunks.iter().all(|c| c.len() <= max_payload));
                    // Shuffle deterministically from the seed.
                    let mut s = seed;
                    for i in (1..chunks.len()).rev() {
                        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        chunks.swap(i, (s >> 33) as usize % (i + 1));
                    }
                    let mut r = reassembler();
                    let mut done = Vec::new();
                    for c in &chunks {
                        done.extend(r.push(c));
                    }
                    prop_assert_eq!(r.counters().total(), 0);
                    if shard.columns.is_empty() {
                        prop_assert!(chunks.is_empty());
                        prop_assert!(done.is_empty());
                    } else {
                        prop_assert_eq!(done, vec![shard]);
                    }
                }
            }
        }
    }
}
