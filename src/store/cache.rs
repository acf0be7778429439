//! The process-wide cache of decoded table data, shared by every connection of the process to
//! the same database file, and its memory budget.
//!
//! A table's cache ([`TableCache`]) holds a few recent [`Version`]s of its chunks, each valid
//! for exactly one (generation, epoch) pair read from the table's `_info` row. A connection
//! uses a version only when the pair read inside its own transaction matches, so a reader
//! whose snapshot is older keeps an older version (or reads pages), and a swapped file (other
//! epoch) is never mistaken for the cached one. Chunks are loaded into a version lazily, by the
//! first query that needs them, under that query's snapshot (which is the version's). Versions
//! share the chunks that did not change between them.
//!
//! Memory is counted by [`MemToken`]s (`super::mem`) against one limit for the process; when a
//! new entry would not fit, whole tables are evicted, least recently used first.

use super::changes::{ChangeSet, SPACE_ENTRY, SPACE_GRAPH, SPACE_IVF_CENTROIDS, SPACE_IVF_LIST};
use super::chunks::Chunk;
use crate::index::hnsw::graph::{FlatLayer, LEAF, Leaf, LeafParts, Node};
use crate::index::hnsw::level0::Level0;
use crate::index::ivf::kmeans::Centroids;
use crate::index::ivf::list::PostingList;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Versions kept per table (the newest, and older ones still wanted by readers whose snapshot
/// predates a commit).
const RETAIN: usize = 4;

pub use super::mem::{DEFAULT_CACHE_LIMIT, MemToken, cache_limit, cache_used};

/// Set the process-wide budget; 0 drops every shared version.
pub fn set_cache_limit(bytes: usize) {
    super::mem::set_limit(bytes);
    if bytes == 0 {
        clear_shared();
    } else {
        evict_until(0, None);
    }
}

/// Charge `n` bytes if they fit, evicting least recently used tables other than `keep`
/// first; None when they do not fit even so.
pub fn charge_evicting(n: usize, keep: Option<&CacheKey>) -> Option<MemToken> {
    if let Some(m) = charge_shedding(n) {
        return Some(m);
    }
    evict_until(n, keep);
    MemToken::try_charge_free(n)
}

/// Charge `n` bytes if they fit once superseded versions that no search holds any more are
/// dropped (of every table; a table's newest version is never touched), and then tables no
/// connection has open any more (least recently used first); None otherwise. After a
/// retraining, say, the versions before it hold lists and vectors nothing will read again;
/// a table closed by every connection holds data nothing may read again: either would
/// otherwise keep a table in use from caching anything.
pub fn charge_shedding(n: usize) -> Option<MemToken> {
    if let Some(m) = MemToken::try_charge_free(n) {
        return Some(m);
    }
    let tables: Vec<Arc<TableCache>> = lock(registry()).values().cloned().collect();
    for t in tables {
        t.shed();
        if let Some(m) = MemToken::try_charge_free(n) {
            return Some(m);
        }
    }
    // Only the registry holds a table no connection has open.
    let mut idle: Vec<Arc<TableCache>> =
        lock(registry()).values().filter(|t| Arc::strong_count(t) == 1 && t.version_count() > 0).cloned().collect();
    idle.sort_by_key(|t| t.last_used.load(Ordering::Relaxed));
    for t in idle {
        t.clear();
        if let Some(m) = MemToken::try_charge_free(n) {
            return Some(m);
        }
    }
    None
}

/// Which file a database is: its device and inode, when SQLite reads it through an operating
/// system VFS. Two paths to one file give the same id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

/// A shared table cache is found by the file and the table's name in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub file: FileId,
    /// Lower-cased (SQLite table names are case-insensitive).
    pub table: String,
}

/// How often a filter was planned on a version, and the rows it passes once they are kept.
pub type FilterUse = (u32, Option<Arc<crate::index::Masks>>);

/// One version of a table's chunks.
pub struct Version {
    pub generation: i64,
    pub epoch: i64,
    /// Ids of the chunks, ascending.
    pub ids: Vec<i64>,
    /// One slot per id, filled by the first query that reads the chunk. Consecutive versions
    /// share the slots of chunks that did not change.
    pub slots: Vec<Arc<OnceLock<Arc<Chunk>>>>,
    /// Rowids spread over the table, for estimating how many rows a filter passes.
    pub sample: OnceLock<Vec<i64>>,
    /// Rows in the table (the sum of its chunks' used slots), counted by the first search
    /// that needs it (a filtered one, for the share of rows that pass).
    pub rows: OnceLock<usize>,
    /// Estimated shares of rows that filters pass (by the filter's text and values).
    pub shares: Mutex<HashMap<String, f64>>,
    /// The rows that filters pass (by the filter's text and values), for filters used more
    /// than once on this version, with how often each filter was planned.
    pub filter_masks: Mutex<HashMap<String, FilterUse>>,
    /// Each vector column's graph (HNSW), made on first use.
    pub graphs: [OnceLock<Arc<GraphCache>>; 16],
    /// Each vector column's IVF centroids and lists, made on first use.
    pub ivf: [OnceLock<Arc<IvfCache>>; 16],
}

/// Something decoded with the memory it is charged for.
pub struct Charged<T> {
    pub value: Arc<T>,
    _mem: MemToken,
}

impl<T> Charged<T> {
    pub fn new(value: Arc<T>, mem: MemToken) -> Charged<T> {
        Charged { value, _mem: mem }
    }
}

/// One version of a column's IVF index: its lists' count, centroids and lists, each loaded by
/// the first search that needs it. Consecutive versions share the lists that did not change.
pub struct IvfCache {
    pub lists: usize,
    pub centroids: OnceLock<Arc<Charged<Centroids>>>,
    pub entries: Vec<Arc<OnceLock<Charged<PostingList>>>>,
}

impl IvfCache {
    pub fn new(lists: usize) -> IvfCache {
        IvfCache { lists, centroids: OnceLock::new(), entries: (0..lists).map(|_| Arc::new(OnceLock::new())).collect() }
    }

    /// The next version, when the centroids stayed: the lists in `changed` get new slots.
    pub fn derive(&self, changed: &[i64]) -> IvfCache {
        let centroids = OnceLock::new();
        if let Some(c) = self.centroids.get() {
            let _ = centroids.set(c.clone());
        }
        let entries = self
            .entries
            .iter()
            .enumerate()
            .map(
                |(i, e)| if changed.binary_search(&(i as i64)).is_ok() { Arc::new(OnceLock::new()) } else { e.clone() },
            )
            .collect();
        IvfCache { lists: self.lists, centroids, entries }
    }

    pub fn loaded_bytes(&self) -> usize {
        self.centroids.get().map_or(0, |c| c.value.mem_bytes())
            + self.entries.iter().filter_map(|e| e.get()).map(|e| e.value.mem_bytes()).sum::<usize>()
    }
}

/// A leaf of a graph with the memory it is charged for: what searches read (layer 0 flat, the
/// nodes with upper layers or groups whole), and every node whole once a writer or a caller of
/// [`Self::node`] asks for one of the others.
pub struct CachedLeaf {
    parts: LeafParts,
    full: OnceLock<(Leaf, MemToken)>,
    _mem: MemToken,
}

impl CachedLeaf {
    /// A leaf read from its rows.
    pub fn from_parts(parts: LeafParts) -> CachedLeaf {
        let mem = MemToken::charge(parts.mem_bytes());
        CachedLeaf { parts, full: OnceLock::new(), _mem: mem }
    }
    /// A leaf held whole (a committed transaction's copy).
    pub fn new(leaf: Leaf) -> CachedLeaf {
        let c = CachedLeaf::from_parts(LeafParts::of(&leaf));
        let mem = MemToken::charge(leaf.mem_bytes());
        let _ = c.full.set((leaf, mem));
        c
    }
    /// Layer 0 of the leaf's nodes in one array, for searches.
    #[inline]
    pub fn l0(&self) -> &FlatLayer {
        &self.parts.l0
    }
    /// Node `n` if it has upper layers or a group (the nodes a search asks for whole).
    #[inline]
    pub fn upper(&self, n: u32) -> Option<&Node> {
        self.parts.special(n)
    }
    /// Node `n`, whole.
    #[inline]
    pub fn node(&self, n: u32) -> Option<&Node> {
        match self.parts.special(n) {
            Some(node) => Some(node),
            None if self.parts.has(n) => self.leaf().get(n),
            None => None,
        }
    }
    /// Every node of the leaf, whole (made on first use).
    pub fn leaf(&self) -> &Leaf {
        &self
            .full
            .get_or_init(|| {
                let leaf = self.parts.to_leaf();
                let mem = MemToken::charge(leaf.mem_bytes());
                (leaf, mem)
            })
            .0
    }
    pub fn mem_bytes(&self) -> usize {
        self.parts.mem_bytes() + self.full.get().map_or(0, |(l, _)| l.mem_bytes())
    }
}

/// One version of a column's graph: its entry node and its leaves, each loaded by the first
/// search that reaches it. Consecutive versions share the leaves that did not change.
pub struct GraphCache {
    /// Slots per chunk (a node is a slot).
    pub capacity: usize,
    pub entry: OnceLock<Option<u32>>,
    pub leaves: Vec<Arc<OnceLock<Arc<CachedLeaf>>>>,
    /// Layer 0 and the codes in one array, made once this version has served enough searches
    /// with its leaves and codes in memory (see `vtab::view`).
    pub level0: OnceLock<Arc<Charged<Level0>>>,
    /// Searches of this version so far (when to try making `level0`).
    pub searches: AtomicU32,
    /// An earlier version's `level0`, for the nodes no commit since has changed, until this
    /// version has its own (made after hundreds of searches, which a version that each write
    /// replaces never serves).
    pub base: Option<Arc<Base0>>,
    /// Made from a version that had an array (its own or a base): when the base is dropped for
    /// having too many changed nodes, this version makes its own array at once.
    pub warm: bool,
}

/// A `Level0` of an earlier version and the nodes that may differ since (their chunk or their
/// graph record was written).
pub struct Base0 {
    pub l0: Arc<Charged<Level0>>,
    changed: Vec<u64>,
    count: usize,
}

impl Base0 {
    pub fn changed_count(&self) -> usize {
        self.count
    }
    /// Bit n set: node n may differ from the array.
    pub fn changed_bits(&self) -> &[u64] {
        &self.changed
    }
    fn mark(&mut self, n: u32) {
        let (w, b) = (n as usize / 64, 1u64 << (n % 64));
        if w >= self.changed.len() {
            if n as usize >= self.l0.value.nodes() {
                return; // beyond the array: never read from it
            }
            self.changed.resize(w + 1, 0);
        }
        if self.changed[w] & b == 0 {
            self.changed[w] |= b;
            self.count += 1;
        }
    }
}

/// A base stops serving once this share of its nodes changed: searches through it would take
/// the slow path too often; the version then makes its own array.
const BASE_CHANGED_MAX: f64 = 0.1;

impl GraphCache {
    /// An empty cache for a table whose chunks are `ids`.
    pub fn new(capacity: usize, ids: &[i64]) -> GraphCache {
        let n = Self::leaf_count(capacity, ids);
        GraphCache {
            capacity,
            entry: OnceLock::new(),
            leaves: (0..n).map(|_| Arc::new(OnceLock::new())).collect(),
            level0: OnceLock::new(),
            searches: AtomicU32::new(0),
            base: None,
            warm: false,
        }
    }

    /// Leaves enough for every node of chunks `ids`.
    pub fn leaf_count(capacity: usize, ids: &[i64]) -> usize {
        let max = ids.last().copied().unwrap_or(0).max(0) as usize;
        (max * capacity).div_ceil(LEAF as usize) + 1
    }

    /// The next version: leaves listed in `changed` (space `16 + col`) get new slots, the entry
    /// is read again when `entry_changed`.
    pub fn derive(&self, ids: &[i64], changed: &[i64], entry_changed: bool, nodes: &[u32]) -> GraphCache {
        let n = Self::leaf_count(self.capacity, ids);
        let base = match (self.level0.get(), &self.base) {
            (Some(l0), _) => Some(Base0 { l0: l0.clone(), changed: Vec::new(), count: 0 }),
            (None, Some(b)) => Some(Base0 { l0: b.l0.clone(), changed: b.changed.clone(), count: b.count }),
            (None, None) => None,
        };
        let warm = base.is_some();
        let base = base.and_then(|mut b| {
            nodes.iter().for_each(|&x| b.mark(x));
            ((b.count as f64) <= BASE_CHANGED_MAX * b.l0.value.nodes() as f64).then(|| Arc::new(b))
        });
        let leaves = (0..n)
            .map(|i| match (changed.binary_search(&(i as i64)), self.leaves.get(i)) {
                (Err(_), Some(l)) => l.clone(),
                _ => Arc::new(OnceLock::new()),
            })
            .collect();
        let entry = OnceLock::new();
        if !entry_changed && let Some(e) = self.entry.get() {
            let _ = entry.set(*e);
        }
        GraphCache {
            capacity: self.capacity,
            entry,
            leaves,
            level0: OnceLock::new(),
            searches: AtomicU32::new(0),
            base,
            warm,
        }
    }

    /// The array that holds node `n` as this version does: the version's own, or the base's
    /// when no commit since changed `n`.
    #[inline]
    pub fn array_for(&self, n: u32) -> Option<&Level0> {
        match (self.level0.get(), &self.base) {
            (Some(l0), _) => Some(&l0.value),
            (None, Some(b)) if crate::index::hnsw::patched::unchanged(&b.l0.value, &b.changed, n) => Some(&b.l0.value),
            _ => None,
        }
    }

    pub fn loaded_bytes(&self) -> usize {
        self.leaves.iter().filter_map(|l| l.get()).map(|l| l.mem_bytes()).sum::<usize>()
            + self.level0.get().map_or(0, |l| l.value.mem_bytes())
    }
}

impl Version {
    pub fn new(generation: i64, epoch: i64, ids: Vec<i64>) -> Version {
        let slots = ids.iter().map(|_| Arc::new(OnceLock::new())).collect();
        Version {
            generation,
            epoch,
            ids,
            slots,
            sample: OnceLock::new(),
            rows: OnceLock::new(),
            shares: Mutex::new(HashMap::new()),
            filter_masks: Mutex::new(HashMap::new()),
            graphs: Default::default(),
            ivf: Default::default(),
        }
    }

    /// The next version: `ids` are its chunks; chunks and graph leaves `changes` lists, and
    /// chunks not in `self`, get new, empty slots; the rest is shared with this version.
    pub fn derive(&self, generation: i64, epoch: i64, ids: Vec<i64>, changes: &ChangeSet) -> Version {
        if changes.all() {
            // A build or an index change rewrote everything (it does not list the graph
            // leaves it replaced): nothing of this version may be shared.
            return Version::new(generation, epoch, ids);
        }
        let changed = changes.chunks();
        let slots = ids
            .iter()
            .map(|id| match (changed.binary_search(id), self.ids.binary_search(id)) {
                (Err(_), Ok(i)) => self.slots[i].clone(),
                _ => Arc::new(OnceLock::new()),
            })
            .collect();
        let graphs: [OnceLock<Arc<GraphCache>>; 16] = Default::default();
        for (col, g) in self.graphs.iter().enumerate() {
            if let Some(g) = g.get() {
                let leaves = changes.keys_in(SPACE_GRAPH + col as u8);
                let entry = changes.contains(SPACE_ENTRY + col as u8, 0);
                // Nodes whose code or links may differ: every slot of a changed chunk, and the
                // graph nodes written (or whole blocks, for changes read from the log).
                let mut nodes = changes.graph_nodes(col, LEAF);
                let cap = g.capacity as u64;
                for &id in &changed {
                    let lo = (id.max(1) - 1) as u64 * cap;
                    nodes.extend((lo..lo + cap).filter_map(|x| u32::try_from(x).ok()));
                }
                let _ = graphs[col].set(Arc::new(g.derive(&ids, &leaves, entry, &nodes)));
            }
        }
        let ivf: [OnceLock<Arc<IvfCache>>; 16] = Default::default();
        for (col, c) in self.ivf.iter().enumerate() {
            if let Some(c) = c.get()
                && !changes.contains(SPACE_IVF_CENTROIDS + col as u8, 0)
            {
                let _ = ivf[col].set(Arc::new(c.derive(&changes.keys_in(SPACE_IVF_LIST + col as u8))));
            }
        }
        Version {
            generation,
            epoch,
            ids,
            slots,
            sample: OnceLock::new(),
            rows: OnceLock::new(),
            shares: Mutex::new(HashMap::new()),
            filter_masks: Mutex::new(HashMap::new()),
            graphs,
            ivf,
        }
    }

    #[inline]
    pub fn position(&self, id: i64) -> Option<usize> {
        // Chunk ids are usually 1, 2, 3, ...: then the position is id − 1.
        if id >= 1
            && let Some(&x) = self.ids.get(id as usize - 1)
            && x == id
        {
            return Some(id as usize - 1);
        }
        self.ids.binary_search(&id).ok()
    }

    /// Bytes held by the chunks loaded so far (shared chunks count once per version).
    pub fn loaded_bytes(&self) -> usize {
        self.slots.iter().filter_map(|s| s.get()).map(|c| c.mem_bytes()).sum::<usize>()
            + self.graphs.iter().filter_map(|g| g.get()).map(|g| g.loaded_bytes()).sum::<usize>()
            + self.ivf.iter().filter_map(|g| g.get()).map(|g| g.loaded_bytes()).sum::<usize>()
    }
    pub fn loaded_chunks(&self) -> usize {
        self.slots.iter().filter(|s| s.get().is_some()).count()
    }
}

/// Counters of one table cache, for `vindex_status`.
#[derive(Default)]
pub struct Counters {
    /// Queries answered from a version already in the cache.
    pub hits: AtomicU64,
    /// Versions made from the previous one and the change log.
    pub refreshes: AtomicU64,
    /// Versions made from scratch.
    pub reloads: AtomicU64,
    /// Versions published by a committing writer of this process.
    pub published: AtomicU64,
    /// A graph build under way in this process: nodes linked, and of how many (0 when none).
    pub build_done: AtomicU64,
    pub build_total: AtomicU64,
    /// The last graph build this process finished: "N nodes in S s on T threads".
    pub last_build: Mutex<Option<String>>,
    /// A long command under way in this process ('optimize', 'rebuild', 'import'): its name,
    /// and units of work done of how many (rows moved or imported, chunks recoded, graph nodes
    /// linked or repaired).
    pub task: Mutex<Option<String>>,
    pub task_done: AtomicU64,
    pub task_total: AtomicU64,
}

impl Counters {
    /// Report a command's progress from now until the guard is dropped. A command started
    /// inside another (the 'optimize' of a 'rebuild') reports as part of the outer one: its
    /// guard changes nothing.
    pub fn start_task(&self, name: &str, total: u64) -> TaskGuard<'_> {
        let mut t = lock(&self.task);
        if t.is_some() {
            return TaskGuard { c: self, owner: false };
        }
        *t = Some(name.to_string());
        self.task_done.store(0, Ordering::Relaxed);
        self.task_total.store(total, Ordering::Relaxed);
        TaskGuard { c: self, owner: true }
    }

    /// The running command and its progress (0 to 1), if any.
    pub fn task_progress(&self) -> Option<(String, f64)> {
        let name = lock(&self.task).clone()?;
        let total = self.task_total.load(Ordering::Relaxed);
        let done = self.task_done.load(Ordering::Relaxed).min(total);
        Some((name, if total == 0 { 0.0 } else { done as f64 / total as f64 }))
    }
}

/// Progress of a running command (see [`Counters::start_task`]); clears it when dropped.
pub struct TaskGuard<'a> {
    c: &'a Counters,
    owner: bool,
}

impl TaskGuard<'_> {
    /// `n` more units done.
    pub fn step(&self, n: u64) {
        self.c.task_done.fetch_add(n, Ordering::Relaxed);
    }
}

impl Drop for TaskGuard<'_> {
    fn drop(&mut self) {
        if self.owner {
            *lock(&self.c.task) = None;
            self.c.task_done.store(0, Ordering::Relaxed);
            self.c.task_total.store(0, Ordering::Relaxed);
        }
    }
}

/// The cached versions of one table.
pub struct TableCache {
    /// None for a private cache (`:memory:`, temporary databases, other VFSes).
    pub key: Option<CacheKey>,
    versions: Mutex<Vec<Arc<Version>>>,
    last_used: AtomicU64,
    pub counters: Counters,
}

static CLOCK: AtomicU64 = AtomicU64::new(0);

fn registry() -> &'static Mutex<HashMap<CacheKey, Arc<TableCache>>> {
    static R: OnceLock<Mutex<HashMap<CacheKey, Arc<TableCache>>>> = OnceLock::new();
    R.get_or_init(|| Mutex::new(HashMap::new()))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves data that is still consistent (we only push/pop
    // whole Arcs), so a poisoned lock is used as is.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl TableCache {
    /// The shared cache of `key` (created on first use), or a new private one.
    pub fn open(key: Option<CacheKey>) -> Arc<TableCache> {
        let make = |key: Option<CacheKey>| {
            Arc::new(TableCache {
                key,
                versions: Mutex::new(Vec::new()),
                last_used: AtomicU64::new(0),
                counters: Counters::default(),
            })
        };
        match key {
            None => make(None),
            Some(k) => lock(registry()).entry(k.clone()).or_insert_with(|| make(Some(k))).clone(),
        }
    }

    pub fn is_shared(&self) -> bool {
        self.key.is_some()
    }

    fn touch(&self) {
        self.last_used.store(CLOCK.fetch_add(1, Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// The version for (generation, epoch), if cached.
    pub fn find(&self, generation: i64, epoch: i64) -> Option<Arc<Version>> {
        self.touch();
        lock(&self.versions).iter().rev().find(|v| v.generation == generation && v.epoch == epoch).cloned()
    }

    /// The newest cached version.
    pub fn newest(&self) -> Option<Arc<Version>> {
        lock(&self.versions).last().cloned()
    }

    /// Keep `v` (dropping the oldest beyond `RETAIN`). Returns the version to use: `v`, or
    /// an equal one another connection inserted first.
    pub fn insert(&self, v: Arc<Version>) -> Arc<Version> {
        if cache_limit() == 0 {
            return v;
        }
        self.touch();
        let mut vs = lock(&self.versions);
        if let Some(same) = vs.iter().find(|x| x.generation == v.generation && x.epoch == v.epoch) {
            return same.clone();
        }
        // Another epoch at the same generation is a fork (a restored or replaced file): this
        // version replaces it.
        vs.retain(|x| x.generation != v.generation);
        vs.push(v.clone());
        vs.sort_by_key(|x| x.generation);
        let excess = vs.len().saturating_sub(RETAIN);
        vs.drain(..excess);
        v
    }

    /// Drop the versions older than the newest that no search holds (a reader whose snapshot
    /// needs one again rebuilds it from the pages).
    pub fn shed(&self) {
        let old: Vec<Arc<Version>> = {
            let mut vs = lock(&self.versions);
            let Some(newest) = vs.last().map(|v| v.generation) else { return };
            let (keep, old): (Vec<_>, Vec<_>) =
                vs.drain(..).partition(|v| v.generation == newest || Arc::strong_count(v) > 1);
            *vs = keep;
            old
        };
        // Dropped outside the lock.
        drop(old);
    }

    /// Forget every version (the table was dropped, renamed or rebuilt by this process).
    pub fn clear(&self) {
        lock(&self.versions).clear();
    }

    pub fn version_count(&self) -> usize {
        lock(&self.versions).len()
    }
}

impl Chunk {
    /// Bytes this chunk holds (maps and loaded column data).
    pub fn mem_bytes(&self) -> usize {
        self.maps.bytes()
            + self.cols.iter().filter_map(|c| c.get()).flatten().map(|c| c.data.mem_bytes()).sum::<usize>()
            + self.raw.iter().filter_map(|c| c.get()).map(|c| c.data.mem_bytes()).sum::<usize>()
    }
}

/// Remove `key`'s shared cache from the registry (DROP TABLE, RENAME).
pub fn forget(key: &CacheKey) {
    if let Some(t) = lock(registry()).remove(key) {
        t.clear();
    }
}

/// Drop every shared version (`vindex_cache_limit(0)`).
fn clear_shared() {
    let all: Vec<Arc<TableCache>> = lock(registry()).values().cloned().collect();
    for t in all {
        t.clear();
    }
}

/// Evict whole tables, least recently used first (never `keep`), until `need` more bytes fit or
/// nothing is left to evict. Memory returns once no query holds the evicted versions.
fn evict_until(need: usize, keep: Option<&CacheKey>) {
    let limit = cache_limit();
    let mut tables: Vec<Arc<TableCache>> =
        lock(registry()).values().filter(|t| t.key.as_ref() != keep && t.version_count() > 0).cloned().collect();
    tables.sort_by_key(|t| t.last_used.load(Ordering::Relaxed));
    for t in tables {
        if cache_used() + need <= limit {
            break;
        }
        t.clear();
    }
}
