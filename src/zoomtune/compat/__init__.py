"""Compatibility layers for people coming from other tuners: `zoomtune.compat.optuna` runs scripts
written against Optuna's API, `zoomtune.compat.optuna_import` copies Optuna's studies into a zoomtune
storage."""
