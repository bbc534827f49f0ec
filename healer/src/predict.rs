//! Prediction: the cascade GNN. From the last `T` ticks of node features,
//! the detector's node scores and the component graph's adjacency, `cascade_gnn.onnx` gives
//! each node the probability that it fails (write stall, latency blow-up, cache collapse —
//! the `node_state` definition of the traces) within 1 s and within 5 s.
//!
//! The model takes the graph as an input (`adj: [N, N]`, `adj[i][j] = 1` for an edge
//! `i → j`, no self loops), so one model serves any number of column families. The adjacency
//! is rebuilt only when the graph changes. Nothing here acts or blocks.

use serde::{Deserialize, Serialize};

use crate::detect::FeatureHistory;
use crate::features::FEATURE_DIM;
use crate::graph::ComponentGraph;
use crate::model::{Model, ModelError};

/// Horizons of the two risk columns, in seconds.
pub const RISK_HORIZONS_S: [f32; 2] = [1.0, 5.0];

/// One node's predicted risk, for the audit log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeRisk {
    /// Node label (`l0[users]`, `stall_controller`).
    pub node: String,
    /// P(fails within 1 s).
    pub within_1s: f32,
    /// P(fails within 5 s).
    pub within_5s: f32,
}

/// The cascade predictor (see the module docs).
#[derive(Debug)]
pub struct CascadePredictor {
    model: Model,
    window_ticks: usize,
    graph: Option<ComponentGraph>,
    adjacency: Vec<f32>,
    x: Vec<f32>,
}

impl CascadePredictor {
    /// A predictor over the `cascade_gnn` session, with history length `window_ticks` (`T`).
    pub fn new(model: Model, window_ticks: usize) -> CascadePredictor {
        CascadePredictor {
            model,
            window_ticks,
            graph: None,
            adjacency: Vec::new(),
            x: Vec::new(),
        }
    }

    /// History length `T`.
    pub fn window_ticks(&self) -> usize {
        self.window_ticks
    }

    /// Runs the model on explicit inputs: `x` `[nodes, T, 19]`, `node_scores` `[nodes]`,
    /// `adjacency` `[nodes, nodes]`; returns `risk` `[nodes, 2]` row-major.
    pub fn run(
        &mut self,
        x: &[f32],
        nodes: usize,
        node_scores: &[f32],
        adjacency: &[f32],
    ) -> Result<Vec<f32>, ModelError> {
        let n = nodes as i64;
        let x_shape = [n, self.window_ticks as i64, FEATURE_DIM as i64];
        let mut outputs = self.model.run(&[
            ("x", &x_shape, x),
            ("node_score", &[n], node_scores),
            ("adj", &[n, n], adjacency),
        ])?;
        let risk = outputs.pop().ok_or_else(|| ModelError::Ort {
            model: self.model.spec().name.clone(),
            message: "no risk output".into(),
        })?;
        if risk.data.len() != nodes * 2 {
            return Err(ModelError::Mismatch {
                model: self.model.spec().name.clone(),
                what: "risk size".into(),
                expected: format!("[{nodes}, 2]"),
                found: format!("{:?}", risk.shape),
            });
        }
        if risk.data.iter().any(|v| !v.is_finite()) {
            return Err(ModelError::Ort {
                model: self.model.spec().name.clone(),
                message: "non-finite risk".into(),
            });
        }
        Ok(risk.data)
    }

    /// Risk `[N, 2]` for the newest tick of `history` on `graph`, `None` until `T` ticks are
    /// held.
    pub fn predict(
        &mut self,
        history: &FeatureHistory,
        graph: &ComponentGraph,
        node_scores: &[f32],
    ) -> Result<Option<Vec<f32>>, ModelError> {
        let nodes = graph.node_count();
        if history.node_count() != nodes || node_scores.len() != nodes {
            return Ok(None);
        }
        let mut x = std::mem::take(&mut self.x);
        if !history.window(self.window_ticks, &mut x) {
            self.x = x;
            return Ok(None);
        }
        if self.graph.as_ref() != Some(graph) {
            self.adjacency = graph.adjacency();
            self.graph = Some(graph.clone());
        }
        let adjacency = std::mem::take(&mut self.adjacency);
        let result = self.run(&x, nodes, node_scores, &adjacency);
        self.adjacency = adjacency;
        self.x = x;
        result.map(Some)
    }
}

/// The `count` riskiest nodes of `risk` (`[N, 2]`), by the larger of the two horizons'
/// probabilities, highest first.
pub fn top_risks(graph: &ComponentGraph, risk: &[f32], count: usize) -> Vec<NodeRisk> {
    let mut order: Vec<usize> = (0..risk.len() / 2).collect();
    let key = |i: usize| risk[2 * i].max(risk[2 * i + 1]);
    order.sort_by(|&a, &b| key(b).total_cmp(&key(a)).then(a.cmp(&b)));
    order
        .into_iter()
        .take(count)
        .map(|i| NodeRisk {
            node: graph.label(i).unwrap_or_else(|| format!("node {i}")),
            within_1s: risk[2 * i],
            within_5s: risk[2 * i + 1],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_risks_are_sorted_and_labelled() {
        let graph = ComponentGraph::new(&["users".to_owned()]);
        let mut risk = vec![0.0; graph.node_count() * 2];
        let l0 = graph.cf_node(crate::graph::NodeKind::L0, 0).expect("l0");
        risk[2 * l0] = 0.2;
        risk[2 * l0 + 1] = 0.9;
        risk[2 * 2] = 0.5; // stall controller, 1 s
        let top = top_risks(&graph, &risk, 2);
        assert_eq!(top.len(), 2);
        assert_eq!(top[0].node, "l0[users]");
        assert_eq!(top[0].within_5s, 0.9);
        assert_eq!(top[1].node, "stall_controller");
    }
}
