"""Evaluation: versioned datasets, answer and retrieval metrics, an LLM judge, runs over candidates, reports.

The metric libraries (rouge-score, sacrebleu, nltk, bert-score) are the `evaluation` extra and the evaluation
function's own requirements, never the layer's: `metrics` imports them when a metric is first computed.
"""
