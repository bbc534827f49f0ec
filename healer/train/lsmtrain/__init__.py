"""lsmedic healer training pipeline (helper-train): trace loading, the three learned models
(MAML detector, cascade GNN, multi-objective policy), ONNX export, golden vectors and the
evaluation that goes into healer/train/REPORT.md.

Every model is trained with JAX on CPU and exported by building the ONNX graph by hand with
`onnx.helper` from the trained weights; `lsmtrain.onnxgraph` keeps a numpy mirror of every
graph so the exported file is checked against the training-time function.
"""
