"""Samplers: propose points of the unit cube. Every one takes a `seed`; same seed, same trials."""

from zoomtune.samplers.base import SampleContext, Sampler
from zoomtune.samplers.coarse_to_fine import CoarseToFineSampler
from zoomtune.samplers.gp import GPSampler
from zoomtune.samplers.grid import GridSampler
from zoomtune.samplers.multi_fidelity import MultiFidelitySampler
from zoomtune.samplers.nsga2 import NSGA2Sampler
from zoomtune.samplers.random import RandomSampler
from zoomtune.samplers.sobol import SobolSampler
from zoomtune.samplers.tpe import TPESampler

__all__ = ["CoarseToFineSampler", "GPSampler", "GridSampler", "MultiFidelitySampler", "NSGA2Sampler",
           "RandomSampler", "SampleContext", "Sampler", "SobolSampler", "TPESampler"]
