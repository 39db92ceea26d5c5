"""The AI worker's runner: ai-runner's HTTP API (FastAPI) over real diffusers pipelines or
declared mocks. See app.py (create_app, main), routes.py, mock.py, diffusion.py, tiny_models.py.

Importing this package does not import torch or diffusers; only mode "real" does.
"""
from .app import create_app, main
from .model_dirs import default_models_dir, find_model_dir
from .pipelines import BATCH_PIPELINES, REAL_PIPELINES, Pipeline, load_pipeline

__all__ = [
    "BATCH_PIPELINES",
    "REAL_PIPELINES",
    "Pipeline",
    "create_app",
    "default_models_dir",
    "find_model_dir",
    "load_pipeline",
    "main",
]
