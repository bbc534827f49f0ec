//! The component graph: one node per engine component, directed edges for
//! "feeds / puts pressure on". Global nodes come first, then five nodes per column family in
//! the engine's column-family order, so node `i` means the same thing for every tick until the
//! column-family list changes; the healer then rebuilds the graph.
//!
//! Edges (src → dst):
//! - write path → WAL, write path → memtable(cf)
//! - memtable(cf) → flush(cf) → L0(cf) → compaction(cf) → levels(cf), levels(cf) → compaction(cf)
//! - WAL → flush(cf) (`max_total_wal_size` forces flushes)
//! - memtable(cf), L0(cf), compaction(cf) (pending bytes) → stall controller → write path
//! - read path → block cache, read path → memtable(cf), block cache → L0(cf), block cache → levels(cf)
//! - background threads → flush(cf), background threads → compaction(cf)
//!
//! The graph is an input of the learned models (their size follows the number of column
//! families), exported as COO edge lists or a dense adjacency matrix.

use serde::{Deserialize, Serialize};

/// What a node stands for.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// Foreground writes (global).
    WritePath,
    /// The write-ahead log (global).
    Wal,
    /// RocksDB's write-stall controller (global).
    StallController,
    /// The shared block cache (global).
    BlockCache,
    /// Foreground reads (global).
    ReadPath,
    /// Flush and compaction thread pools (global).
    BackgroundThreads,
    /// Memtables of one column family.
    Memtable,
    /// Flushes of one column family.
    Flush,
    /// L0 of one column family.
    L0,
    /// Compactions (and pending compaction debt) of one column family.
    Compaction,
    /// Levels L1..Ln of one column family.
    Levels,
}

impl NodeKind {
    /// Every kind, in one-hot order.
    pub const ALL: [NodeKind; 11] = [
        NodeKind::WritePath,
        NodeKind::Wal,
        NodeKind::StallController,
        NodeKind::BlockCache,
        NodeKind::ReadPath,
        NodeKind::BackgroundThreads,
        NodeKind::Memtable,
        NodeKind::Flush,
        NodeKind::L0,
        NodeKind::Compaction,
        NodeKind::Levels,
    ];
    /// Number of kinds.
    pub const COUNT: usize = Self::ALL.len();
    /// Global kinds, in node order.
    pub const GLOBAL: [NodeKind; 6] = [
        NodeKind::WritePath,
        NodeKind::Wal,
        NodeKind::StallController,
        NodeKind::BlockCache,
        NodeKind::ReadPath,
        NodeKind::BackgroundThreads,
    ];
    /// Per-column-family kinds, in node order.
    pub const PER_CF: [NodeKind; 5] = [
        NodeKind::Memtable,
        NodeKind::Flush,
        NodeKind::L0,
        NodeKind::Compaction,
        NodeKind::Levels,
    ];

    /// Dense index (one-hot position).
    pub fn index(self) -> usize {
        self as usize
    }

    /// Snake-case name.
    pub fn name(self) -> &'static str {
        match self {
            NodeKind::WritePath => "write_path",
            NodeKind::Wal => "wal",
            NodeKind::StallController => "stall_controller",
            NodeKind::BlockCache => "block_cache",
            NodeKind::ReadPath => "read_path",
            NodeKind::BackgroundThreads => "background_threads",
            NodeKind::Memtable => "memtable",
            NodeKind::Flush => "flush",
            NodeKind::L0 => "l0",
            NodeKind::Compaction => "compaction",
            NodeKind::Levels => "levels",
        }
    }

    /// Whether one node of this kind exists per column family.
    pub fn is_per_cf(self) -> bool {
        self.index() >= NodeKind::GLOBAL.len()
    }
}

/// One node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// What it stands for.
    pub kind: NodeKind,
    /// Index of its column family in [`ComponentGraph::cfs`], for per-CF kinds.
    pub cf: Option<usize>,
}

/// The graph of one column-family list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentGraph {
    cfs: Vec<String>,
    nodes: Vec<Node>,
    edges: Vec<(u32, u32)>,
}

impl ComponentGraph {
    /// The graph of an engine with column families `cfs` (in the engine's order).
    pub fn new(cfs: &[String]) -> ComponentGraph {
        let mut nodes: Vec<Node> = NodeKind::GLOBAL
            .iter()
            .map(|&kind| Node { kind, cf: None })
            .collect();
        for cf in 0..cfs.len() {
            nodes.extend(
                NodeKind::PER_CF
                    .iter()
                    .map(|&kind| Node { kind, cf: Some(cf) }),
            );
        }
        let global = |kind: NodeKind| kind.index() as u32;
        let local = |kind: NodeKind, cf: usize| {
            (NodeKind::GLOBAL.len() + cf * NodeKind::PER_CF.len() + kind.index()
                - NodeKind::GLOBAL.len()) as u32
        };
        let mut edges = vec![
            (global(NodeKind::WritePath), global(NodeKind::Wal)),
            (
                global(NodeKind::StallController),
                global(NodeKind::WritePath),
            ),
            (global(NodeKind::ReadPath), global(NodeKind::BlockCache)),
        ];
        for cf in 0..cfs.len() {
            let memtable = local(NodeKind::Memtable, cf);
            let flush = local(NodeKind::Flush, cf);
            let l0 = local(NodeKind::L0, cf);
            let compaction = local(NodeKind::Compaction, cf);
            let levels = local(NodeKind::Levels, cf);
            edges.extend([
                (global(NodeKind::WritePath), memtable),
                (memtable, flush),
                (flush, l0),
                (l0, compaction),
                (compaction, levels),
                (levels, compaction),
                (global(NodeKind::Wal), flush),
                (memtable, global(NodeKind::StallController)),
                (l0, global(NodeKind::StallController)),
                (compaction, global(NodeKind::StallController)),
                (global(NodeKind::ReadPath), memtable),
                (global(NodeKind::BlockCache), l0),
                (global(NodeKind::BlockCache), levels),
                (global(NodeKind::BackgroundThreads), flush),
                (global(NodeKind::BackgroundThreads), compaction),
            ]);
        }
        ComponentGraph {
            cfs: cfs.to_vec(),
            nodes,
            edges,
        }
    }

    /// Whether this graph was built for exactly `cfs`.
    pub fn matches(&self, cfs: &[String]) -> bool {
        self.cfs == cfs
    }

    /// Column families, in node order.
    pub fn cfs(&self) -> &[String] {
        &self.cfs
    }

    /// Nodes.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Directed edges `(src, dst)` as node indices.
    pub fn edges(&self) -> &[(u32, u32)] {
        &self.edges
    }

    /// Number of nodes (`6 + 5 × column families`).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Number of directed edges.
    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// Index of the global node of `kind` (`None` for per-CF kinds).
    pub fn global_node(&self, kind: NodeKind) -> Option<usize> {
        (!kind.is_per_cf()).then(|| kind.index())
    }

    /// Index of the node of `kind` for the column family at position `cf`.
    pub fn cf_node(&self, kind: NodeKind, cf: usize) -> Option<usize> {
        (kind.is_per_cf() && cf < self.cfs.len()).then(|| {
            NodeKind::GLOBAL.len() + cf * NodeKind::PER_CF.len() + kind.index()
                - NodeKind::GLOBAL.len()
        })
    }

    /// Display label of node `index` (`l0[users]`, `wal`).
    pub fn label(&self, index: usize) -> Option<String> {
        let node = self.nodes.get(index)?;
        Some(match node.cf {
            Some(cf) => format!("{}[{}]", node.kind.name(), self.cfs[cf]),
            None => node.kind.name().to_owned(),
        })
    }

    /// Edges in COO form `[sources, targets]`, as ONNX graph-network inputs expect
    /// (`int64[2, E]`, row-major).
    pub fn edge_index(&self) -> Vec<i64> {
        let mut coo = Vec::with_capacity(2 * self.edges.len());
        coo.extend(self.edges.iter().map(|&(src, _)| i64::from(src)));
        coo.extend(self.edges.iter().map(|&(_, dst)| i64::from(dst)));
        coo
    }

    /// Dense adjacency matrix, row-major `n × n`, `a[src][dst] = 1`.
    pub fn adjacency(&self) -> Vec<f32> {
        let n = self.nodes.len();
        let mut matrix = vec![0.0; n * n];
        for &(src, dst) in &self.edges {
            matrix[src as usize * n + dst as usize] = 1.0;
        }
        matrix
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("cf{i}")).collect()
    }

    #[test]
    fn graph_grows_with_column_families() {
        let one = ComponentGraph::new(&names(1));
        let four = ComponentGraph::new(&names(4));
        assert_eq!(one.node_count(), 6 + 5);
        assert_eq!(four.node_count(), 6 + 20);
        assert_eq!(four.edge_count(), 3 + 4 * 15);
        assert!(four.matches(&names(4)));
        assert!(!four.matches(&names(3)));
        for &(src, dst) in four.edges() {
            assert!((src as usize) < four.node_count() && (dst as usize) < four.node_count());
        }
        let coo = four.edge_index();
        assert_eq!(coo.len(), 2 * four.edge_count());
        let adjacency = four.adjacency();
        assert_eq!(adjacency.len(), 26 * 26);
        assert_eq!(
            adjacency.iter().filter(|&&a| a == 1.0).count(),
            four.edge_count()
        );
    }

    #[test]
    fn dependency_chain_is_wired_per_column_family() {
        let graph = ComponentGraph::new(&names(2));
        let node = |kind, cf| graph.cf_node(kind, cf).expect("node");
        let has = |src: usize, dst: usize| graph.edges().contains(&(src as u32, dst as u32));
        for cf in 0..2 {
            assert!(has(node(NodeKind::Memtable, cf), node(NodeKind::Flush, cf)));
            assert!(has(node(NodeKind::Flush, cf), node(NodeKind::L0, cf)));
            assert!(has(node(NodeKind::L0, cf), node(NodeKind::Compaction, cf)));
            assert!(has(
                node(NodeKind::Compaction, cf),
                node(NodeKind::Levels, cf)
            ));
            assert!(has(
                node(NodeKind::L0, cf),
                NodeKind::StallController.index()
            ));
        }
        assert!(has(
            NodeKind::StallController.index(),
            NodeKind::WritePath.index()
        ));
        assert!(!has(node(NodeKind::L0, 0), node(NodeKind::Compaction, 1)));
        assert_eq!(
            graph.label(node(NodeKind::L0, 1)).as_deref(),
            Some("l0[cf1]")
        );
        assert_eq!(graph.label(0).as_deref(), Some("write_path"));
        assert_eq!(graph.cf_node(NodeKind::Wal, 0), None);
        assert_eq!(graph.cf_node(NodeKind::L0, 2), None);
    }
}
