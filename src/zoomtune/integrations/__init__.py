"""Adapters that drop zoomtune into the training code people already have: PyTorch Lightning, Keras 3,
Hugging Face Transformers, scikit-learn, XGBoost, LightGBM and MLflow.

Each submodule is an optional extra (``pip install "zoomtune[lightning]"`` and so on) and imports its
library itself: ``import zoomtune`` imports none of them. They use zoomtune's public API only; what
every framework callback shares (report a metric, apply nudges live, stop cleanly) is in `reporting`.
"""
